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
    from pipeline.cli.parser import video_config_from_args
    from pipeline.edit import resolve_device
    from pipeline.errors import UsageError
    from pipeline.io.clip import probe_clip
    from pipeline.io.outputs import check_output_dir
    from pipeline.io.points import load_mask, load_points
    from pipeline.models import Models
    from pipeline.video.edit import check_video_points, edit_video

    t_start = time.perf_counter()
    if options.all_faces:
        raise UsageError("--face-index all edits every face of a photo; for a clip give one face number")
    clip = Path(args.image).expanduser()
    points = load_points(args.points)
    info = probe_clip(clip)
    check_video_points(points, info, source=str(args.points))
    mask_path = Path(args.mask).expanduser() if args.mask else points.mask_path
    mask = load_mask(mask_path, (info.height, info.width, 3)) if mask_path is not None else None
    video = video_config_from_args(args)
    out = Path(args.out).expanduser() if args.out else clip.parent / f"{clip.stem}_edit"
    dist = Distributed.from_env(config.device)
    try:
        if dist.is_main:
            out = check_output_dir(out, overwrite=args.overwrite, protected=(clip, args.points, mask_path))
        resolve_device(config.device)
        config = dataclasses.replace(config, device=dist.device(config.device))
        models = Models(config, args.checkpoints_dir, allow_download=not args.offline, progress=not args.quiet, log=log)
        with dist.main_first():
            model = models.get(args.checkpoint)
        extra = {
            "inputs": {
                "image": str(clip.resolve()),
                "points": str(Path(args.points).resolve()),
                "keyframe": points.frame,
            },
            "checkpoint": model.checkpoint_json(),
            "command": shlex.join(["run_pipeline.py", *argv]),
        }
        result = edit_video(
            clip,
            points,
            model,
            out,
            config,
            video,
            mask,
            overwrite=args.overwrite,
            extra=extra,
            dist=dist,
            progress=not args.quiet,
            log=log,
        )
    finally:
        dist.close()
    if dist.is_main:
        summary = result.keyframe.summary
        changed = sum(1 for r in result.frames if r.get("changed_pixels", 0) > 0)
        print(
            f"{info.frame_count} frames, the face in {sum(bool(r.get('found')) for r in result.frames)}, "
            f"edited in {changed}; keyframe {points.frame}: "
            f"{'converged' if summary['converged'] else 'not converged'} after {summary['drag_steps']} drag steps; "
            f"total {time.perf_counter() - t_start:.1f}s"
        )
        print(f"edited clip: {out / 'edited.mp4'}")
    return EXIT_OK
