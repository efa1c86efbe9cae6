"""Command line: edit a real photo end to end.

    python run_pipeline.py --image photo.jpg --points pts.json

    python run_pipeline.py --batch jobs.jsonl --out DIR    # many photos, resumable

Exit codes: 0 success, 2 bad input, 3 missing weights offline, 4 some batch jobs failed,
1 anything else (130 when interrupted). Errors are one line on stderr (a traceback only with --debug);
a failed run leaves no output folder behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import shlex
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

from common.errors import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_MISSING_WEIGHTS,
    EXIT_OK,
    exit_code_for,
)

__all__ = [
    "main",
    "build_parser",
    "config_from_args",
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_BAD_INPUT",
    "EXIT_MISSING_WEIGHTS",
    "EXIT_JOBS_FAILED",
    "EXIT_INTERRUPTED",
    "exit_code_for",
]

# Batch mode: every job line was valid but some jobs failed (the others' results are written).
EXIT_JOBS_FAILED = 4


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `main` can return the exit code."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(message)


class UsageError(Exception):
    pass


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--box must be x0,y0,x1,y1 (numbers), got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--box must be 4 numbers x0,y0,x1,y1, got {text!r}")
    return values  # type: ignore[return-value]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _face_index(text: str) -> int | str:
    return "all" if text.strip().lower() == "all" else _positive_int(text)


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    batch = p.add_argument_group('batch (see README, "Batch editing")')
    batch.add_argument(
        "--batch",
        metavar="JOBS.jsonl",
        help="edit many photos: one JSON job a line (the other options are every job's defaults); "
        "needs --out; results in OUT/<id>/ and OUT/results.jsonl",
    )
    batch.add_argument("--retry-failed", action="store_true", help="batch: run the failed jobs again")
    batch.add_argument(
        "--strict",
        action="store_true",
        help="batch: stop before any work when a line of the jobs file is bad (default: skip it)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the README's option list)."""
    from align import FACE_PRESETS
    from draggan import DragConfig
    from hub.registry import DEFAULT_CHECKPOINT
    from inversion import InversionConfig

    inv_defaults, drag_defaults = InversionConfig(), DragConfig()
    p = _Parser(
        prog="run_pipeline.py",
        description="Edit a real photo with DragGAN: align -> invert -> drag -> paste back.",
        epilog="Exit codes: 0 ok, 2 bad input, 3 missing weights (offline), 4 some batch jobs failed, 1 other errors.",
    )
    io = p.add_argument_group("inputs and outputs")
    io.add_argument("--image", help="the photo to edit (JPEG, PNG, ...)")
    io.add_argument(
        "--points",
        help='JSON with points in photo pixels: {"handles": [[x, y], ...], '
        '"targets": [[x, y], ...]} or [{"handle": [x, y], "target": [x, y]}, ...]; '
        'optional "mask": PNG the size of the photo, white = may move',
    )
    io.add_argument("--mask", help='mask PNG (overrides the points file\'s "mask")')
    io.add_argument("--out", help="output folder (default: <image folder>/<image name>_edit)")
    io.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    io.add_argument(
        "--video",
        nargs="?",
        const="mp4",
        choices=("mp4", "gif"),
        help="also write a video of the drag (default mp4; gif if MP4 is unavailable)",
    )
    io.add_argument("--fps", type=int, default=10, help="video frames per second (default 10)")

    model = p.add_argument_group("model")
    model.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help=f"generator file or registered name (default {DEFAULT_CHECKPOINT}; "
        "see --list-checkpoints; 'random-64' needs no download)",
    )
    model.add_argument(
        "--checkpoints-dir", help="folder of registered checkpoints (default: ./checkpoints, env DRAGGAN_CHECKPOINTS)"
    )
    model.add_argument("--list-checkpoints", action="store_true", help="list the registered checkpoints and exit")
    model.add_argument(
        "--offline",
        action="store_true",
        help="never download (also env DRAGGAN_OFFLINE=1); missing weights exit with code 3",
    )

    align = p.add_argument_group("alignment")
    align.add_argument(
        "--align",
        choices=("face", "box", "center"),
        default="face",
        help="face (dlib + FFHQ crop, default), box (needs --box) or center",
    )
    align.add_argument("--box", type=_box, help="x0,y0,x1,y1 in photo pixels for --align box")
    align.add_argument(
        "--face-index",
        type=_face_index,
        help="which face, 0 = largest (default); 'all': edit every face that has points "
        "(each handle/target pair goes to the face whose crop holds both points)",
    )
    align.add_argument(
        "--face-preset",
        choices=sorted(FACE_PRESETS),
        help="face framing (default: the one the model was trained with, recorded in the checkpoint "
        "or the registry; ffhq otherwise)",
    )

    inv = p.add_argument_group("inversion")
    inv.add_argument(
        "--inversion",
        choices=("w", "w+", "pti"),
        default="pti",
        help="W, W+ or PTI (default: W pivot + pivotal tuning)",
    )
    inv.add_argument(
        "--steps",
        type=_positive_int,
        help=f"optimisation steps of each inversion stage (default: W {inv_defaults.w_steps}, "
        f"W+ {inv_defaults.wplus_steps}, PTI {inv_defaults.pti_steps}; models of <= 128 px: "
        f"fewer, see pipeline.model_defaults)",
    )
    inv.add_argument("--pti-steps", type=_positive_int, help="pivotal-tuning steps (overrides --steps for PTI)")
    inv.add_argument(
        "--lpips-net",
        choices=("vgg", "alex", "squeeze"),
        help=f"LPIPS backbone of every inversion stage (default: {inv_defaults.lpips_net} for "
        f"W/W+, {inv_defaults.pti_lpips_net} for PTI; squeeze, shipped with the package, for "
        f"models of <= 128 px)",
    )
    inv.add_argument(
        "--lpips-backbone",
        metavar="PATH",
        help="local LPIPS backbone file or folder (a torchvision features state dict) for offline "
        "machines; 'random' = untrained backbone, for smoke tests only",
    )
    inv.add_argument(
        "--locality",
        action="store_true",
        help="PTI locality regulariser (PTI, Sec. 3.3): keeps the tuned generator faithful away from "
        "the pivot, where a drag moves the latent; costs about 2x per PTI step",
    )
    inv.add_argument("--no-cache", action="store_true", help="do not read or write the inversion cache")
    inv.add_argument(
        "--cache-dir",
        help="inversion cache folder (default ~/.cache/draggan-pipeline/inversions, env DRAGGAN_CACHE_DIR)",
    )

    drag = p.add_argument_group("drag")
    drag.add_argument(
        "--drag-steps", type=_positive_int, help=f"maximum drag steps (default {drag_defaults.max_steps})"
    )
    drag.add_argument("--lr", type=float, help=f"drag learning rate (default {drag_defaults.lr:g})")
    drag.add_argument("--stop-distance", type=float, help="stop when every handle is this close (generator px)")

    _add_batch_options(p)
    run = p.add_argument_group("run")
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--quiet", action="store_true", help="no progress bars or stage lines, errors only")
    run.add_argument("--debug", action="store_true", help="print tracebacks")
    return p


