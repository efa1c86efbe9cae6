"""The stages of an edit, one plain function each: align, points, mask, invert, drag, paste.

    photo --align--> crop --invert--> (ws pivot, G to edit with) --drag--> edited crop
          <------------------------- paste back ------------------------------+

Callers can run, time or replace them one at a time (`pipeline.edit.edit_photo` chains them;
the editor runs them step by step). `generator_on_device` puts the generator where the
config says, and `reconstruction_metrics` scores an inversion against its crop.

*Convention*: points are float (x, y) pixels, x right, y down, pixel centres at integer
coordinates; `_photo` / `_crop` in a name says the frame. The crop is the generator's
image (crop side = `G.img_resolution`), so crop pixels are generator pixels.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from align import Alignment, align_box, align_center, align_face, change_mask, paste_back, to_crop, to_photo
from align.alignment import points_outside_crop
from align.composite import CompositeResult, composite_warp
from common.device import resolve_device, same_device
from common.hashing import generator_sha256
from draggan import DragResult, drag, resolve_stop_distance
from draggan.loop import DragCallback
from inversion import InversionResult, invert
from pipeline.cache import InversionCache, compute_signature, inversion_key
from pipeline.config import PipelineConfig
from pipeline.errors import PointsError
from pipeline.frames import video_drag_config
from pipeline.io.points import check_points_in_frame
from stylegan.networks import Generator

__all__ = [
    "CropInversion",
    "GeneratorOnDevice",
    "align_photo",
    "points_to_crop",
    "mask_to_crop",
    "invert_crop",
    "drag_crop",
    "paste_edit",
    "composite_edit",
    "reconstruction_metrics",
    "generator_on_device",
]

Log = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class CropInversion:
    """What `invert_crop` returns."""

    inversion: InversionResult  # pivot `ws` and the generator `G` to edit with
    cache_hit: bool  # the inversion came from the cache
    cache_key: str | None  # the inversion-cache key; None when the cache is off


@dataclass(frozen=True, eq=False)
class GeneratorOnDevice:
    """What `generator_on_device` returns."""

    G: Generator  # the generator to edit with, on `device` (a copy if the caller's was elsewhere)
    device: torch.device  # where the stages run
    load_seconds: float | None  # seconds spent loading a checkpoint file; None when G was given


def align_photo(photo: np.ndarray, size: int, config: PipelineConfig = PipelineConfig()) -> Alignment:
    """Stage 1: cut the generator-sized crop out of the photo (face, box or centre).

    Args:
        photo: uint8 (H, W, 3) RGB.
        size: crop side = the generator's img_resolution.
        config: `align_mode`, `box`, `face_index` and `align` are used.

    Returns:
        `align.Alignment`.

    Raises:
        NoFaceFoundError / AlignError / PhotoError (bad input).
    """
    if config.align_mode == "face":
        return align_face(photo, size, face_index=config.face_index, config=config.align)
    if config.align_mode == "box":
        return align_box(photo, config.box, size, config=config.align)
    return align_center(photo, size, config=config.align)


def points_to_crop(
    handles_photo: np.ndarray, targets_photo: np.ndarray, alignment: Alignment
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: check points against the photo and the crop and map them into the crop.

    *Convention*: x right, y down, pixel centres at integer coordinates in both frames.

    Args:
        handles_photo, targets_photo: (N, 2) float (x, y) photo pixels.
        alignment: from `align_photo`.

    Returns:
        (handles_crop, targets_crop): (N, 2) float64 crop pixels, clipped to [0, R - 1]
        (the half pixel at the crop's border, which the drag cannot address).

    Raises:
        PointsError: a point outside the photo or outside the aligned crop's content.
    """
    h, w = alignment.photo_shape
    handles_photo = np.asarray(handles_photo, dtype=np.float64).reshape(-1, 2)
    targets_photo = np.asarray(targets_photo, dtype=np.float64).reshape(-1, 2)
    if handles_photo.shape != targets_photo.shape:
        raise PointsError(f"{len(handles_photo)} handles but {len(targets_photo)} targets; give one target per handle")
    for name, pts in (("handle", handles_photo), ("target", targets_photo)):
        check_points_in_frame(
            pts, w, h, name, f"the {w}x{h} photo", "give (x, y) in original photo pixels, x right, y down"
        )
    size = alignment.size
    mapped = []
    for name, pts in (("handle", handles_photo), ("target", targets_photo)):
        crop_pts = to_crop(pts, alignment)
        outside = points_outside_crop(pts, alignment)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            region = _crop_region_text(alignment)
            raise PointsError(
                f"{name} {i} at photo ({pts[i, 0]:g}, {pts[i, 1]:g}) lies outside the aligned {size}x{size} crop "
                f"(crop ({crop_pts[i, 0]:.1f}, {crop_pts[i, 1]:.1f})); the crop covers {region}: move the point "
                "inside it, or choose another crop with --align box/center"
            )
        mapped.append(np.clip(crop_pts, 0.0, size - 1.0))
    return mapped[0], mapped[1]


