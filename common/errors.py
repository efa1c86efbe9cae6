"""The one exception hierarchy shared by every package of the project.

Every error the project raises on purpose derives from `DragPipelineError`, so a
caller (the CLI above all) can tell "bad input, with a message that says what to
fix" from a programming error. Each class carries the process exit code the command
lines use for it (`exit_code`), so the code follows from the class alone:

    2  bad input (the default): a file, an option or a value the user gave
    3  weights that must be downloaded are missing and cannot be fetched (offline)

Anything that is not a `DragPipelineError` is a bug or an environment failure (exit 1);
an interrupt is 130 (128 + SIGINT, the shell convention). A batch run whose every job line
was valid but some jobs failed exits with 4 (the others' results are written).

Every exit code of every command line is defined here.
"""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_WEIGHTS = 3
EXIT_JOBS_FAILED = 4  # batch mode: some jobs failed, the others' results are written
EXIT_INTERRUPTED = 130  # 128 + SIGINT (2), as shells report a process killed by Ctrl-C


class DragPipelineError(Exception):
    """Base class of every error the project raises on purpose.

    The message names the problem and the fix, on one line.

    Attributes:
        exit_code: the process exit status a command line returns for this error.
    """

    exit_code: int = EXIT_BAD_INPUT


class CheckpointError(DragPipelineError):
    """A checkpoint file is missing, unreadable, unsafe, corrupt or of an unknown format."""


class MissingWeightsError(DragPipelineError):
    """Weights that must be downloaded are absent and cannot be fetched (e.g. offline)."""

    exit_code = EXIT_MISSING_WEIGHTS


class DeviceError(DragPipelineError, ValueError):
    """The requested compute device is unknown or not available on this machine."""


class ImageFileError(DragPipelineError, ValueError):
    """An image file is missing, unreadable, not an image, of an unsupported mode, or too large."""


def exit_code_for(exc: BaseException) -> int:
    """The exit status for an exception that ends a command line.

    Args:
        exc: the exception.

    Returns:
        `exc.exit_code` for a `DragPipelineError`, 130 for KeyboardInterrupt, 1 otherwise.
    """
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, DragPipelineError):
        return int(exc.exit_code)
    return EXIT_ERROR


def one_line(exc: BaseException, first_line_only: bool = False, max_chars: int | None = None) -> str:
    """An exception's message on one line, for an error line on stderr or inside another message.

    Args:
        exc: the exception.
        first_line_only: keep only the message's first line (a library's multi-line message,
            whose later lines are detail); otherwise every line, whitespace collapsed.
        max_chars: cut the text to this many characters (None = no limit).

    Returns:
        The message, or the exception's class name when the message is empty.
    """
    text = str(exc).strip()
    if first_line_only:
        lines = text.splitlines()
        text = lines[0] if lines else ""
    else:
        text = " ".join(text.split())
    text = text or type(exc).__name__
    return text if max_chars is None else text[:max_chars]
