"""Reading photos into the project's image layout: uint8 (H, W, 3) RGB."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from align.errors import PhotoError

__all__ = ["load_photo", "to_rgb_uint8", "check_photo", "DEFAULT_MAX_PIXELS"]

DEFAULT_MAX_PIXELS = 100_000_000  # same default as AlignConfig.max_photo_pixels


def _alpha_on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # Transparent areas become white rather than whatever colour hides under alpha = 0.
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = rgb.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _high_bit_depth_to_uint8(values: np.ndarray, maximum: float) -> np.ndarray:
    return np.clip(np.rint(values.astype(np.float64) * (255.0 / maximum)), 0, 255).astype(np.uint8)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Convert an image array of a common layout to uint8 (H, W, 3) RGB.

    Accepted: (H, W) or (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB,
    (H, W, 4) RGBA; dtype uint8, uint16 (0-65535, scaled by 255/65535), bool, or float
    in [0, 1]. Alpha is composited on white.

    Args:
        image: the array (not modified).

    Returns:
        uint8 (H, W, 3) RGB, a new array (or `image` itself when already in that layout).
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise PhotoError(f"expected an image of shape (H, W), (H, W, 1|2|3|4), got {np.shape(image)}")
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = _high_bit_depth_to_uint8(arr, 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise PhotoError("float image contains NaN or inf; clean it before alignment")
        arr = _high_bit_depth_to_uint8(arr, 1.0)
    else:
        raise PhotoError(f"unsupported image dtype {arr.dtype}; use uint8, uint16, bool or float in [0, 1]")
    channels = arr.shape[2]
    if channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 2:
        arr = _alpha_on_white(np.repeat(arr[..., :1], 3, axis=2), arr[..., 1])
    elif channels == 4:
        arr = _alpha_on_white(arr[..., :3], arr[..., 3])
    return np.ascontiguousarray(arr)


def check_photo(photo: np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "photo") -> np.ndarray:
    """Validate a photo array at the API edge.

    Args:
        photo: must be uint8 (H, W, 3) RGB with H, W >= 1.
        max_pixels: refuse larger photos.
        name: used in the error message.

    Returns:
        The same array, C-contiguous (copied only if it was not).
    """
    arr = np.asarray(photo)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise PhotoError(
            f"{name} must be uint8 (H, W, 3) RGB, got {arr.dtype} {arr.shape}; "
            "convert it with align.to_rgb_uint8 or read it with align.load_photo"
        )
    if arr.shape[0] * arr.shape[1] > max_pixels:
        raise PhotoError(
            f"{name} has {arr.shape[1]}x{arr.shape[0]} = {arr.shape[0] * arr.shape[1]:,} pixels, more than the "
            f"limit {max_pixels:,}; downscale it or raise AlignConfig.max_photo_pixels"
        )
    return np.ascontiguousarray(arr)


def load_photo(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo file as uint8 (H, W, 3) RGB, upright.

    The EXIF orientation tag is applied (cameras store portraits sideways). Grey ('L', '1',
    'I;16', 'I', 'F'), palette ('P'), CMYK, YCbCr, 16-bit and images with alpha ('LA',
    'RGBA', 'PA', transparent 'P') are converted; alpha is composited on white. CMYK uses
    PIL's plain conversion (no ICC colour management). The pixel count is checked from the
    file header, before anything is decoded.

    Args:
        path: a file PIL can read (JPEG, PNG, TIFF, WebP, BMP ...).
        max_pixels: refuse photos with more pixels than this (PhotoError).

    Returns:
        uint8 (H, W, 3) RGB array, values 0-255.

    Raises:
        PhotoError: missing or unreadable file, unsupported mode, or more than `max_pixels`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise PhotoError(f"photo not found: {path}; check the path")
    pil_limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Our own limit (checked below, from the header) replaces PIL's decompression-bomb
            # guard, which would refuse photos the caller explicitly allowed. The global is
            # restored right after the header is read.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if pil_limit is not None and max_pixels > pil_limit:
                Image.MAX_IMAGE_PIXELS = max_pixels
            im = Image.open(path)  # lazy: reads the header only
    except Image.DecompressionBombError as exc:
        raise PhotoError(
            f"photo {path} has more than {max_pixels:,} pixels ({exc}); "
            "downscale it or raise AlignConfig.max_photo_pixels"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PhotoError(
            f"cannot read photo {path}: not an image PIL can decode ({exc}); convert it to JPEG or PNG"
        ) from exc
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise PhotoError(
                f"photo {path} has {width}x{height} = {width * height:,} pixels, more than the limit "
                f"{max_pixels:,}; downscale it or raise AlignConfig.max_photo_pixels"
            )
        try:
            im = ImageOps.exif_transpose(im)  # decodes
            arr = _pil_to_rgb_uint8(im)
        except PhotoError:
            raise
        except (OSError, ValueError, SyntaxError) as exc:
            raise PhotoError(
                f"cannot decode photo {path} (truncated or corrupt: {exc}); re-save or re-download it"
            ) from exc
    return arr


def _pil_to_rgb_uint8(im) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        return to_rgb_uint8(np.asarray(im.convert("RGBA")))
    if mode in ("L", "1", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "La", "RGBa"):
        return to_rgb_uint8(np.asarray(im.convert("RGB")))
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(im).astype(np.float64)
        # 16-bit files (PNG, TIFF) decode to 'I;16*' or 'I' holding 0-65535.
        maximum = 65535.0 if values.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        return to_rgb_uint8(_high_bit_depth_to_uint8(values, maximum))
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise PhotoError("float image contains NaN or inf; clean it before alignment")
        maximum = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        return to_rgb_uint8(_high_bit_depth_to_uint8(values, maximum))
    raise PhotoError(f"unsupported image mode {mode!r}; convert the photo to RGB (JPEG or PNG)")
