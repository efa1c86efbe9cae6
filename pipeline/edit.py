"""`edit_photo`: photo + drag points in photo pixels -> edited photo, stage by stage.

    photo --align--> crop --invert--> (ws pivot, G to edit with) --drag--> edited crop
          <------------------------- paste back ------------------------------+

The stages are plain functions in `pipeline.stages` (`align_photo`, `points_to_crop`,
`mask_to_crop`, `invert_crop`, `drag_crop`, `paste_edit`); `edit_aligned` chains stages 2-5
on one aligned crop, and `edit_photo` aligns the photo first and returns an `EditResult`.

*Convention*: points are float (x, y) pixels, x right, y down, pixel centres at integer
coordinates; `_photo` / `_crop` in a name says the frame.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from align import Alignment, load_photo, to_photo
from align.composite import CompositeResult
from align.photo import check_photo
from common.device import deterministic, resolve_device
from common.random import seeded
from common.timing import StageTimer
from draggan import DragResult
from inversion import InversionResult
from pipeline.config import PipelineConfig
from pipeline.errors import PipelineError
from pipeline.model_defaults import config_for_model
from pipeline.stages import (
    Log,
    align_photo,
    composite_edit,
    drag_crop,
    generator_on_device,
    invert_crop,
    mask_to_crop,
    paste_edit,
    points_to_crop,
    reconstruction_metrics,
)
from stylegan.generate import uint8_from_ws
from stylegan.networks import Generator

__all__ = ["EditResult", "edit_aligned", "edit_photo", "resolve_device"]


@dataclass(frozen=True, eq=False)
class EditResult:
    """Everything `edit_photo` produced.

    Attributes:
        photo: uint8 (H, W, 3) RGB input photo.
        edited_photo: uint8 (H, W, 3) RGB, the photo with the edit pasted back; pixels the
            edit did not touch are byte-identical to `photo`.
        alignment: the `align.Alignment` (crop, `crop_from_photo`, ...).
        reconstruction_crop: uint8 (R, R, 3), the generator's image of the inverted latent.
        edited_crop: uint8 (R, R, 3), the generator's image after the drag.
        handles_photo, targets_photo: (N, 2) float64 as given, photo pixels.
        handles_crop, targets_crop: (N, 2) float64 in crop pixels (clipped to [0, R - 1]).
        mask_crop: (R, R) float32 in {0, 1} (1 = may move), or None.
        inversion: the `inversion.InversionResult` (pivot `ws`, generator `G` to edit with).
        drag: the `draggan.DragResult` (final `ws`, handle `history`, `converged`, frames).
        seconds: wall-clock seconds per stage ('align', 'invert', 'drag', 'paste', ...).
        metrics: reconstruction vs aligned crop: 'psnr' (dB), 'ssim', 'lpips' (None if unavailable).
        cache_hit: the inversion came from the cache.
        cache_key: the inversion cache key (None when the cache was not used).
        device: the torch device the stages ran on.
        config: the `PipelineConfig` used.
        composite: the composite's field and weight (`pipeline.composite_edit`) when
            `config.debug_composite`, else None.
    """

    photo: np.ndarray
    edited_photo: np.ndarray
    alignment: Alignment
    reconstruction_crop: np.ndarray
    edited_crop: np.ndarray
    handles_photo: np.ndarray
    targets_photo: np.ndarray
    handles_crop: np.ndarray
    targets_crop: np.ndarray
    mask_crop: np.ndarray | None
    inversion: InversionResult
    drag: DragResult
    seconds: dict
    metrics: dict
    cache_hit: bool
    cache_key: str | None
    device: str
    config: PipelineConfig
    composite: CompositeResult | None = None

    @property
    def final_handles_crop(self) -> np.ndarray:
        """(N, 2) float64 tracked handle positions after the drag, crop pixels."""
        return np.asarray(self.drag.handles, dtype=np.float64)

    @property
    def final_handles_photo(self) -> np.ndarray:
        """(N, 2) float64 tracked handle positions after the drag, photo pixels."""
        return to_photo(self.final_handles_crop, self.alignment)

    @property
    def distances_crop(self) -> np.ndarray:
        """(N,) float64 final handle-to-target distances in crop pixels."""
        return np.hypot(*(self.final_handles_crop - self.targets_crop).T)

    @property
    def distances_photo(self) -> np.ndarray:
        """(N,) float64 final handle-to-target distances in photo pixels."""
        return np.hypot(*(self.final_handles_photo - to_photo(self.targets_crop, self.alignment)).T)


def _as_photo(photo: np.ndarray | str | os.PathLike, max_pixels: int) -> np.ndarray:
    if isinstance(photo, (str, os.PathLike)):
        return load_photo(photo, max_pixels=max_pixels)
    return check_photo(photo, max_pixels)


def edit_aligned(
    photo: np.ndarray,
    alignment: Alignment,
    handles_photo: np.ndarray,
    targets_photo: np.ndarray,
    G: Generator,
    config: PipelineConfig = PipelineConfig(),
    mask_photo: np.ndarray | None = None,
    generator_id: str | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> EditResult:
    """Stages 2-5 on one aligned crop: points -> invert -> drag -> paste back into `photo`.

    `edit_photo` calls it after `align_photo`; group photos (`pipeline.group`) call it once
    per face, pasting each edit into the photo the previous face's edit returned.

    Args:
        photo: uint8 (H, W, 3) RGB, the photo the edit is pasted into (the crop itself
            comes from `alignment.crop`).
        alignment: from `align_photo` (or `align_face` for one face of a group).
        handles_photo, targets_photo: (N, 2) float photo pixels.
        G: a `stylegan.Generator` on the device to run on (not modified).
        config, mask_photo, generator_id, progress, log: as in `edit_photo`.

    Returns:
        `EditResult`; `seconds` has 'align' (points and mask only), 'invert', 'metrics',
        'drag' and 'paste'.
    """
    say = log or (lambda message: None)
    device = next(G.parameters()).device
    timer = StageTimer()
    with timer("align"):
        handles_crop, targets_crop = points_to_crop(handles_photo, targets_photo, alignment)
        mask_crop = None if mask_photo is None else mask_to_crop(mask_photo, alignment, config.mask_threshold)

    with timer("invert"):
        inverted = invert_crop(G, alignment.crop, config, generator_id, progress, say)
        inversion = inverted.inversion
        G_edit = inversion.G.to(device)
        pivot = inversion.ws.to(device)
        reconstruction = uint8_from_ws(G_edit, pivot)[0]
    seconds = timer.seconds
    say(f"invert: {config.inversion_method}{' (cached)' if inverted.cache_hit else ''} ({seconds['invert']:.1f}s)")

    with timer("metrics"):
        # Writable copy: Alignment.crop is read-only and torch.from_numpy warns about that.
        metrics = reconstruction_metrics(reconstruction, np.array(alignment.crop), config, device)
    say(_metrics_line(metrics))

    with timer("drag"):
        result = drag_crop(G_edit, pivot, handles_crop, targets_crop, mask_crop, config, progress)
    say(_drag_line(result, targets_crop, seconds["drag"]))

    with timer("paste"):
        edited_photo, composite = _paste(photo, alignment, result, reconstruction, config, mask_crop, mask_photo)
    say(f"paste: {config.paste.composite} composite ({seconds['paste']:.1f}s)")
    return EditResult(
        photo=photo,
        edited_photo=edited_photo,
        alignment=alignment,
        reconstruction_crop=reconstruction,
        edited_crop=result.image,
        handles_photo=np.asarray(handles_photo, dtype=np.float64).reshape(-1, 2),
        targets_photo=np.asarray(targets_photo, dtype=np.float64).reshape(-1, 2),
        handles_crop=handles_crop,
        targets_crop=targets_crop,
        mask_crop=mask_crop,
        inversion=inversion,
        drag=result,
        seconds=seconds,
        metrics=metrics,
        cache_hit=inverted.cache_hit,
        cache_key=inverted.cache_key,
        device=str(device),
        config=config,
        composite=composite,
    )


def _paste(
    photo: np.ndarray,
    alignment: Alignment,
    result: DragResult,
    reconstruction: np.ndarray,
    config: PipelineConfig,
    mask_crop: np.ndarray | None,
    mask_photo: np.ndarray | None,
) -> tuple[np.ndarray, CompositeResult | None]:
    """Stage 5 for `edit_aligned`: the edited photo, and the composite's images when `config.debug_composite`."""
    final = (result.history[0], result.handles, mask_crop, mask_photo)
    if config.debug_composite:
        composite = composite_edit(photo, alignment, result.image, reconstruction, config, *final)
        return composite.photo, composite
    return paste_edit(photo, alignment, result.image, reconstruction, config, *final), None