def _crop_region_text(alignment: Alignment) -> str:
    x0, y0, x1, y1 = alignment.content_box
    corners = np.array([[x0 - 0.5, y0 - 0.5], [x0 - 0.5, y1 - 0.5], [x1 - 0.5, y1 - 0.5], [x1 - 0.5, y0 - 0.5]])
    photo_corners = to_photo(corners, alignment)
    lo, hi = photo_corners.min(axis=0), photo_corners.max(axis=0)
    return f"about x {lo[0]:.0f}..{hi[0]:.0f}, y {lo[1]:.0f}..{hi[1]:.0f} of the photo"


def mask_to_crop(mask_photo: np.ndarray, alignment: Alignment, threshold: float = 0.5) -> np.ndarray:
    """Warp a photo-sized mask into the crop (bilinear, then thresholded).

    Args:
        mask_photo: (H, W) bool or float in [0, 1], 1 = may move.
        alignment: from `align_photo`.
        threshold: crop pixels whose interpolated value exceeds it may move.

    Returns:
        float32 (R, R) in {0, 1}; outside the photo the crop is fixed (0).

    Raises:
        PointsError: wrong size, or no crop pixel may move.
    """
    mask = np.asarray(mask_photo)
    h, w = alignment.photo_shape
    if mask.shape != (h, w):
        raise PointsError(
            f"mask is {mask.shape[1] if mask.ndim > 1 else '?'}x{mask.shape[0]} but the photo is "
            f"{w}x{h}; draw the mask on the original photo at its full size"
        )
    size = alignment.size
    warped = cv2.warpAffine(
        mask.astype(np.float32),
        alignment.crop_from_photo[:2],
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    crop_mask = (warped > threshold).astype(np.float32)
    if not crop_mask.any():
        raise PointsError("the mask's white region lies outside the aligned crop; paint the region to edit white")
    return crop_mask


def invert_crop(
    G: Generator,
    crop: np.ndarray,
    config: PipelineConfig = PipelineConfig(),
    generator_id: str | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> CropInversion:
    """Stage 3: invert the crop (W, W+ or PTI), through the inversion cache.

    Args:
        G: the generator (not modified; PTI tunes a copy).
        crop: uint8 (R, R, 3) aligned crop.
        config: `inversion_method`, `inversion`, `use_cache`, `cache_dir` are used.
        generator_id: identifies G's weights for the cache key (e.g. 'file:<sha256>');
            None = a hash of G's state dict.
        progress: show a progress bar.
        log: optional one-line status callback.

    Returns:
        `CropInversion` (inversion, cache_hit, cache_key); cache_key is None when the cache is off.
    """
    device = next(G.parameters()).device
    key = None
    cache = None
    if config.use_cache:
        cache = InversionCache(config.cache_dir)
        gid = generator_id if generator_id is not None else "state:" + generator_sha256(G)
        compute = compute_signature(device, G.init_kwargs.get("num_fp16_res", 0))
        key = inversion_key(crop, gid, config.inversion_method, config.inversion, cache.memo_file, compute)
        cached = cache.get(key, G, device=device)
        if cached is not None:
            if log:
                log(f"invert: reusing the cached {config.inversion_method} inversion ({cache.path(key)})")
            return CropInversion(cached, True, key)
    # A writable copy: Alignment.crop is read-only and torch warns on read-only arrays.
    result = invert(G, np.array(crop), method=config.inversion_method, config=config.inversion, progress=progress)
    if cache is not None:
        try:
            cache.put(
                key,
                result,
                meta={
                    "method": config.inversion_method,
                    "generator": generator_id,
                    "compute": compute or "cpu",
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
            )
        except OSError as exc:
            if log:
                log(f"warning: could not write the inversion cache ({exc}); continuing without it")
    return CropInversion(result, False, key)


def drag_crop(
    G: Generator,
    ws: torch.Tensor,
    handles_crop: np.ndarray,
    targets_crop: np.ndarray,
    mask_crop: np.ndarray | None = None,
    config: PipelineConfig = PipelineConfig(),
    progress: bool = True,
    callback: DragCallback | None = None,
    preview_frames: int = 0,
) -> DragResult:
    """Stage 4: drag the handles to the targets in the generator's image.

    With `config.video`, the drag keeps latent snapshots for the video (`video_drag_config`);
    its frames are rendered afterwards by `render_drag_frames`, so a live preview does not
    change the video.

    Args:
        G: the generator to edit with (the tuned copy after PTI).
        ws: (1, num_ws, w_dim) pivot latent.
        handles_crop, targets_crop: (N, 2) float crop (= generator) pixels in [0, R - 1].
        mask_crop: (R, R) float in [0, 1] or None.
        config: `drag` (and `video`, which turns on the latent snapshots) are used.
        progress: show a progress bar.
        callback: optional `callback(step, handles_crop, frame)` after every step (frame: uint8
            (R, R, 3) on the steps that render one, else None); returning True stops the drag
            after that step, keeping its result (the editor's Stop button).
        preview_frames: about how many frames to render during the drag for `callback` (the
            editor's live preview; each costs a full synthesis); 0 = none unless
            `config.drag.frame_every` asks for them.

    Returns:
        `draggan.DragResult`.
    """
    drag_config = video_drag_config(config)
    if preview_frames > 0 and drag_config.frame_every == 0:
        drag_config = dataclasses.replace(drag_config, frame_every=max(1, drag_config.max_steps // preview_frames))
    stop = resolve_stop_distance(drag_config, int(G.img_resolution))
    bar = None
    if progress and drag_config.max_steps > 0:
        from common.progress import progress_bar

        bar = progress_bar(total=drag_config.max_steps, desc="drag", unit="step", leave=False, dynamic_ncols=True)

    targets = np.asarray(targets_crop, dtype=np.float64)

    def on_step(step: int, handles: np.ndarray, image) -> bool:
        if bar is not None:
            # The postfix first, so the redraw (or log line) of this step shows this step's distance.
            bar.set_postfix_str(
                f"max dist {np.hypot(*(handles - targets).T).max():.1f}px (stop {stop:.1f})", refresh=False
            )
            bar.update(1)
        return bool(callback(step, handles, image)) if callback is not None else False

    try:
        return drag(G, ws, handles_crop, targets_crop, mask=mask_crop, config=drag_config, callback=on_step)
    finally:
        if bar is not None:
            bar.close()


def paste_edit(
    photo: np.ndarray,
    alignment: Alignment,
    edited_crop: np.ndarray,
    reconstruction_crop: np.ndarray,
    config: PipelineConfig = PipelineConfig(),
    handles_crop: np.ndarray | None = None,
    final_handles_crop: np.ndarray | None = None,
    mask_crop: np.ndarray | None = None,
    mask_photo: np.ndarray | None = None,
) -> np.ndarray:
    """Stage 5: put the edit back into the photo (`composite_edit`; untouched pixels stay byte-identical).

    Returns:
        uint8 (H, W, 3) RGB, a new array.
    """
    if config.paste.composite == "delta":
        return paste_back(photo, alignment, edited_crop, reconstruction_crop, config=config.paste)
    return composite_edit(
        photo,
        alignment,
        edited_crop,
        reconstruction_crop,
        config,
        handles_crop,
        final_handles_crop,
        mask_crop,
        mask_photo,
    ).photo


def composite_edit(
    photo: np.ndarray,
    alignment: Alignment,
    edited_crop: np.ndarray,
    reconstruction_crop: np.ndarray,
    config: PipelineConfig = PipelineConfig(),
    handles_crop: np.ndarray | None = None,
    final_handles_crop: np.ndarray | None = None,
    mask_crop: np.ndarray | None = None,
    mask_photo: np.ndarray | None = None,
) -> CompositeResult:
    """Stage 5 with its working images: the composite `config.paste.composite` names.

    'warp' (`align.composite_warp`) moves the photo's own pixels by the edit's displacement
    field, honouring the drag's handles (`handles_crop` -> `final_handles_crop`) and the
    fixed region of `mask_crop`; 'delta' (`align.paste_back`) adds the change (its field is
    zero, its weight the change mask).

    Args:
        photo: uint8 (H, W, 3) RGB.
        alignment: from `align_photo`.
        edited_crop, reconstruction_crop: uint8 (R, R, 3), after and before the drag.
        config: `paste` is used.
        handles_crop, final_handles_crop: (N, 2) float crop pixels: the drag's handles and
            their tracked end positions (`DragResult.handles`); None = unknown.
        mask_crop: (R, R) float32, 1 = may move (`mask_to_crop`), or None.
        mask_photo: the user's (H, W) mask on the photo, or None: where it is 0 the photo
            keeps its bytes exactly ('warp').

    Returns:
        `align.CompositeResult` (photo, field_crop (R, R, 2), weight_crop (R, R)).
    """
    paste = config.paste
    if paste.composite == "warp":
        return composite_warp(
            photo,
            alignment,
            edited_crop,
            reconstruction_crop,
            handles_crop,
            final_handles_crop,
            mask_crop,
            paste,
            movable_photo=mask_photo,
        )
    out = paste_back(photo, alignment, edited_crop, reconstruction_crop, config=paste)
    weight = change_mask(edited_crop, reconstruction_crop, paste, alignment.content_box)
    return CompositeResult(out, np.zeros((*weight.shape, 2), np.float32), weight)


def reconstruction_metrics(
    reconstruction: np.ndarray,
    target: np.ndarray,
    config: PipelineConfig = PipelineConfig(),
    device: torch.device | str = "cpu",
) -> dict:
    """PSNR (dB), SSIM and LPIPS of the reconstruction against the aligned crop.

    LPIPS uses the net the inversion used last (PTI: `pti_lpips_net`, 'alex' by default,
    the usual metric; W / W+: `lpips_net`) with `lpips_backbone`, so it needs no other
    weights and never downloads; if the backbone is unavailable the value is None and
    'lpips_error' says why.

    Returns:
        {'psnr': float (inf when identical), 'ssim': float, 'lpips': float | None,
         'lpips_net': str, 'lpips_backbone': str}
    """
    from inversion import metrics

    inv = config.inversion
    net = inv.pti_lpips_net if config.inversion_method == "pti" else inv.lpips_net
    out: dict = {
        "psnr": metrics.psnr(target, reconstruction),
        "ssim": metrics.ssim(target, reconstruction),
        "lpips": None,
        "lpips_net": net,
        "lpips_backbone": inv.lpips_backbone or "torchvision cache",
    }
    try:
        out["lpips"] = metrics.lpips_distance(
            target, reconstruction, net=net, backbone=inv.lpips_backbone, device=device
        )
    except Exception as exc:  # noqa: BLE001 - a metric must not fail the edit
        out["lpips_error"] = (str(exc) or type(exc).__name__).splitlines()[0]
    return out


def generator_on_device(
    G: Generator | str | os.PathLike, config: PipelineConfig, progress: bool = True, log: Log | None = None
) -> GeneratorOnDevice:
    """The generator to edit with, on the device `config.device` names.

    Args:
        G: a `stylegan.Generator`, or a checkpoint path / registry name (resolved with
            `hub.registry`, downloading a registered checkpoint if needed).
        config: `device` is used ('auto' keeps a Generator where it is).
        progress: download progress bar.
        log: optional one-line status callback.

    Returns:
        `GeneratorOnDevice` (G, device, load_seconds): a Generator given on another device is
        deep-copied there (the caller's is never moved); load_seconds is None unless a file was loaded.
    """
    if isinstance(G, (str, os.PathLike)):
        from hub.registry import load_checkpoint, resolve_checkpoint

        device = resolve_device(config.device)
        t = time.perf_counter()
        G = load_checkpoint(resolve_checkpoint(G, progress=progress, log=log), device=str(device))
        return GeneratorOnDevice(G, device, time.perf_counter() - t)
    g_device = next(G.parameters()).device
    device = g_device if config.device == "auto" else resolve_device(config.device)
    if not same_device(device, g_device):
        G = copy.deepcopy(G).to(device)
    return GeneratorOnDevice(G, device, None)
