"""Running one `Job` end to end: inputs -> model -> edit -> output folder.

Single mode (`run_pipeline.py --image ...`) and every job of a batch go through the same
steps, so a batch job's folder holds exactly what a single-mode run writes:

    read_job_inputs   photo, points in the photo, mask (cheap checks first)
    Models.get        generator resolved, downloaded if allowed, loaded once per process
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

from pipeline.config import PipelineConfig, lpips_nets_needed
from pipeline.io.jobs import Job
from pipeline.model_defaults import config_for_model

__all__ = ["JobInputs", "LoadedModel", "Models", "read_job_inputs", "edit_job", "write_job", "JobOutcome", "run_job"]

Log = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class JobInputs:
    """A job's decoded inputs: uint8 (H, W, 3) RGB `photo` and an optional bool (H, W) `mask`."""

    photo: np.ndarray
    mask: np.ndarray | None
    seconds: float


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A generator ready to edit with.

    Attributes:
        G: the `stylegan.Generator` on its device.
        resolved: the `hub.registry.ResolvedCheckpoint` it came from.
        generator_id: its identity in the inversion cache key (None when the cache is off).
        seconds: {'fetch_weights', 'load_generator'} wall-clock seconds.
    """

    G: object
    resolved: object
    generator_id: str | None
    seconds: dict


def read_job_inputs(job: Job) -> JobInputs:
    """Decode the photo and mask and check the points lie in the photo (before any model work).

    Raises:
        PhotoError, PointsError: bad input.
    """
    from align import load_photo
    from pipeline.io.points import check_points_in_frame, load_mask

    t = time.perf_counter()
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


class Models:
    """Generators loaded once per process and reused by every job that names them.

    Args:
        config: the run's `PipelineConfig` (device, cache and LPIPS settings).
        checkpoints_dir: folder of registered checkpoints (None = default).
        allow_download: fetch missing registered weights.
        progress: download progress bars.
        log: one-line status callback.
    """

    def __init__(
        self,
        config: PipelineConfig,
        checkpoints_dir: str | None = None,
        allow_download: bool = True,
        progress: bool = True,
        log: Log | None = None,
    ):
        self.config = config
        self.checkpoints_dir = checkpoints_dir
        self.allow_download = allow_download
        self.progress = progress
        self.log = log or (lambda message: None)
        self._loaded: dict[str, LoadedModel] = {}

    def __contains__(self, checkpoint: str) -> bool:
        return checkpoint in self._loaded

    def get(self, checkpoint: str) -> LoadedModel:
        """The loaded generator of a checkpoint path or registered name (loaded on first use)."""
        if checkpoint not in self._loaded:
            self._loaded[checkpoint] = self._load(checkpoint)
        return self._loaded[checkpoint]

    def _load(self, checkpoint: str) -> LoadedModel:
        from hub.lpips_weights import ensure_lpips_backbones
        from hub.registry import domain_warning, load_checkpoint, resolve_checkpoint
        from pipeline.edit import resolve_device
        from pipeline.seeds import generator_identity

        config = self.config
        device = resolve_device(config.device)
        t = time.perf_counter()
        resolved = resolve_checkpoint(
            checkpoint, self.checkpoints_dir, allow_download=self.allow_download, progress=self.progress, log=self.log
        )
        warning = domain_warning(resolved.info, config.align_mode)
        if warning:
            self.log(f"warning: {warning}")
        seconds = {"fetch_weights": time.perf_counter() - t}

        t = time.perf_counter()
        G = load_checkpoint(resolved, device=str(device))
        generator_id = generator_identity(resolved, G, config)  # the inversion cache's key for the weights
        seconds["load_generator"] = time.perf_counter() - t
        info = resolved.info
        # The LPIPS nets this model's inversion will use (LPIPS-squeeze, shipped, for small models).
        t = time.perf_counter()
        model_config = config_for_model(config, G, info)
        ensure_lpips_backbones(
            lpips_nets_needed(model_config),
            model_config.inversion.lpips_backbone,
            allow_download=self.allow_download,
            progress=self.progress,
            log=self.log,
        )
        seconds["fetch_weights"] += time.perf_counter() - t
        self.log(
            f"load: {resolved.label} ({G.img_resolution}px{', ' + info.domain if info else ''}) on {device} "
            f"({seconds['load_generator']:.1f}s)"
        )
        return LoadedModel(G, resolved, generator_id, seconds)


def edit_job(job: Job, inputs: JobInputs, model: LoadedModel, progress: bool = True, log: Log | None = None):
    """Edit a job's photo with a loaded model.

    Returns:
        `pipeline.EditResult` (one face / box / centre crop) or `pipeline.group.GroupEditResult`
        (`job.all_faces`).
    """
    config = config_for_model(job.config, model.G, model.resolved.info)
    pts = job.points
    if job.all_faces:
        from pipeline.group import edit_group as edit
    else:
        from pipeline.edit import edit_photo as edit
    return edit(
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


def write_job(result, job: Job, model: LoadedModel, out: Path, command: str, overwrite: bool = False) -> list[str]:
    """Write a job's outputs to `out` atomically (staging folder, then rename).

    Returns:
        The written file names (report.json last).
    """
    from pipeline.io.outputs import staged_output_dir
    from pipeline.io.report import write_results

    G = model.G
    h, w = result.photo.shape[:2]
    extra = {
        "inputs": {
            "image": str(job.image.resolve()),
            "photo_size": [int(w), int(h)],
            "points": job.points_source,
            "mask": None if job.mask_path is None else str(Path(job.mask_path).resolve()),
            "num_points": len(job.points),
        },
        "checkpoint": model.resolved.to_json()
        | {
            "img_resolution": int(G.img_resolution),
            "num_ws": int(G.num_ws),
            "w_dim": int(G.w_dim),
            "metadata": dict(G.metadata),
        },
        "command": command,
    }
    with staged_output_dir(out, overwrite=overwrite) as staging:
        if job.all_faces:
            from pipeline.group import write_group_results

            return write_group_results(result, staging, extra)
        return write_results(result, staging, extra)


@dataclass(frozen=True, eq=False)
class JobOutcome:
    """What `run_job` did: the edit result, where it went and the files written."""

    result: object
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
