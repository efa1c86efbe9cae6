"""The command line's path for a clip: `run_pipeline.py --image clip.mp4 --points pts.json`."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import time
from pathlib import Path

from common.errors import EXIT_OK

__all__ = ["run_video_command"]


def run_video_command(args: argparse.Namespace, argv: list[str], options, config, log) -> int:
    """Edit the clip `args.image` (already known to be a video); returns the exit code.

    Cheap checks first (points, keyframe, mask size, output folder), then the model, then the
    edit; under torchrun every rank calls this and the runs of frames are shared out.
    """
    from common.distributed import Distributed
    from pipeline.edit import resolve_device
    from pipeline.errors import UsageError
    from pipeline.io.clip import probe_clip
    from pipeline.io.jobs import single_job
    from pipeline.io.outputs import check_output_dir
    from pipeline.io.points import load_mask
    from pipeline.models import Models
    from pipeline.video.edit import check_video_points
    from pipeline.video.job import run_video_job

    t_start = time.perf_counter()
    if options.all_faces:
        raise UsageError("--face-index all edits every face of a photo; for a clip give one face number")
    job = dataclasses.replace(single_job(args.image, args.points, args.mask, config, args.checkpoint), video=True)
    info = probe_clip(job.image)
    check_video_points(job.points, info, source=str(args.points), config=config)
    if job.mask_path is not None:
        load_mask(job.mask_path, (info.height, info.width, 3))  # its size, before any work
    out = Path(args.out).expanduser() if args.out else job.image.parent / f"{job.image.stem}_edit"
    dist = Distributed.from_env(config.device)
    try:
        if dist.is_main:
            out = check_output_dir(out, overwrite=args.overwrite, protected=(job.image, args.points, job.mask_path))
        resolve_device(config.device)
        models = Models(config, args.checkpoints_dir, allow_download=not args.offline, progress=not args.quiet, log=log)
        with dist.main_first():
            models.get(job.checkpoint)
        command = shlex.join(["run_pipeline.py", *argv])
        result, _ = run_video_job(
            job, models, out, command, None, args.overwrite, dist, progress=not args.quiet, log=log
        )
    finally:
        dist.close()
    if dist.is_main:
        _print_summary(result, out, time.perf_counter() - t_start)
    return EXIT_OK


def _print_summary(result, out: Path, seconds: float) -> None:
    summary = result.keyframe.summary
    found = sum(bool(r.get("found")) for r in result.frames)
    changed = sum(1 for r in result.frames if r.get("changed_pixels", 0) > 0)
    print(
        f"{len(result.frames)} frames, the chosen face in {found}, edited in {changed}; keyframe "
        f"{result.keyframe.frame}: {'converged' if summary['converged'] else 'not converged'} after "
        f"{summary['drag_steps']} drag steps; total {seconds:.1f}s"
    )
    print(f"edited clip: {out / 'edited.mp4'}")
