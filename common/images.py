"""The project's one image reader and its image-layout conversions.

Every image the project reads from disk (photos, masks, benchmark images, data-set
images) goes through `read_image`, so EXIF orientation, colour modes, bit depths and the
pixel limit apply everywhere in the same way. It lives in `stylegan` (the bottom layer)
so that every package may import it; it needs numpy and Pillow, not torch.

Thread safety: nothing here changes global state. Pillow's own decompression-bomb guard
(`PIL.Image.MAX_IMAGE_PIXELS`) is left as it is and stays the outer bound; the caller's
`max_pixels` is checked from the header (`Image.open` is lazy) before anything is decoded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from common.errors import DragPipelineError, ImageFileError
from common.paths import check_input_file, os_error_reason, show_path

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_MAX_PIXELS", "read_image", "image_size", "to_rgb_uint8", "uint8_from_network", "check_rgb_pair"]

DEFAULT_MAX_PIXELS = 100_000_000  # about a 12000 x 8000 photo; 300 MB as uint8 RGB

_MODES = ("RGB", "RGBA")


def _alpha_on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # Transparent areas become white rather than whatever colour hides under alpha = 0.
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = rgb.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _scale_to_uint8(values: np.ndarray, maximum: float) -> np.ndarray:
    return np.clip(np.rint(values.astype(np.float64) * (255.0 / maximum)), 0, 255).astype(np.uint8)


def to_rgb_uint8(image: np.ndarray, error: type[DragPipelineError] = ImageFileError) -> np.ndarray:
    """Convert an image array of a common layout to uint8 (H, W, 3) RGB.

    Accepted: (H, W) or (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB,
    (H, W, 4) RGBA; dtype uint8, uint16 (0-65535, scaled by 255/65535), bool, or float
    in [0, 1]. Alpha is composited on white.

    Args:
        image: the array (not modified).
        error: the exception class to raise on a bad layout.

    Returns:
        uint8 (H, W, 3) RGB, a new array (or `image` itself when already in that layout).
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise error(f"expected an image of shape (H, W), (H, W, 1|2|3|4), got {np.shape(image)}")
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = _scale_to_uint8(arr, 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise error("float image contains NaN or inf; clean it first")
        arr = _scale_to_uint8(arr, 1.0)
    else:
        raise error(f"unsupported image dtype {arr.dtype}; use uint8, uint16, bool or float in [0, 1]")
    channels = arr.shape[2]
    if channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 2:
        arr = _alpha_on_white(np.repeat(arr[..., :1], 3, axis=2), arr[..., 1])
    elif channels == 4:
        arr = _alpha_on_white(arr[..., :3], arr[..., 3])
    return np.ascontiguousarray(arr)


def _has_alpha(im) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)


def _pil_to_rgb(im, error: type[DragPipelineError]) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
    if _has_alpha(im):
        return to_rgb_uint8(np.asarray(im.convert("RGBA")), error)
    if mode in ("L", "1", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return to_rgb_uint8(np.asarray(im.convert("RGB")), error)
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(im).astype(np.float64)
        # 16-bit files (PNG, TIFF) decode to 'I;16*' or 'I' holding 0-65535.
        maximum = 65535.0 if values.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        return to_rgb_uint8(_scale_to_uint8(values, maximum), error)
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise error("float image contains NaN or inf; clean it first")
        maximum = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        return to_rgb_uint8(_scale_to_uint8(values, maximum), error)
    raise error(f"unsupported image mode {mode!r}; convert the image to RGB (JPEG or PNG)")


def _pil_to_rgba(im, error: type[DragPipelineError]) -> np.ndarray:
    if _has_alpha(im):
        return np.ascontiguousarray(np.asarray(im.convert("RGBA"), dtype=np.uint8))
    rgb = _pil_to_rgb(im, error)
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def _open(path: str | os.PathLike, what: str, error: type[DragPipelineError], fix: str):
    # The lazy PIL image (header read, nothing decoded) and the path for messages.
    from PIL import Image, UnidentifiedImageError

    path = check_input_file(path, what, error, fix=fix)
    shown = show_path(path)
    try:
        return Image.open(path), shown
    except Image.DecompressionBombError as exc:  # Pillow's own, untouched, outer limit
        raise error(f"{what} {shown} has too many pixels ({exc}); downscale it") from None
    except UnidentifiedImageError:
        raise error(f"{what} {shown} is not an image Pillow can read; convert it to PNG or JPEG") from None
    except OSError as exc:
        raise error(f"cannot read {what} {shown}: {os_error_reason(exc)}; check the file") from None


def image_size(
    path: str | os.PathLike,
    *,
    what: str = "image",
    error: type[DragPipelineError] = ImageFileError,
    fix: str = "give the path of an image file",
) -> tuple[int, int]:
    """(width, height) of an image file as `read_image` will return it (EXIF rotation applied), from the header.

    Args:
        path: the image file.
        what: the image's role for messages.
        error: the exception class to raise.
        fix: what the message for a missing or unusable path tells the user to do.

    Raises:
        error: missing, unreadable or not an image.
    """
    im, _ = _open(path, what, error, fix)
    with im:
        width, height = im.size
        orientation = im.getexif().get(0x0112, 1)  # EXIF Orientation: 5-8 are transposed
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_image(
    path: str | os.PathLike,
    *,
    mode: str = "RGB",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    what: str = "image",
    too_large_fix: str = "downscale it",
    error: type[DragPipelineError] = ImageFileError,
    fix: str = "give the path of an image file",
) -> np.ndarray:
    """Read an image file as uint8, upright, checking its size from the header first.

    The EXIF orientation tag is applied (cameras store portraits sideways). Grey ('L', '1',
    'I;16', 'I', 'F'), palette ('P'), CMYK, YCbCr, 16-bit and images with alpha ('LA',
    'RGBA', 'PA', transparent 'P') are converted; 16-bit values are scaled by 255/65535.
    CMYK uses Pillow's plain conversion (no ICC colour management).

    Args:
        path: a file Pillow can read (JPEG, PNG, TIFF, WebP, BMP ...).
        mode: 'RGB' -> (H, W, 3), alpha composited on white; 'RGBA' -> (H, W, 4), alpha
            255 for images without one.
        max_pixels: refuse images with more pixels than this (from the header, before decoding).
        what: the image's role for messages ('photo', 'mask', 'data-set image').
        too_large_fix: what the too-many-pixels message tells the user to do.
        error: the exception class to raise (a `DragPipelineError` subclass, exit code 2).
        fix: what the message for a missing or unusable path tells the user to do.

    Returns:
        uint8 (H, W, 3) or (H, W, 4) array, values 0-255, C-contiguous.

    Raises:
        error: missing, unreadable or not an image, truncated, unsupported mode, or too many pixels.
    """
    from PIL import ImageOps

    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")  # a programming error
    im, shown = _open(path, what, error, fix)
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise error(
                f"{what} {shown} has {width}x{height} = {width * height:,} pixels, more than the limit "
                f"{max_pixels:,}; {too_large_fix}"
            )
        try:
            upright = ImageOps.exif_transpose(im)  # decodes
            return _pil_to_rgba(upright, error) if mode == "RGBA" else _pil_to_rgb(upright, error)
        except DragPipelineError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise error(
                f"cannot decode {what} {shown} (truncated or corrupt: {' '.join(str(exc).split())[:120]}); "
                "re-save or re-download it"
            ) from None


def check_rgb_pair(a: np.ndarray, b: np.ndarray, what: str, error: type[DragPipelineError]) -> None:
    """Raise `error` unless `a` and `b` are uint8 (H, W, 3) RGB arrays of the same size (metric inputs).

    Args:
        a, b: the two images (e.g. target and reconstruction).
        what: the caller, for the message (e.g. 'metric', 'identity_similarity').
        error: the exception class to raise.
    """
    for name, img in (("a", a), ("b", b)):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise error(f"{what} image {name} must be uint8 (H, W, 3) RGB, got {desc}: convert it first")
    if a.shape != b.shape:
        raise error(
            f"{what} images differ in size ({a.shape} vs {b.shape}): resize the reconstruction to the target first"
        )


def uint8_from_network(img: torch.Tensor) -> np.ndarray:
    """Network images (float in about [-1, 1]) to uint8 RGB arrays, rounding as NVlabs does.

    ``clamp(x * 127.5 + 128, 0, 255)`` truncated, computed in float32 (NVlabs'
    gen_images.py, DragGAN's visualizer): that is (x + 1) * 127.5 rounded half up, the exact
    inverse of ``u / 127.5 - 1`` for every uint8 u. Reduced-precision inputs (bf16, fp16)
    are widened to float32 first, since bf16 cannot hold x * 127.5 + 128 to the unit.

    Args:
        img: (3, H, W) or (B, 3, H, W) float tensor, any device (not modified).

    Returns:
        uint8 (H, W, 3) for a (3, H, W) input, (B, H, W, 3) for a batch, on the CPU.
    """
    if img.ndim not in (3, 4) or img.shape[-3] != 3:
        raise ValueError(f"expected a (3, H, W) or (B, 3, H, W) image, got shape {tuple(img.shape)}")
    out = (img.detach().float() * 127.5 + 128).clamp(0, 255).byte()  # .byte(): truncation to uint8
    return np.ascontiguousarray(out.movedim(-3, -1).cpu().numpy())