def _metrics_line(metrics: dict) -> str:
    """The status line of `reconstruction_metrics`' result."""
    lpips = f", LPIPS-{metrics['lpips_net']} {metrics['lpips']:.3f}" if metrics.get("lpips") is not None else ""
    return f"reconstruction: PSNR {metrics['psnr']:.1f} dB" + lpips


def _drag_line(result: DragResult, targets_crop: np.ndarray, seconds: float) -> str:
    """The status line of a finished drag."""
    dist = np.hypot(*(result.handles - targets_crop).T)
    return (
        f"drag: {result.steps} steps, {'converged' if result.converged else 'not converged'}, "
        f"max distance {dist.max():.1f} px ({seconds:.1f}s)"
    )


def _registry_info(G):
    """The registry entry a checkpoint name refers to (an existing file wins, as in resolve_checkpoint), or None."""
    if not isinstance(G, (str, os.PathLike)) or Path(G).expanduser().is_file():
        return None
    from hub.registry import REGISTRY

    return REGISTRY.get(os.fspath(G))


def edit_photo(
    photo: np.ndarray | str | os.PathLike,
    handles_photo: np.ndarray,
    targets_photo: np.ndarray,
    G: Generator | str | os.PathLike,
    config: PipelineConfig = PipelineConfig(),
    mask_photo: np.ndarray | None = None,
    generator_id: str | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> EditResult:
    """Edit a real photo with DragGAN: align -> invert -> drag -> paste back.

    *Convention*: points are (x, y) in original photo pixels, x right, y down, pixel
    centres at integer coordinates.

    Args:
        photo: uint8 (H, W, 3) RGB array or a path to an image file.
        handles_photo: (N, 2) float handle points, photo pixels.
        targets_photo: (N, 2) float target points, photo pixels.
        G: a `stylegan.Generator`, or a checkpoint path / registry name (resolved with
            `hub.registry`, downloading a registered checkpoint if needed).
        config: the `PipelineConfig`; adapted to the model first, as the CLI does
            (`pipeline.model_defaults.config_for_model`: its face framing, small-model steps
            and radii), changing only fields the caller left at their defaults.
        mask_photo: optional (H, W) bool/float mask, 1 = may move.
        generator_id: identity of G's weights for the inversion cache (None = hash of G).
        progress: progress bars for inversion and drag.
        log: optional callable(str) receiving one line per stage.

    Returns:
        `EditResult` (`.config` is the config actually used).

    Raises:
        PointsError, AlignError (NoFaceFoundError, PhotoError), UnknownCheckpointError: bad input.
        MissingWeightsError: weights (checkpoint, LPIPS backbone, dlib models) unavailable offline.
    """
    if not isinstance(config, PipelineConfig):
        raise PipelineError(f"config must be a PipelineConfig, got {type(config).__name__}")
    say = log or (lambda message: None)
    t_start = time.perf_counter()
    photo = _as_photo(photo, config.align.max_photo_pixels)
    info = _registry_info(G)
    on_device = generator_on_device(G, config, progress, say)
    G = on_device.G
    # The model's own settings (face framing, small-model steps and radii) where the caller set none.
    config = config_for_model(config, G, info)

    # The stages run on a forked RNG seeded with config.seed: reproducible, and the
    # caller's random state is left as it was.
    with seeded(config.seed), deterministic(config.deterministic):
        t = time.perf_counter()
        alignment = align_photo(photo, int(G.img_resolution), config)
        align_seconds = time.perf_counter() - t
        say(f"align: {alignment.kind} crop {alignment.size}x{alignment.size} ({align_seconds:.1f}s)")
        result = edit_aligned(
            photo, alignment, handles_photo, targets_photo, G, config, mask_photo, generator_id, progress, say
        )
    result.seconds["align"] += align_seconds
    if on_device.load_seconds is not None:
        result.seconds["load"] = on_device.load_seconds
    result.seconds["total"] = time.perf_counter() - t_start
    return result
