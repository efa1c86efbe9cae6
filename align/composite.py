"""Carry a generator edit's motion onto the photo's own pixels: `composite_warp`.

    reconstruction --(dense backward field, honouring the tracked handles)--> edited crop
    photo(x)  ->  photo(photo_from_crop(c + w(c) f(c))) + w(c) * residual(c),  c = crop_from_photo(x)

The photo is *moved* by the displacement the edit made in the generator's image (no ghost of
the old content, the photo's own detail and colours at full resolution), and what motion
cannot explain (teeth, shading) is added as a residual at generator resolution. A weight
w in [0, 1] (crop frame) says where: only where the edit moved or changed something, never
within a band along the aligned crop's border, never on a fixed region; every photo pixel
where it is 0 keeps its bytes.

*Convention*: x right, y down, pixel centres at integer coordinates in both frames; a field
`f` (S, S, 2) holds (dx, dy) crop pixels such that edited(p) ~ reconstruction(p + f(p)).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from align.alignment import Alignment
from align.config import PasteConfig
from align.errors import AlignError
from align.geometry import transform_points
from align.paste import _check_crop, _photo_region, checked_paste_inputs
from align.warp import _is_affine, warp_to_photo_region

__all__ = [
    "CompositeResult",
    "backward_field",
    "composite_weight",
    "composite_layers",
    "composite_from_layers",
    "composite_warp",
    "field_image",
    "weight_image",
]


@dataclass(frozen=True, eq=False)
class CompositeResult:
    """What `composite_warp` returns.

    Attributes:
        photo: uint8 (H, W, 3) RGB, the composite (a new array).
        field_crop: float32 (S, S, 2), the backward displacement (dx, dy) in crop pixels:
            edited(p) ~ reconstruction(p + field(p)).
        weight_crop: float32 (S, S) in [0, 1], where the edit is carried onto the photo.
    """

    photo: np.ndarray
    field_crop: np.ndarray
    weight_crop: np.ndarray


def _grey(image: np.ndarray, scale: int) -> np.ndarray:
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if scale > 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return grey


def _optical_flow(edited: np.ndarray, reconstruction: np.ndarray, method: str, min_size: int) -> np.ndarray:
    """Backward flow edited -> reconstruction (S, S, 2) float32, crop pixels.

    Small crops are enlarged by an integer factor to at least `min_size` px first: DIS and
    Farneback work on 8-px patches / pyramids that a 64-px face barely fills.
    """
    size = edited.shape[0]
    scale = max(1, int(np.ceil(min_size / size)))
    a, b = _grey(edited, scale), _grey(reconstruction, scale)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(a, b, None)
    else:
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 5, 5, 1.1, 0)
    if scale > 1:
        # Pixel centres at integer coordinates: enlarged pixel u shows crop point (u - (s-1)/2) / s.
        flow = cv2.resize(flow, (size, size), interpolation=cv2.INTER_AREA) / scale
    return flow.astype(np.float32)


def _handle_correction(
    field: np.ndarray, handles_crop: np.ndarray, final_handles_crop: np.ndarray, sigma: float
) -> np.ndarray:
    """Smooth (S, S, 2) correction so that field(final handle) = handle - final handle.

    Each handle's residual spreads with a Gaussian of `sigma` px, normalised where handles
    overlap (Shepard weights that never exceed 1), so a lone handle is honoured exactly.
    """
    size = field.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    num = np.zeros_like(field)
    den = np.zeros((size, size), np.float32)
    for h, q in zip(handles_crop, final_handles_crop):
        qx, qy = float(q[0]), float(q[1])
        ix, iy = int(np.clip(round(qx), 0, size - 1)), int(np.clip(round(qy), 0, size - 1))
        residual = (np.asarray(h, np.float32) - np.asarray(q, np.float32)) - field[iy, ix]
        g = np.exp(-((xs - qx) ** 2 + (ys - qy) ** 2) / (2.0 * sigma * sigma)).astype(np.float32)
        num += g[..., None] * residual
        den += g
    return num / np.maximum(den, 1.0)[..., None]


def backward_field(
    edited_crop: np.ndarray,
    reconstruction_crop: np.ndarray,
    handles_crop: np.ndarray | None = None,
    final_handles_crop: np.ndarray | None = None,
    config: PasteConfig = PasteConfig(),
) -> np.ndarray:
    """Dense displacement from the edited crop back to the reconstruction.

    `config.flow`: 'dis' or 'farneback' (OpenCV optical flow, no learned weights) or
    'handles' (no flow: only the drag's correspondences). The drag's tracked handles are
    known correspondences (the content at `handles_crop[i]` in the reconstruction sits at
    `final_handles_crop[i]` in the edited image): a smooth correction (sigma
    `config.handle_sigma` * S) makes the field honour them; the field is then smoothed with
    `config.field_sigma` * S against flow noise.

    Args:
        edited_crop, reconstruction_crop: uint8 (S, S, 3) RGB.
        handles_crop, final_handles_crop: (N, 2) float crop pixels (the drag's start and
            tracked end positions), or None for none.
        config: `flow`, `flow_min_size`, `handle_sigma`, `field_sigma`.

    Returns:
        float32 (S, S, 2) (dx, dy): edited(p) ~ reconstruction(p + field(p)).
    """
    size = np.asarray(edited_crop).shape[0]
    edited = _check_crop(edited_crop, size, "edited_crop")
    reconstruction = _check_crop(reconstruction_crop, size, "reconstruction_crop")
    if config.flow == "handles":
        field = np.zeros((size, size, 2), np.float32)
    else:
        field = _optical_flow(edited, reconstruction, config.flow, config.flow_min_size)
    if config.field_sigma > 0:
        s = config.field_sigma * size
        field = cv2.GaussianBlur(field, (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT_101)
    if handles_crop is not None and final_handles_crop is not None and len(handles_crop) > 0:
        h = np.asarray(handles_crop, np.float64).reshape(-1, 2)
        q = np.asarray(final_handles_crop, np.float64).reshape(-1, 2)
        if h.shape != q.shape:
            raise AlignError(f"{len(h)} handles but {len(q)} final handles; give one tracked end per handle")
        field = field + _handle_correction(field, h, q, config.handle_sigma * size)
    return field.astype(np.float32)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _path_distance(size: int, handles_crop: np.ndarray, final_handles_crop: np.ndarray) -> np.ndarray:
    """Distance (crop px) of every pixel to the nearest handle path (the segment handle -> tracked end)."""
    scale = 8  # sub-pixel segment ends: draw at 1/8 px (cv2.line's `shift`)
    paths = np.full((size, size), 255, np.uint8)
    for h, q in zip(np.asarray(handles_crop, np.float64), np.asarray(final_handles_crop, np.float64)):
        a = tuple(int(v) for v in np.rint(h * scale))
        b = tuple(int(v) for v in np.rint(q * scale))
        cv2.line(paths, a, b, 0, thickness=1, lineType=cv2.LINE_8, shift=3)
    return cv2.distanceTransform(paths, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def composite_weight(
    field: np.ndarray,
    residual: np.ndarray,
    content_box: tuple[int, int, int, int],
    movable_crop: np.ndarray | None = None,
    config: PasteConfig = PasteConfig(),
    path_distance: np.ndarray | None = None,
) -> np.ndarray:
    """Where the edit is carried onto the photo, in the crop frame.

    A pixel is edited where the field moves it more than `config.motion_threshold` * S or
    the smoothed residual exceeds `config.threshold` levels; the set grows by
    `config.dilate` * S and fades over `config.feather` * S (smoothstep). The weight is then
    exactly 0 within `config.border` * S of the content box's edge (fading in over a further
    `config.feather` * S) and on the fixed region (movable_crop == 0, grown by 2 px so the
    bilinear warp into the photo cannot leak into it).

    Args:
        field: float32 (S, S, 2) crop pixels.
        residual: float32 (S, S, 3) levels, edited minus the warped reconstruction.
        content_box: (x0, y0, x1, y1) crop pixels holding photo content, exclusive ends.
        movable_crop: (S, S) float, 1 = may move, 0 = fixed; None = everything may move.
        config: thresholds and lengths.
        path_distance: float32 (S, S), crop px to the nearest handle path; with
            `config.locality` > 0 the weight is 1 within `locality` * S of a path and 0
            beyond twice that (a drag edits near its points; the generator's drift
            elsewhere stays out of the photo). None = no such limit.

    Returns:
        float32 (S, S) in [0, 1].
    """
    size = field.shape[0]
    moving = np.hypot(field[..., 0], field[..., 1]) > config.motion_threshold * size
    diff = residual
    if config.diff_sigma > 0:
        diff = cv2.GaussianBlur(residual, (0, 0), sigmaX=config.diff_sigma, borderType=cv2.BORDER_REFLECT_101)
    edited = moving | (np.abs(diff).max(axis=2) > config.threshold)
    if not edited.any():
        return np.zeros((size, size), np.float32)
    distance = cv2.distanceTransform((~edited).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    feather = max(config.feather * size, 1e-6)
    weight = _smoothstep(1.0 - (distance - config.dilate * size) / feather)
    # Distance (crop px) of each pixel centre inside the content box to its edge.
    x0, y0, x1, y1 = content_box
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    inside = np.minimum.reduce([xs - x0 + 0.5, x1 - 0.5 - xs, ys - y0 + 0.5, y1 - 0.5 - ys])
    weight *= _smoothstep((inside - config.border * size) / feather)
    if path_distance is not None and config.locality > 0:
        reach = config.locality * size
        weight *= _smoothstep(2.0 - path_distance / reach)
    if movable_crop is not None:
        fixed = (np.asarray(movable_crop, np.float32) <= 0.5).astype(np.uint8)
        if fixed.any():
            weight[cv2.dilate(fixed, np.ones((5, 5), np.uint8)) > 0] = 0.0
    return weight.astype(np.float32)


def _residual_gate(residual: np.ndarray, config: PasteConfig) -> np.ndarray:
    """(S, S, 1) float32 in [0, 1]: 0 where the smoothed residual is under `residual_threshold`, 1 above twice it."""
    if config.residual_threshold <= 0:
        return np.ones((*residual.shape[:2], 1), np.float32)
    strength = np.abs(residual).max(axis=2)
    if config.diff_sigma > 0:
        strength = cv2.GaussianBlur(strength, (0, 0), sigmaX=config.diff_sigma, borderType=cv2.BORDER_REFLECT_101)
    gate = _smoothstep(strength / config.residual_threshold - 1.0)
    return gate[..., None].astype(np.float32)


def _remap_crop(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """image(p + field(p)) at every crop pixel p, float32 (bilinear, edge replicated)."""
    size = image.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return cv2.remap(
        image.astype(np.float32),
        xs + field[..., 0],
        ys + field[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def composite_layers(
    alignment: Alignment,
    edited: np.ndarray,
    reconstruction: np.ndarray,
    handles_crop: np.ndarray | None = None,
    final_handles_crop: np.ndarray | None = None,
    movable_crop: np.ndarray | None = None,
    config: PasteConfig = PasteConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """The composite's field and weight in the crop frame (`composite_warp`'s first half).

    A video smooths them over time before `composite_from_layers` applies them.

    Args:
        alignment: gives the crop size and its content box.
        edited, reconstruction: uint8 (S, S, 3), checked (`checked_paste_inputs`).
        handles_crop, final_handles_crop, movable_crop, config: as in `composite_warp`.

    Returns:
        (field float32 (S, S, 2) crop px, weight float32 (S, S) in [0, 1]); both zero when
        the edit changed nothing.
    """
    size = alignment.size
    if np.array_equal(edited, reconstruction):
        return np.zeros((size, size, 2), np.float32), np.zeros((size, size), np.float32)
    field = backward_field(edited, reconstruction, handles_crop, final_handles_crop, config)
    residual = edited.astype(np.float32) - _remap_crop(reconstruction, field)
    paths = None
    if handles_crop is not None and final_handles_crop is not None and len(handles_crop) > 0:
        paths = _path_distance(size, handles_crop, final_handles_crop)
    weight = composite_weight(field, residual, alignment.content_box, movable_crop, config, paths)
    return field, weight


def composite_from_layers(
    photo: np.ndarray,
    alignment: Alignment,
    edited: np.ndarray,
    reconstruction: np.ndarray,
    field: np.ndarray,
    weight: np.ndarray,
    config: PasteConfig = PasteConfig(),
    movable_photo: np.ndarray | None = None,
) -> CompositeResult:
    """Apply a field and weight (`composite_layers`) to the photo: `composite_warp`'s second half.

    Args:
        photo, alignment, movable_photo, config: as in `composite_warp` (checked inputs).
        edited, reconstruction: uint8 (S, S, 3).
        field: float32 (S, S, 2) crop px; weight: float32 (S, S) in [0, 1].

    Returns:
        `CompositeResult`; photo pixels where the weight is 0 keep their bytes.
    """
    out = photo.copy()
    if not np.any(weight > 0):
        return CompositeResult(out, field, weight)
    # The residual that goes with the displacement actually applied (w * field).
    residual = edited.astype(np.float32) - _remap_crop(reconstruction, field * weight[..., None])
    residual *= np.float32(config.residual) * _residual_gate(residual, config)
    ys, xs = np.nonzero(weight)
    region = _photo_region(xs, ys, alignment, photo.shape[:2]) if xs.size else None
    if region is not None:
        x0, y0, x1, y1 = region
        pasted = _composite_region(photo, alignment, region, field, weight, residual)
        if movable_photo is not None:
            fixed = np.asarray(movable_photo, dtype=np.float32)[y0:y1, x0:x1] <= 0.5
            pasted[fixed] = photo[y0:y1, x0:x1][fixed]
        out[y0:y1, x0:x1] = pasted
    return CompositeResult(out, field, weight)


def composite_warp(
    photo: np.ndarray,
    alignment: Alignment,
    edited_crop: np.ndarray,
    reconstruction_crop: np.ndarray | None = None,
    handles_crop: np.ndarray | None = None,
    final_handles_crop: np.ndarray | None = None,
    movable_crop: np.ndarray | None = None,
    config: PasteConfig = PasteConfig(),
    movable_photo: np.ndarray | None = None,
) -> CompositeResult:
    """Move the photo's own pixels as the edit moved the generator's, plus the appearance residual.

    Each photo pixel x in the edit's region maps to crop point c = crop_from_photo(x); it
    takes the photo's colour at photo_from_crop(c + w(c) field(c)) (cubic, full resolution)
    plus w(c) * residual(c), where residual = edited - reconstruction(p + w field) at
    generator resolution (bilinear). Photo pixels where w is 0 keep their bytes.

    *Convention*: x right, y down, pixel centres at integer coordinates in both frames.

    Args:
        photo: uint8 (H, W, 3) RGB, the photo `alignment` was made from (not modified).
        alignment: from `align_face` / `align_box` / `align_center`.
        edited_crop: uint8 (S, S, 3) RGB, S = alignment.size.
        reconstruction_crop: uint8 (S, S, 3), the unedited reconstruction; None = `alignment.crop`.
        handles_crop, final_handles_crop: (N, 2) float crop pixels, the drag's handles and
            their tracked end positions; None = no known correspondences.
        movable_crop: (S, S) float, 1 = may move, 0 = fixed by the user's mask; None = all.
        config: the `PasteConfig` (flow and weight fields).
        movable_photo: (H, W) bool or float, the user's mask on the photo (1 = may move):
            photo pixels where it is <= 0.5 keep their bytes exactly; None = no such mask.

    Returns:
        `CompositeResult` (photo, field_crop, weight_crop).
    """
    photo, edited, reconstruction = checked_paste_inputs(photo, alignment, edited_crop, reconstruction_crop)
    field, weight = composite_layers(
        alignment, edited, reconstruction, handles_crop, final_handles_crop, movable_crop, config
    )
    return composite_from_layers(photo, alignment, edited, reconstruction, field, weight, config, movable_photo)


def _composite_region(
    photo: np.ndarray,
    alignment: Alignment,
    region: tuple[int, int, int, int],
    field: np.ndarray,
    weight: np.ndarray,
    residual: np.ndarray,
) -> np.ndarray:
    """The composite's uint8 pixels of one photo region (x0, y0, x1, y1); weight 0 keeps the bytes."""
    rx0, ry0, rx1, ry1 = region
    crop_from_photo = alignment.crop_from_photo
    w = np.clip(warp_to_photo_region(weight, crop_from_photo, region, "linear", 0.0), 0.0, 1.0)
    f = warp_to_photo_region(field, crop_from_photo, region, "linear", 0.0)
    res = warp_to_photo_region(residual, crop_from_photo, region, "linear", 0.0)
    wf = w[..., None] * f  # the displacement applied, crop pixels
    map_x, map_y = _source_points(alignment, region, wf)
    moved = cv2.remap(photo, map_x, map_y, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    blended = moved.astype(np.float32)
    blended += w[..., None] * res
    blended = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    untouched = w <= 0.0
    blended[untouched] = photo[ry0:ry1, rx0:rx1][untouched]
    return blended


def _source_points(
    alignment: Alignment, region: tuple[int, int, int, int], displacement_crop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Photo point each region pixel takes its colour from: photo_from_crop(crop_from_photo(x) + d).

    Returns float32 (h, w) maps x, y for cv2.remap; exact for projective matrices, and a
    cheap linear form (x + photo_from_crop's 2x2 part @ d) for affine ones.
    """
    rx0, ry0, rx1, ry1 = region
    p = alignment.photo_from_crop
    dx, dy = displacement_crop[..., 0], displacement_crop[..., 1]
    if _is_affine(p):
        a, b, c, d = (np.float32(v) for v in (p[0, 0], p[0, 1], p[1, 0], p[1, 1]))
        xs = np.arange(rx0, rx1, dtype=np.float32)[None, :]
        ys = np.arange(ry0, ry1, dtype=np.float32)[:, None]
        return xs + a * dx + b * dy, ys + c * dx + d * dy
    grid = np.stack(np.meshgrid(np.arange(rx0, rx1), np.arange(ry0, ry1)), axis=-1).reshape(-1, 2)
    crop_points = transform_points(alignment.crop_from_photo, grid) + displacement_crop.reshape(-1, 2)
    source = transform_points(p, crop_points).reshape(*displacement_crop.shape[:2], 2).astype(np.float32)
    return source[..., 0], source[..., 1]


def field_image(field: np.ndarray, max_px: float | None = None) -> np.ndarray:
    """A displacement field as a colour image: hue = direction, brightness = length.

    Args:
        field: float (S, S, 2) (dx, dy) pixels.
        max_px: the length shown at full brightness; None = the field's largest length.

    Returns:
        uint8 (S, S, 3) RGB; black where the field is 0.
    """
    dx, dy = field[..., 0].astype(np.float32), field[..., 1].astype(np.float32)
    length, angle = cv2.cartToPolar(dx, dy, angleInDegrees=True)
    top = float(length.max()) if max_px is None else float(max_px)
    hsv = np.zeros((*length.shape, 3), np.uint8)
    hsv[..., 0] = np.rint(angle / 2.0).astype(np.uint8) % 180  # OpenCV hue is 0-179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(np.rint(255.0 * length / max(top, 1e-6)), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def weight_image(weight: np.ndarray) -> np.ndarray:
    """A weight in [0, 1] as a uint8 (S, S, 3) grey image (white = 1)."""
    grey = np.clip(np.rint(255.0 * np.asarray(weight, np.float32)), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
