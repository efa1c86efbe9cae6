"""align.load_photo / to_rgb_uint8 / check_photo: the align-side wrappers of common.images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from align import AlignConfig, PhotoError, align_center, load_photo, to_rgb_uint8
from common.errors import ImageFileError


def test_load_photo_raises_photo_error_with_the_align_fix(tmp_path):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(PhotoError, match="max_photo_pixels") as info:
        load_photo(tmp_path / "small.png", max_pixels=1000)
    assert isinstance(info.value, ImageFileError)  # one class to catch for every unreadable image
    with pytest.raises(PhotoError, match="photo not found.*nope.jpg"):
        load_photo(tmp_path / "nope.jpg")
    with pytest.raises(PhotoError):
        to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))


def test_align_functions_check_the_photo_array():
    with pytest.raises(PhotoError, match="to_rgb_uint8"):
        align_center(np.zeros((64, 64, 3), np.float32), 32)
    with pytest.raises(PhotoError, match="to_rgb_uint8"):
        align_center(np.zeros((64, 64), np.uint8), 32)
    with pytest.raises(PhotoError, match="max_photo_pixels"):
        align_center(np.zeros((64, 64, 3), np.uint8), 32, AlignConfig(max_photo_pixels=1000))


def test_shared_rgba_photo_loads(photos_dir):
    out = load_photo(photos_dir / "32bit.png")
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
