"""One exact, anti-aliased resample of a photo into a crop: `warp_to_crop`.

The crop is *exactly* `crop(p) = photo(photo_from_crop @ p)` for every crop pixel p,
whatever the internal shortcuts: an integer box reduction (a block average whose geometry
is folded into the matrix), a Gaussian pre-filter, and padding beyond the photo border.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from align.errors import AlignError
from align.geometry import crop_corners, transform_points
from align.photo import check_photo

__all__ = ["warp_to_crop", "warp_to_photo_region"]

_CV_INTERP = {"lanczos": cv2.INTER_LANCZOS4, "cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
_KERNEL_RADIUS = {"lanczos": 4, "cubic": 2, "linear": 1}

# FFHQ border treatment (NVlabs ffhq-dataset, recreate_aligned_images): the photo is
# reflect-padded by at least 0.3 * quad size, blurred with sigma = 0.02 * quad size
# (fully in the padding, fading out 0.1 quad sizes inside), and mixed toward the median
# colour in proportion to the distance into the padding.
_FFHQ_PAD = 0.3
_FFHQ_BORDER = 0.1
_FFHQ_BLUR = 0.02


def _is_affine(m: np.ndarray) -> bool:
    return bool(np.allclose(m[2], (0.0, 0.0, 1.0), atol=1e-12))


def _photo_px_per_crop_px(photo_from_crop: np.ndarray, size: int) -> float:
    # Local scale at the crop centre (exact for affine maps); the geometric mean of the
    # two axes, so anisotropic maps are neither over- nor under-filtered on average.
    c = (size - 1) * 0.5
    pts = np.array([[c, c], [c + 1.0, c], [c, c + 1.0]])
    q = transform_points(photo_from_crop, pts)
    jac = np.stack([q[1] - q[0], q[2] - q[0]], axis=1)
    return math.sqrt(abs(float(np.linalg.det(jac))))


def _pad(img: np.ndarray, top: int, bottom: int, left: int, right: int, mode: str) -> np.ndarray:
    if top == bottom == left == right == 0:
        return img
    if mode == "constant":
        return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    h, w = img.shape[:2]
    if h < 2 or w < 2:  # reflection needs two pixels
        return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_REPLICATE)
    # np.pad's 'reflect' (edge pixel not repeated, as FFHQ) also handles pads longer than the image.
    return np.pad(img, ((top, bottom), (left, right), (0, 0)), mode="reflect")


def _ffhq_border_blend(canvas: np.ndarray, valid: tuple[int, int, int, int], quad_size: float) -> np.ndarray:
    """FFHQ's reflect + blur + median fade, on a canvas whose `valid` cells hold real pixels.

    `valid` = (x0, y0, x1, y1), exclusive ends, in canvas pixels; `quad_size` is the crop
    side in canvas pixels.
    """
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = valid
    img = canvas.astype(np.float32)
    # Pad length per side: at least 0.3 quad sizes, as FFHQ.
    min_pad = max(_FFHQ_PAD * quad_size, 1.0)
    pad_l, pad_r = max(x0, min_pad), max(w - x1, min_pad)
    pad_t, pad_b = max(y0, min_pad), max(h - y1, min_pad)
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    # Signed distance outside the valid area over the pad length; < 0 inside.
    mx = np.maximum((x0 - xs) / pad_l, (xs - (x1 - 1)) / pad_r)
    my = np.maximum((y0 - ys) / pad_t, (ys - (y1 - 1)) / pad_b)
    mask = np.maximum(mx[None, :], my[:, None])
    sigma = max(_FFHQ_BLUR * quad_size, 0.3)
    blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    img += (blurred - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)[..., None]
    median = np.median(canvas[y0:y1, x0:x1].reshape(-1, canvas.shape[2]), axis=0).astype(np.float32)
    img += (median - img) * np.clip(mask, 0.0, 1.0)[..., None]
    return img


def warp_to_crop(
    photo: np.ndarray,
    crop_from_photo: np.ndarray,
    size: int,
    pad_mode: str = "reflect_blur",
    interpolation: str = "lanczos",
    antialias: bool = True,
) -> np.ndarray:
    """Resample a photo into a size x size crop through `crop_from_photo`, once.

    When the crop shrinks the photo by s >= 2, the photo region is first averaged over
    k x k blocks (k = floor(s), cv2.INTER_AREA with an integer factor) and the rest of the
    shrink is low-passed with a Gaussian; the block geometry is folded into the matrix, so
    the crop is still exactly described by `crop_from_photo`. Beyond the photo border the
    crop sees `pad_mode` content: 'reflect_blur' (FFHQ: mirror, blur and fade to the
    median colour; only when the crop really leaves the photo, otherwise mirror),
    'reflect' (mirror), 'constant' (black).

    *Convention*: x right, y down, pixel centres at integer coordinates in both frames;
    crop pixel (i, j) shows photo point photo_from_crop @ (j, i, 1).

    Args:
        photo: uint8 (H, W, 3) RGB.
        crop_from_photo: (3, 3) float64, affine or projective.
        size: crop side S (> 0).
        pad_mode: 'reflect_blur' | 'reflect' | 'constant'.
        interpolation: 'lanczos' | 'cubic' | 'linear'.
        antialias: low-pass before shrinking.

    Returns:
        uint8 (S, S, 3) RGB crop.
    """
    photo, crop_from_photo, size = _check_warp_args(photo, crop_from_photo, size, pad_mode, interpolation)
    photo_from_crop = np.linalg.inv(crop_from_photo)
    scale = _photo_px_per_crop_px(photo_from_crop, size)
    k = max(1, int(math.floor(scale + 1e-6))) if antialias else 1  # tolerance: 4.0 may come out as 3.9999999
    residual = scale / k
    sigma = 0.5 * math.sqrt(residual * residual - 1.0) if (antialias and residual > 1.05) else 0.0
    canvas, sx, sy = _block_canvas(photo, photo_from_crop, size, k, sigma, scale, pad_mode, interpolation)
    # Canvas cell u averages photo pixels sx + k*u ... sx + k*u + k - 1: its centre is
    # at photo x = sx + k*u + (k - 1) / 2.
    photo_from_canvas = np.array([[k, 0.0, sx + (k - 1) * 0.5], [0.0, k, sy + (k - 1) * 0.5], [0.0, 0.0, 1.0]])
    return _resample(canvas, crop_from_photo @ photo_from_canvas, size, pad_mode, interpolation)


def _check_warp_args(
    photo: np.ndarray, crop_from_photo: np.ndarray, size: int, pad_mode: str, interpolation: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated (photo, crop_from_photo float64 (3, 3), size) for `warp_to_crop`; raises AlignError."""
    if interpolation not in _CV_INTERP:
        raise AlignError(f"interpolation must be one of {sorted(_CV_INTERP)}, got {interpolation!r}")
    if pad_mode not in ("reflect_blur", "reflect", "constant"):
        raise AlignError(f"pad_mode must be 'reflect_blur', 'reflect' or 'constant', got {pad_mode!r}")
    photo = check_photo(photo, max_pixels=np.iinfo(np.int64).max)
    size = int(size)
    if size < 1:
        raise AlignError(f"crop size must be positive, got {size}")
    crop_from_photo = np.asarray(crop_from_photo, dtype=np.float64)
    if crop_from_photo.shape != (3, 3) or not np.all(np.isfinite(crop_from_photo)):
        raise AlignError(f"crop_from_photo must be a finite 3x3 matrix, got shape {crop_from_photo.shape}")
    if abs(np.linalg.det(crop_from_photo)) < 1e-12:
        raise AlignError("crop_from_photo is singular (zero scale); check the landmarks or box")
    return photo, crop_from_photo, size


