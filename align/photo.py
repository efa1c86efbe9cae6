"""Reading photos into the project's image layout: uint8 (H, W, 3) RGB."""

from __future__ import annotations

import os

import numpy as np

from align.errors import PhotoError
from common import images

__all__ = ["load_photo", "to_rgb_uint8", "check_photo", "DEFAULT_MAX_PIXELS"]

DEFAULT_MAX_PIXELS = images.DEFAULT_MAX_PIXELS  # same default as AlignConfig.max_photo_pixels


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Convert an image array of a common layout to uint8 (H, W, 3) RGB (`common.images.to_rgb_uint8`).

    Accepted: (H, W) or (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB,
    (H, W, 4) RGBA; dtype uint8, uint16 (0-65535, scaled by 255/65535), bool, or float
    in [0, 1]. Alpha is composited on white.

    Raises:
        PhotoError: an unsupported shape or dtype, or NaN/inf values.
    """
    return images.to_rgb_uint8(image, PhotoError)


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
    """Read a photo file as uint8 (H, W, 3) RGB, upright (the project's one loader, `common.images.read_image`).

    The EXIF orientation tag is applied; grey, palette, CMYK, 16-bit and alpha images are
    converted (alpha on white). The pixel count is checked from the file header, before
    anything is decoded; Pillow's global settings are not touched (thread-safe).

    Args:
        path: a file Pillow can read (JPEG, PNG, TIFF, WebP, BMP ...).
        max_pixels: refuse photos with more pixels than this (PhotoError).

    Returns:
        uint8 (H, W, 3) RGB array, values 0-255.

    Raises:
        PhotoError: missing or unreadable file, unsupported mode, or more than `max_pixels`.
    """
    return images.read_image(
        path,
        mode="RGB",
        max_pixels=max_pixels,
        what="photo",
        error=PhotoError,
        too_large_fix="downscale it or raise AlignConfig.max_photo_pixels",
    )
