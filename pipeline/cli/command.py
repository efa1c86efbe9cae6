"""What every command-line entry point shares: parsing, Ctrl-C, one-line errors and exit codes.

`run_command(argv, run)` parses the arguments, sets up logging and the interrupt handling,
calls `run(args, argv, log)` and turns whatever ends it into an exit code
(`common.errors`): errors are one line on stderr, a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable

from common.errors import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, exit_code_for, one_line
from pipeline.errors import UsageError

__all__ = ["INTERRUPTED_MESSAGE", "run_command"]

INTERRUPTED_MESSAGE = "error: interrupted"

Log = Callable[[str], None]


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_on_interrupt():
    # Python's own handler: Ctrl-C raises KeyboardInterrupt, caught by `run_command`.
    return signal.signal(signal.SIGINT, signal.default_int_handler) if _in_main_thread() else None


# The C extensions a run loads. Ctrl-C while one of them initialises can abort the process
# (SIGABRT from inside C++) instead of raising KeyboardInterrupt, so `run_command` imports them
# first with the interrupt held back, and raises it once they are loaded.
_NATIVE_MODULES = ("numpy", "torch", "torchvision", "cv2", "PIL.Image", "skimage", "dlib")


def _import_native_modules_holding_interrupts() -> None:
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum)) if _in_main_thread() else None
    try:
        for name in _NATIVE_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:  # reported in words where the module is used
                pass
    finally:
        _restore_interrupt_handler(previous)
    if pending:
        raise KeyboardInterrupt


def _ignore_interrupts() -> None:
    if _in_main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _restore_interrupt_handler(handler) -> None:
    if handler is not None and _in_main_thread():
        signal.signal(signal.SIGINT, handler)


def _parse_and_run(argv: list[str], run: Callable[[argparse.Namespace, list[str], Log], int]) -> int:
    from pipeline.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    if args.list_checkpoints:
        from hub.registry import describe_registry

        print(describe_registry())
        return EXIT_OK
    quiet = args.quiet

    def log(message: str) -> None:
        if not quiet or message.startswith(("warning:", "error:")):
            print(message, file=sys.stderr, flush=True)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        log(f"warning: {message}")

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        return run(args, argv, log)


def run_command(argv: list[str], run: Callable[[argparse.Namespace, list[str], Log], int]) -> int:
    """Parse `argv` and run a command; returns the exit code (never raises, except SystemExit from --help).

    Args:
        argv: the arguments, without the program name.
        run: `run(args, argv, log)` -> exit code; `log` prints a status line on stderr
            (only warnings and errors with --quiet).

    Returns:
        0, or the code of what ended the run (`common.errors.exit_code_for`).
    """
    debug = "--debug" in argv
    previous_handler = None
    try:
        previous_handler = _raise_on_interrupt()
        _import_native_modules_holding_interrupts()
        return _parse_and_run(argv, run)
    except UsageError as exc:
        print(f"error: {exc} (see --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _ignore_interrupts()  # a second Ctrl-C must not turn the message into a traceback
        print(INTERRUPTED_MESSAGE, file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the command line's single exit point
        if debug:
            traceback.print_exc()
        code = exit_code_for(exc)
        hint = " (run again with --debug for the traceback)" if code == EXIT_ERROR and not debug else ""
        print(f"error: {one_line(exc)}{hint}", file=sys.stderr)
        return code
    finally:
        _restore_interrupt_handler(previous_handler)
