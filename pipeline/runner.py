"""Running one `Job` end to end: inputs -> model -> edit -> output folder.

Single mode (`run_pipeline.py --image ...`) and every job of a batch go through the same
steps, so a batch job's folder holds exactly what a single-mode run writes:

    read_job_inputs   photo, points in the photo, mask (cheap checks first)
    Models.get        generator resolved, downloaded if allowed, loaded once per process
                      (`pipeline.models`)
    config_for_model  the model's own settings (`pipeline.model_defaults`): its face framing,
                      small-model steps and radii, where the user set none
    edit_job          `edit_photo` (one face) or `pipeline.group.edit_group` (--face-index all)
    write_job         every output file, into a staging folder renamed into place at the end
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.edit import EditResult
from pipeline.io.jobs import Job
from pipeline.model_defaults import config_for_model
from pipeline.models import LoadedModel, Models

__all__ = ["JobInputs", "JobResult", "read_job_inputs", "edit_job", "write_job", "JobOutcome", "run_job"]

Log = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class JobInputs:
    """A job's decoded inputs: uint8 (H, W, 3) RGB `photo` and an optional bool (H, W) `mask`."""

    photo: np.ndarray
    mask: np.ndarray | None
    seconds: float


def read_job_inputs(job: Job) -> JobInputs:
    """Decode the photo and mask and check the points lie in the photo (before any model work).

    Raises:
        PhotoError, PointsError: bad input.
    """
    from align import load_photo
    from pipeline.errors import PointsError
    from pipeline.io.points import check_points_in_frame, load_mask

    t = time.perf_counter()
    if job.points.frame != 0:
        raise PointsError(
            f'{job.points_source}: "frame" {job.points.frame} names a video keyframe, but {job.image.name} is a '
            'photo; remove "frame" or give a video'
        )
    photo = load_photo(job.image, max_pixels=job.config.align.max_photo_pixels)
    h, w = photo.shape[:2]
    for name, pts in (("handle", job.points.handles_photo), ("target", job.points.targets_photo)):
        check_points_in_frame(
            pts,
            w,
            h,
            name,
            f"the {w}x{h} photo {job.image.name}",
            "give (x, y) in original photo pixels, x right, y down",
        )
    mask = load_mask(job.mask_path, photo.shape) if job.mask_path is not None else None
    return JobInputs(photo, mask, time.perf_counter() - t)


@dataclass(frozen=True, eq=False)
class JobResult:
    """What a job's edit produced, whether it edited one crop or every face of a group photo.

    Attributes:
        faces: one `pipeline.EditResult` per edited crop (one for a face, box or centre crop).
        seconds: the job's seconds per stage, as report.json records them (updated in place
            by `run_job` with reading, loading and writing).
        group: the `pipeline.group.GroupEditResult` of `--face-index all`, else None.
        video: the `pipeline.video.VideoEditResult` of a clip (then `faces` is empty), else None.
    """

    faces: list[EditResult]
    seconds: dict
    group: object | None = None
    video: object | None = None


def edit_job(
    job: Job, inputs: JobInputs, model: LoadedModel, progress: bool = True, log: Log | None = None
) -> JobResult:
    """Edit a job's photo with a loaded model.

    Returns:
        The `JobResult`: `edit_photo`'s result, or `pipeline.group.edit_group`'s when `job.all_faces`.
    """
    from pipeline.edit import edit_photo
    from pipeline.group import edit_group

    config = config_for_model(job.config, model.G, model.resolved.info)
    pts = job.points
    edit = edit_group if job.all_faces else edit_photo
    result = edit(
        inputs.photo,
        pts.handles_photo,
        pts.targets_photo,
        model.G,
        config,
        mask_photo=inputs.mask,
        generator_id=model.generator_id,
        progress=progress,
        log=log,
    )
    if job.all_faces:
        return JobResult(faces=list(result.faces), seconds=result.seconds, group=result)
    return JobResult(faces=[result], seconds=result.seconds)


def write_job(
    result: JobResult, job: Job, model: LoadedModel, out: Path, command: str, overwrite: bool = False
) -> list[str]:
    """Write a job's outputs to `out` atomically (staging folder, then rename).

    Returns:
        The written file names (report.json last).
    """
    from pipeline.io.outputs import staged_output_dir
    from pipeline.io.report import write_results

    h, w = (result.group or result.faces[0]).photo.shape[:2]
    extra = {
        "inputs": {
            "image": str(job.image.resolve()),
            "photo_size": [int(w), int(h)],
            "points": job.points_source,
            "mask": None if job.mask_path is None else str(Path(job.mask_path).resolve()),
            "num_points": len(job.points),
        },
        "checkpoint": model.checkpoint_json(),
        "command": command,
    }
    with staged_output_dir(out, overwrite=overwrite) as staging:
        if result.group is not None:
            from pipeline.group import write_group_results

            return write_group_results(result.group, staging, extra)
        return write_results(result.faces[0], staging, extra)


@dataclass(frozen=True, eq=False)
class JobOutcome:
    """What `run_job` did: the edit result, where it went and the files written."""

    result: JobResult
    out: Path
    written: list


def run_job(
    job: Job,
    models: Models,
    out: Path,
    command: str,
    overwrite: bool = False,
    inputs: JobInputs | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> JobOutcome:
    """Read, edit and write one job (the single code path of single and batch mode).

    Args:
        job: the job.
        models: the process's loaded generators.
        out: the job's output folder.
        command: the command line recorded in report.json.
        overwrite: replace an existing output folder.
        inputs: already decoded inputs (None = read them here).
        progress, log: progress bars and stage lines.
    """
    if job.video:
        from pipeline.video.job import run_video_job

        video, read_seconds = run_video_job(job, models, out, command, overwrite=overwrite, progress=progress, log=log)
        seconds = dict(video.seconds, read_inputs=read_seconds)
        return JobOutcome(JobResult(faces=[], seconds=seconds, video=video), out, list(video.written))
    if inputs is None:
        inputs = read_job_inputs(job)
    loaded_now = job.checkpoint not in models
    model = models.get(job.checkpoint)
    result = edit_job(job, inputs, model, progress=progress, log=log)
    # Loading is counted once, by the job that paid for it.
    result.seconds.update({"read_inputs": inputs.seconds, **(model.seconds if loaded_now else {})})
    t = time.perf_counter()
    written = write_job(result, job, model, out, command, overwrite=overwrite)
    result.seconds["write"] = time.perf_counter() - t
    if log:
        log(f"write: {len(written)} files to {out} ({result.seconds['write']:.1f}s)")
    return JobOutcome(result, out, written)
