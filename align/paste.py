"""Put an edited crop back into the original photo so that only the edit changes it."""

from __future__ import annotations

import math

import cv2
import numpy as np

from align.alignment import Alignment
from align.config import PasteConfig
from align.errors import AlignError
from align.geometry import transform_points
from align.photo import check_photo
from align.warp import warp_to_photo_region

__all__ = ["paste_back", "change_mask"]


def _check_crop(crop: np.ndarray, size: int, name: str) -> np.ndarray:
    arr = np.asarray(crop)
    if arr.dtype != np.uint8 or arr.shape != (size, size, 3):
        raise AlignError(f"{name} must be uint8 ({size}, {size}, 3) like Alignment.crop, got {arr.dtype} {arr.shape}")
    return arr


def checked_paste_inputs(
    photo: np.ndarray, alignment: Alignment, edited_crop: np.ndarray, reconstruction_crop: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The checked (photo, edited crop, reconstruction crop) of a paste-back or composite.

    Raises:
        AlignError: not an Alignment, a photo of another size than the alignment's, or a crop
            that is not uint8 (S, S, 3) with S = alignment.size.

    Returns:
        photo uint8 (H, W, 3); edited and reconstruction uint8 (S, S, 3) (`alignment.crop` when
        `reconstruction_crop` is None).
    """
    if not isinstance(alignment, Alignment):
        raise AlignError(f"expected an align.Alignment, got {type(alignment).__name__}")
    photo = check_photo(photo, max_pixels=np.iinfo(np.int64).max)
    if tuple(photo.shape[:2]) != tuple(alignment.photo_shape):
        raise AlignError(
            f"photo is {photo.shape[1]}x{photo.shape[0]} but the alignment was made from a "
            f"{alignment.photo_shape[1]}x{alignment.photo_shape[0]} photo; pass the same photo"
        )
    size = alignment.size
    edited = _check_crop(edited_crop, size, "edited_crop")
    reconstruction = (
        alignment.crop if reconstruction_crop is None else _check_crop(reconstruction_crop, size, "reconstruction_crop")
    )
    return photo, edited, reconstruction


def change_mask(
    edited_crop: np.ndarray,
    reconstruction_crop: np.ndarray,
    config: PasteConfig = PasteConfig(),
    content_box: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Soft mask of where an edit changed the crop.

    A pixel is edited where the difference edited - reconstruction (Gaussian-smoothed by
    `config.diff_sigma` against generator noise) exceeds `config.threshold` on any
    channel. The edited set then grows by `config.dilate` * size (mask 1) and fades to 0
    over a further `config.feather` * size with a smoothstep of the Euclidean distance,
    so the mask is exactly 0 farther than (dilate + feather) * size from any edited pixel.

    Args:
        edited_crop: uint8 (S, S, 3), the generator's output after the edit.
        reconstruction_crop: uint8 (S, S, 3), its output before the edit.
        config: threshold, smoothing, dilation and feather.
        content_box: (x0, y0, x1, y1) crop pixels the mask is limited to; None = all.

    Returns:
        float32 (S, S) in [0, 1]; all zeros when nothing changed.
    """
    size = np.asarray(edited_crop).shape[0]
    edited = _check_crop(edited_crop, size, "edited_crop")
    reconstruction = _check_crop(reconstruction_crop, size, "reconstruction_crop")
    diff = edited.astype(np.float32) - reconstruction.astype(np.float32)
    if config.diff_sigma > 0:
        diff = cv2.GaussianBlur(
            diff, (0, 0), sigmaX=config.diff_sigma, sigmaY=config.diff_sigma, borderType=cv2.BORDER_REFLECT_101
        )
    changed = np.abs(diff).max(axis=2) > config.threshold
    if content_box is not None:
        x0, y0, x1, y1 = content_box
        inside = np.zeros_like(changed)
        inside[y0:y1, x0:x1] = True
        changed &= inside
    if not changed.any():
        return np.zeros((size, size), np.float32)
    # Distance (crop px) of every pixel to the nearest edited pixel.
    distance = cv2.distanceTransform((~changed).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dilate, feather = config.dilate * size, config.feather * size
    if feather <= 0:
        mask = (distance <= dilate).astype(np.float32)
    else:
        t = np.clip(1.0 - (distance - dilate) / feather, 0.0, 1.0)
        mask = t * t * (3.0 - 2.0 * t)  # smoothstep: no kink where the fade starts or ends
    if content_box is not None:
        mask *= inside
    return mask.astype(np.float32)


def paste_back(
    photo: np.ndarray,
    alignment: Alignment,
    edited_crop: np.ndarray,
    reconstruction_crop: np.ndarray | None = None,
    config: PasteConfig = PasteConfig(),
) -> np.ndarray:
    """Warp an edited crop back into the photo, changing only what the edit changed.

    The change mask (`change_mask`, edited vs reconstruction: the reconstruction is what
    the generator makes of the unedited crop, so their difference is the edit alone) is
    warped into the photo with the inverse of `crop_from_photo`, only over the bounding
    box of the mask. In 'delta' mode (default) the photo gets
    `photo + mask * (edited - reconstruction)`: its own detail and colours stay, only the
    change is added, so there is no colour shift and no seam. 'alpha' mode blends the
    edited pixels themselves: `photo * (1 - mask) + edited * mask`. Where the warped mask
    is 0 the photo's bytes are kept exactly; an edited crop equal to the reconstruction
    returns an unchanged copy of the photo.

    *Convention*: x right, y down, pixel centres at integer coordinates in both frames.

    Args:
        photo: uint8 (H, W, 3) RGB, the photo `alignment` was made from (not modified).
        alignment: from `align_face` / `align_box` / `align_center`.
        edited_crop: uint8 (S, S, 3) RGB, S = alignment.size.
        reconstruction_crop: uint8 (S, S, 3), the unedited reconstruction (e.g. the
            inverted latent's image); None = `alignment.crop` (for edits made directly on
            the crop).
        config: mode, threshold, dilation and feather.

    Returns:
        uint8 (H, W, 3) RGB, a new array.
    """
    photo, edited, reconstruction = checked_paste_inputs(photo, alignment, edited_crop, reconstruction_crop)

    out = photo.copy()
    mask = change_mask(edited, reconstruction, config, alignment.content_box)
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return out

    region = _photo_region(xs, ys, alignment, photo.shape[:2])
    if region is None:
        return out  # the edit lies in the padding outside the photo
    rx0, ry0, rx1, ry1 = region

    alpha = warp_to_photo_region(mask, alignment.crop_from_photo, region, "linear", 0.0)
    alpha = np.clip(alpha, 0.0, 1.0)[..., None]
    base = photo[ry0:ry1, rx0:rx1].astype(np.float32)
    if config.mode == "delta":
        delta = edited.astype(np.float32) - reconstruction.astype(np.float32)
        delta_photo = warp_to_photo_region(delta, alignment.crop_from_photo, region, "cubic", 0.0)
        blended = base + alpha * delta_photo
    else:
        edited_photo = warp_to_photo_region(edited.astype(np.float32), alignment.crop_from_photo, region, "cubic", 0.0)
        blended = base + alpha * (edited_photo - base)
    blended = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    untouched = alpha[..., 0] <= 0.0
    blended[untouched] = photo[ry0:ry1, rx0:rx1][untouched]
    out[ry0:ry1, rx0:rx1] = blended
    return out


def _photo_region(
    xs: np.ndarray, ys: np.ndarray, alignment: Alignment, photo_shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The photo pixels an edit at crop pixels (xs, ys) can touch, as (x0, y0, x1, y1), or None if none.

    The crop bounding box of the pixels (+1 px for the bilinear footprint), mapped into the
    photo with `photo_from_crop` and clipped to the photo; x1, y1 exclusive.
    """
    h, w = photo_shape
    cx0, cx1 = xs.min() - 1.5, xs.max() + 1.5
    cy0, cy1 = ys.min() - 1.5, ys.max() + 1.5
    corners = transform_points(alignment.photo_from_crop, np.array([[cx0, cy0], [cx1, cy0], [cx0, cy1], [cx1, cy1]]))
    rx0 = max(0, int(math.floor(corners[:, 0].min())))
    ry0 = max(0, int(math.floor(corners[:, 1].min())))
    rx1 = min(w, int(math.ceil(corners[:, 0].max())) + 1)
    ry1 = min(h, int(math.ceil(corners[:, 1].max())) + 1)
    if rx1 <= rx0 or ry1 <= ry0:
        return None
    return rx0, ry0, rx1, ry1