def explicit_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The config fields ('stage.field') the command line set: model defaults never override them."""
    given = {
        "steps": ("inversion.w_steps", "inversion.wplus_steps", "inversion.pti_steps"),
        "pti_steps": ("inversion.pti_steps",),
        "lpips_net": ("inversion.lpips_net", "inversion.pti_lpips_net"),
        "lpips_backbone": ("inversion.lpips_backbone",),
        "drag_steps": ("drag.max_steps",),
        "lr": ("drag.lr",),
        "stop_distance": ("drag.stop_distance",),
        "face_preset": ("align.eye_scale", "align.mouth_scale", "align.center_shift"),
    }
    return tuple(name for option, names in given.items() if getattr(args, option, None) is not None for name in names)


def config_from_args(args: argparse.Namespace):
    """The `PipelineConfig` an argument namespace describes (before the model's own settings,
    `pipeline.model_defaults.config_for_model`; `user_options` says what the command line set)."""
    from align import AlignConfig
    from draggan import DragConfig
    from inversion import InversionConfig
    from pipeline.config import PipelineConfig

    inv = InversionConfig(seed=args.seed)
    changes: dict = {}
    if args.steps is not None:
        changes.update(w_steps=args.steps, wplus_steps=args.steps, pti_steps=args.steps)
    if args.pti_steps is not None:
        changes["pti_steps"] = args.pti_steps
    if args.lpips_net is not None:
        changes.update(lpips_net=args.lpips_net, pti_lpips_net=args.lpips_net)
    if args.lpips_backbone is not None:
        changes["lpips_backbone"] = args.lpips_backbone
    if args.locality:
        changes["locality_regularization"] = True
    inv = dataclasses.replace(inv, **changes)

    drag_changes: dict = {"seed": args.seed}
    if args.drag_steps is not None:
        drag_changes["max_steps"] = args.drag_steps
    if args.lr is not None:
        drag_changes["lr"] = args.lr
    if args.stop_distance is not None:
        drag_changes["stop_distance"] = args.stop_distance
    drag = DragConfig(**drag_changes)

    return PipelineConfig(
        align_mode=args.align,
        box=args.box,
        face_index=None if args.face_index == "all" else args.face_index,
        align=AlignConfig.from_preset(args.face_preset) if args.face_preset else AlignConfig(),
        user_options=explicit_options(args),
        inversion_method=args.inversion,
        inversion=inv,
        drag=drag,
        device=args.device,
        seed=args.seed,
        use_cache=not args.no_cache,
        cache_dir=args.cache_dir,
        video=args.video,
        video_fps=args.fps,
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


INTERRUPTED_MESSAGE = "error: interrupted"


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_on_interrupt():
    # Python's own handler: Ctrl-C raises KeyboardInterrupt, caught by `main`.
    return signal.signal(signal.SIGINT, signal.default_int_handler) if _in_main_thread() else None


# The C extensions a run loads. Ctrl-C while one of them initialises can abort the process
# (SIGABRT from inside C++) instead of raising KeyboardInterrupt, so `main` imports them first
# with the interrupt held back, and raises it once they are loaded.
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


def _default_out(image: Path) -> Path:
    return image.parent / f"{image.stem}_edit"


def _check_single_usage(args: argparse.Namespace) -> None:
    if not args.image or not args.points:
        raise UsageError("--image and --points are required (or --batch jobs.jsonl)")
    check_align_usage(args)


def check_align_usage(args: argparse.Namespace) -> None:
    """Raise a usage error when --align, --box and --face-index do not fit together."""
    if args.box is not None and args.align != "box":
        raise UsageError("--box needs --align box")
    if args.align == "box" and args.box is None:
        raise UsageError("--align box needs --box x0,y0,x1,y1")
    if args.face_index is not None and args.align != "face":
        raise UsageError("--face-index only applies to --align face")
    if getattr(args, "face_preset", None) is not None and args.align != "face":
        raise UsageError("--face-preset only applies to --align face")


def models_from_args(args: argparse.Namespace, config, log):
    """The process's `pipeline.runner.Models` for these options."""
    from pipeline.runner import Models

    return Models(config, args.checkpoints_dir, allow_download=not args.offline, progress=not args.quiet, log=log)