def _block_canvas(
    photo: np.ndarray,
    photo_from_crop: np.ndarray,
    size: int,
    k: int,
    sigma: float,
    scale: float,
    pad_mode: str,
    interpolation: str,
) -> tuple[np.ndarray, int, int]:
    """The photo area the crop shows, averaged over k x k blocks, padded and low-passed.

    Returns:
        (canvas (ny, nx, 3) uint8, sx, sy): canvas cell (u, v) covers the photo pixels
        sx + k*u ... sx + k*u + k - 1 (and likewise in y).
    """
    h, w = photo.shape[:2]
    # Photo area the crop shows, and the block grid (cells of k x k photo pixels) covering it
    # plus a margin for the interpolation kernel and the pre-filter.
    corners = transform_points(photo_from_crop, crop_corners(size))
    (bx0, by0), (bx1, by1) = corners.min(axis=0), corners.max(axis=0)
    margin = _KERNEL_RADIUS[interpolation] + 2 + int(math.ceil(3 * sigma))

    def grid(lo: float, hi: float, n_photo: int) -> tuple[int, int, int, int]:
        # First photo index of the grid, number of cells, and the range of cells fully in the photo.
        start = int(math.floor(lo + 0.5)) - margin * k
        stop = int(math.floor(hi + 0.5)) + 1 + margin * k
        if start < 0 < stop:  # put a cell edge on the photo edge so no border pixel is lost
            start = -k * int(math.ceil(-start / k))
        cells = int(math.ceil((stop - start) / k))
        first_in = max(0, int(math.ceil(-start / k)))
        end_in = min(cells, (n_photo - start) // k)
        return start, cells, first_in, end_in

    sx, nx, ix0, ix1 = grid(bx0, bx1, w)
    sy, ny, iy0, iy1 = grid(by0, by1, h)
    if ix1 <= ix0 or iy1 <= iy0:
        raise AlignError("the crop lies entirely outside the photo; check the box or the matrix")

    region = photo[sy + iy0 * k : sy + iy1 * k, sx + ix0 * k : sx + ix1 * k]
    if k > 1:
        region = cv2.resize(region, (ix1 - ix0, iy1 - iy0), interpolation=cv2.INTER_AREA)

    leaves_photo = bx0 < -0.5 or by0 < -0.5 or bx1 > w - 0.5 or by1 > h - 0.5
    base_pad = "reflect" if pad_mode == "reflect_blur" else pad_mode
    canvas = _pad(np.ascontiguousarray(region), iy0, ny - iy1, ix0, nx - ix1, base_pad)
    if pad_mode == "reflect_blur" and leaves_photo:
        # FFHQ's valid area is the photo cut to the quad's bounding box plus a 0.1 quad border.
        quad_size = size * scale / k
        border = _FFHQ_BORDER * quad_size
        vx0 = max(ix0, int(math.floor((bx0 + 0.5 - sx) / k - border)))
        vy0 = max(iy0, int(math.floor((by0 + 0.5 - sy) / k - border)))
        vx1 = min(ix1, int(math.ceil((bx1 + 0.5 - sx) / k + border)))
        vy1 = min(iy1, int(math.ceil((by1 + 0.5 - sy) / k + border)))
        canvas = _ffhq_border_blend(canvas, (vx0, vy0, vx1, vy1), quad_size)
    if sigma > 0:
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    return canvas, sx, sy


def _resample(
    canvas: np.ndarray, crop_from_canvas: np.ndarray, size: int, pad_mode: str, interpolation: str
) -> np.ndarray:
    """One OpenCV warp of the canvas into the (size, size, 3) uint8 crop."""
    border_mode = cv2.BORDER_CONSTANT if pad_mode == "constant" else cv2.BORDER_REPLICATE
    flags = _CV_INTERP[interpolation]
    if _is_affine(crop_from_canvas):
        crop = cv2.warpAffine(
            canvas, crop_from_canvas[:2], (size, size), flags=flags, borderMode=border_mode, borderValue=(0, 0, 0)
        )
    else:
        crop = cv2.warpPerspective(
            canvas, crop_from_canvas, (size, size), flags=flags, borderMode=border_mode, borderValue=(0, 0, 0)
        )
    if crop.dtype != np.uint8:
        crop = np.clip(np.rint(crop), 0, 255).astype(np.uint8)
    return crop


def warp_to_photo_region(
    crop_data: np.ndarray,
    crop_from_photo: np.ndarray,
    region: tuple[int, int, int, int],
    interpolation: str = "linear",
    border_value: float = 0.0,
) -> np.ndarray:
    """Sample crop-frame data at the photo pixels of a rectangular region (the inverse warp).

    *Convention*: x right, y down, pixel centres at integer coordinates; output pixel
    (i, j) holds crop_data at crop_from_photo @ (x0 + j, y0 + i, 1).

    Args:
        crop_data: (S, S) or (S, S, C) array, uint8 or float32.
        crop_from_photo: (3, 3) float64.
        region: (x0, y0, x1, y1) photo pixel indices, exclusive ends.
        interpolation: 'lanczos' | 'cubic' | 'linear'.
        border_value: value outside the crop.

    Returns:
        (y1 - y0, x1 - x0[, C]) array of crop_data's dtype.
    """
    x0, y0, x1, y1 = (int(v) for v in region)
    crop_from_region = np.asarray(crop_from_photo, dtype=np.float64) @ np.array(
        [[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]]
    )
    flags = _CV_INTERP[interpolation] | cv2.WARP_INVERSE_MAP
    dsize = (x1 - x0, y1 - y0)
    value = (border_value,) * 4
    if _is_affine(crop_from_region):
        return cv2.warpAffine(
            crop_data, crop_from_region[:2], dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=value
        )
    return cv2.warpPerspective(
        crop_data, crop_from_region, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=value
    )
