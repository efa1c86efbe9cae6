"""The batch command line: `run_pipeline.py --batch` and `python -m pipeline.cli.batch`.

    python run_pipeline.py --batch jobs.jsonl --out DIR [single-mode options = every job's defaults]
    torchrun --nproc_per_node=N -m pipeline.cli.batch --batch jobs.jsonl --out DIR [...]

Checks the options that only make sense for a batch, turns the rest into `pipeline.batch.BatchOptions`
and a `PipelineConfig`, and runs the engine, `pipeline.batch.run_batch`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from common.errors import EXIT_BAD_INPUT
from pipeline.cli.command import run_command
from pipeline.errors import UsageError

__all__ = ["batch_options_from_args", "run_batch_command", "main"]


def _check_batch_usage(args: argparse.Namespace) -> Path:
    if not args.out:
        raise UsageError("--batch needs --out DIR (the folder of the job folders and results.jsonl)")
    for flag, value in (
        ("--image", args.image),
        ("--points", args.points),
        ("--mask", args.mask),
        ("--overwrite", args.overwrite),
    ):
        if value:
            raise UsageError(f"{flag} does not apply to --batch; put images, points and masks in the jobs file")
    out = Path(args.out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder path")
    return out


def batch_options_from_args(args: argparse.Namespace, options):
    """The `pipeline.batch.BatchOptions` of a parsed `--batch` command line.

    Args:
        args: the parsed command line.
        options: its `pipeline.options.UserOptions` (every job's defaults).

    Raises:
        UsageError: an option that does not apply to a batch, or no usable --out.
    """
    from pipeline.batch import BatchOptions

    return BatchOptions(
        jobs_file=Path(args.batch),
        out=_check_batch_usage(args),
        checkpoint=args.checkpoint,
        all_faces=options.all_faces,
        retry_failed=args.retry_failed,
        strict=args.strict,
        checkpoints_dir=args.checkpoints_dir,
        allow_download=not args.offline,
        progress=not args.quiet,
    )


def run_batch_command(args: argparse.Namespace, argv: list[str], log) -> int:
    """Run a parsed `--batch` command line; returns the exit code (`pipeline.batch.run_batch`)."""
    from pipeline.batch import run_batch
    from pipeline.cli.parser import options_from_args
    from pipeline.options import config_from_options

    options = options_from_args(args)
    batch = batch_options_from_args(args, options)
    return run_batch(batch, config_from_options(options), shlex.join(["run_pipeline.py", *argv]), log)


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.cli.batch` / `torchrun -m pipeline.cli.batch`: the command line with --batch required."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if (
        "--batch" not in argv
        and not any(a.startswith("--batch=") for a in argv)
        and "-h" not in argv
        and "--help" not in argv
    ):
        print("error: python -m pipeline.cli.batch needs --batch jobs.jsonl --out DIR (see --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_command(argv, run_batch_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