def _run(args: argparse.Namespace, argv: list[str], log) -> int:
    if args.batch:
        from pipeline.batch import run_batch

        return run_batch(args, argv, log)
    from common.paths import check_output_location
    from pipeline.edit import resolve_device
    from pipeline.errors import OutputError
    from pipeline.io.jobs import single_job
    from pipeline.io.outputs import check_output_dir
    from pipeline.runner import read_job_inputs, run_job

    t_start = time.perf_counter()
    _check_single_usage(args)
    config = config_from_args(args)
    # Cheap checks first, so bad input fails before anything is downloaded or computed.
    job = single_job(args.image, args.points, args.mask, config, args.checkpoint, all_faces=args.face_index == "all")
    inputs = read_job_inputs(job)
    out = Path(args.out).expanduser() if args.out else _default_out(job.image)
    out = check_output_dir(out, overwrite=args.overwrite, protected=(job.image, args.points, job.mask_path))
    if config.use_cache and args.cache_dir:
        check_output_location(args.cache_dir, "--cache-dir", OutputError, "choose another folder or pass --no-cache")
    resolve_device(config.device)
    outcome = run_job(
        job,
        models_from_args(args, config, log),
        out,
        shlex.join(["run_pipeline.py", *argv]),
        overwrite=args.overwrite,
        inputs=inputs,
        progress=not args.quiet,
        log=log,
    )
    _print_summary(outcome.result, out, time.perf_counter() - t_start)
    return EXIT_OK


def _print_summary(result, out: Path, seconds: float) -> None:
    import numpy as np

    faces = getattr(result, "faces", None) or [result]
    steps = sum(f.drag.steps for f in faces)
    converged = all(f.drag.converged for f in faces)
    dist = max(float(np.max(f.distances_photo)) for f in faces)
    cached = all(f.cache_hit for f in faces)
    print(
        f"{'converged' if converged else 'not converged'} after {steps} drag steps; "
        f"final distance to targets {dist:.1f} px (photo); total {seconds:.1f}s"
        f"{'; inversion from cache' if cached else ''}"
    )
    print(f"edited photo: {out / 'edited.png'}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (never raises, except SystemExit from --help).

    Args:
        argv: arguments without the program name (None = sys.argv[1:]).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    previous_handler = None
    try:
        previous_handler = _raise_on_interrupt()
        _import_native_modules_holding_interrupts()
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except UsageError as exc:
            print(f"error: {exc} (see --help)", file=sys.stderr)
            return EXIT_BAD_INPUT
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
            return _run(args, argv, log)
    except UsageError as exc:
        print(f"error: {exc} (see --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _ignore_interrupts()  # a second Ctrl-C must not turn the message into a traceback
        print(INTERRUPTED_MESSAGE, file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the CLI's single exit point
        if debug:
            traceback.print_exc()
        code = exit_code_for(exc)
        hint = " (run again with --debug for the traceback)" if code == EXIT_ERROR and not debug else ""
        print(f"error: {_one_line(exc)}{hint}", file=sys.stderr)
        return code
    finally:
        _restore_interrupt_handler(previous_handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
