"""Command line: edit a real photo end to end.

    python run_pipeline.py --image photo.jpg --points pts.json

    python run_pipeline.py --batch jobs.jsonl --out DIR    # many photos, resumable

Exit codes (`common.errors`): 0 success, 2 bad input, 3 missing weights offline, 4 some batch
jobs failed, 1 anything else (130 when interrupted). Errors are one line on stderr (a traceback
only with --debug); a failed run leaves no output folder behind.

The options are parsed by `pipeline.cli.parser`, turned into `pipeline.options.UserOptions` and
from there into a `PipelineConfig`; --batch goes to `pipeline.cli.batch`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from common.errors import EXIT_OK
from pipeline.cli.command import run_command
from pipeline.errors import UsageError

__all__ = ["main"]


def _default_out(image: Path) -> Path:
    return image.parent / f"{image.stem}_edit"


def _run(args: argparse.Namespace, argv: list[str], log) -> int:
    if args.batch:
        from pipeline.cli.batch import run_batch_command

        return run_batch_command(args, argv, log)
    return _run_single(args, argv, log)


def _is_clip(image: str) -> bool:
    """--image is a video (decided by its content; a missing file is left to the photo path's error)."""
    from pipeline.io.clip import is_video

    path = Path(image).expanduser()
    try:
        return path.is_file() and is_video(path)
    except OSError:  # a name too long, a loop of links: the photo path gives its one-line error
        return False


def _run_single(args: argparse.Namespace, argv: list[str], log) -> int:
    from common.paths import check_output_location
    from pipeline.cli.parser import options_from_args
    from pipeline.edit import resolve_device
    from pipeline.errors import OutputError
    from pipeline.io.jobs import single_job
    from pipeline.io.outputs import check_output_dir
    from pipeline.options import config_from_options
    from pipeline.runner import Models, read_job_inputs, run_job

    t_start = time.perf_counter()
    if not args.image or not args.points:
        raise UsageError("--image and --points are required (or --batch jobs.jsonl)")
    options = options_from_args(args)
    config = config_from_options(options)
    if _is_clip(args.image):
        from pipeline.cli.video import run_video_command

        return run_video_command(args, argv, options, config, log)
    # Cheap checks first, so bad input fails before anything is downloaded or computed.
    job = single_job(args.image, args.points, args.mask, config, args.checkpoint, all_faces=options.all_faces)
    inputs = read_job_inputs(job)
    out = Path(args.out).expanduser() if args.out else _default_out(job.image)
    out = check_output_dir(out, overwrite=args.overwrite, protected=(job.image, args.points, job.mask_path))
    if config.use_cache and args.cache_dir:
        check_output_location(args.cache_dir, "--cache-dir", OutputError, "choose another folder or pass --no-cache")
    resolve_device(config.device)
    models = Models(config, args.checkpoints_dir, allow_download=not args.offline, progress=not args.quiet, log=log)
    outcome = run_job(
        job,
        models,
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

    faces = result.faces
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
    return run_command(list(sys.argv[1:] if argv is None else argv), _run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
