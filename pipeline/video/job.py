"""A clip as a job: `run_video_job`, shared by the command line (`--image clip.mp4`) and batch jobs."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

__all__ = ["run_video_job"]


def run_video_job(
    job, models, out: Path, command: str, video=None, overwrite: bool = False, dist=None, progress=True, log=None
):
    """Edit the clip of `job` (a `pipeline.io.jobs.Job` with `video`) into `out`.

    Args:
        job: the job (clip, points on keyframe `job.points.frame`, mask, config, checkpoint).
        models: the process's `pipeline.models.Models`.
        out: the output folder; command: the command line for report.json.
        video: the `VideoConfig` (None = the job's `config.clip`).
        overwrite: replace an existing output folder.
        dist: the `common.distributed.Distributed` sharing the frames (None = this process alone).
        progress, log: progress bars and stage lines.

    Returns:
        (the `pipeline.video.VideoEditResult`, seconds of reading the inputs).
    """
    from pipeline.io.clip import probe_clip
    from pipeline.io.points import load_mask
    from pipeline.video.edit import edit_video

    t = time.perf_counter()
    info = probe_clip(job.image)
    mask = load_mask(job.mask_path, (info.height, info.width, 3)) if job.mask_path is not None else None
    read_seconds = time.perf_counter() - t
    config = job.config
    if dist is not None:
        config = dataclasses.replace(config, device=dist.device(config.device))
    model = models.get(job.checkpoint)
    extra = {
        "inputs": {
            "image": str(Path(job.image).resolve()),
            "points": job.points_source,
            "keyframe": job.points.frame,
            "mask": None if job.mask_path is None else str(Path(job.mask_path).resolve()),
            "num_points": len(job.points),
        },
        "checkpoint": model.checkpoint_json(),
        "command": command,
    }
    result = edit_video(
        job.image,
        job.points,
        model,
        out,
        config,
        video or job.config.clip,
        mask,
        overwrite=overwrite,
        extra=extra,
        dist=dist,
        progress=progress,
        log=log,
    )
    return result, read_seconds
