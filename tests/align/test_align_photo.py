"""load_photo / to_rgb_uint8: EXIF orientation, colour modes, bit depths, size limit, bad files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from align import AlignConfig, PhotoError, align_center, load_photo, to_rgb_uint8


def _pattern(h: int = 40, w: int = 60) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)  # red top-left quadrant
    img[h // 2 :, w // 2 :] = (0, 0, 255)  # blue bottom-right quadrant
    return img


def test_png_round_trip_is_exact(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (31, 47, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    out = load_photo(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize(
    "orientation, rotate",
    [(1, lambda a: a), (3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1))],
)
def test_exif_orientation_is_applied(tmp_path, orientation, rotate):
    img = _pattern()
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation tag
    path = tmp_path / "exif.jpg"
    Image.fromarray(img).save(path, quality=95, exif=exif)
    out = load_photo(path)
    expected = rotate(img)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 8  # JPEG noise only


def test_grey_palette_and_bilevel_modes(tmp_path):
    grey = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    out = load_photo(tmp_path / "l.png")
    assert out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=2))

    rgb = _pattern()
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_photo(tmp_path / "p.png"), rgb)

    Image.fromarray(grey > 100).save(tmp_path / "bw.png")
    out = load_photo(tmp_path / "bw.png")
    assert set(np.unique(out)) <= {0, 255} and out.shape == (20, 30, 3)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = (200, 40, 10)
    rgba[:, :3, 3] = 255  # opaque
    rgba[:, 3:6, 3] = 0  # transparent
    rgba[:, 6:, 3] = 128  # half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_photo(tmp_path / "a.png")
    np.testing.assert_array_equal(out[0, 0], (200, 40, 10))
    np.testing.assert_array_equal(out[0, 4], (255, 255, 255))
    np.testing.assert_allclose(out[0, 8], np.rint(np.array([200, 40, 10]) * 128 / 255 + 255 * 127 / 255), atol=1)

    la = np.stack([np.full((5, 5), 0, np.uint8), np.full((5, 5), 0, np.uint8)], axis=2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_photo(tmp_path / "la.png"), np.full((5, 5, 3), 255, np.uint8))


def test_16_bit_grey_is_scaled(tmp_path):
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    out = load_photo(tmp_path / "16.png")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 128])


def test_16_bit_rgb_is_scaled(tmp_path):
    import cv2

    bgr = np.zeros((4, 4, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 65535, 257 * 100, 0  # blue, green, red
    cv2.imwrite(str(tmp_path / "rgb16.png"), bgr)
    out = load_photo(tmp_path / "rgb16.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], (0, 100, 255))


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(_pattern()).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    out = load_photo(tmp_path / "cmyk.jpg")
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert out[5, 5, 0] > 200 and out[5, 5, 2] < 60  # still red


def test_too_many_pixels_is_refused_from_the_header(tmp_path):
    Image.fromarray(_pattern()).save(tmp_path / "small.png")
    with pytest.raises(PhotoError, match="max_photo_pixels"):
        load_photo(tmp_path / "small.png", max_pixels=1000)

    # A 20000 x 20000 PNG header with (almost) no data: decoding it would need 1.2 GB.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )
    (tmp_path / "huge.png").write_bytes(png)
    with pytest.raises(PhotoError, match="pixels"):
        load_photo(tmp_path / "huge.png")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(PhotoError, match="not found.*nope.jpg"):
        load_photo(tmp_path / "nope.jpg")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(PhotoError, match="text.jpg"):
        load_photo(tmp_path / "text.jpg")
    Image.fromarray(_pattern(400, 400)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(PhotoError, match="cut.jpg"):
        load_photo(tmp_path / "cut.jpg")


def test_to_rgb_uint8_layouts():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(to_rgb_uint8(grey)[..., 1], grey)
    np.testing.assert_array_equal(to_rgb_uint8(grey[..., None])[..., 2], grey)
    np.testing.assert_array_equal(to_rgb_uint8(np.full((2, 2), 65535, np.uint16)), np.full((2, 2, 3), 255))
    np.testing.assert_array_equal(to_rgb_uint8(np.full((2, 2, 3), 0.5)), np.full((2, 2, 3), 128))
    np.testing.assert_array_equal(to_rgb_uint8(np.ones((2, 2), bool)), np.full((2, 2, 3), 255))
    rgba = np.zeros((2, 2, 4), np.uint8)
    np.testing.assert_array_equal(to_rgb_uint8(rgba), np.full((2, 2, 3), 255))
    for bad in (np.zeros((2, 2, 5), np.uint8), np.zeros((0, 3, 3), np.uint8), np.zeros((2, 2), np.int64)):
        with pytest.raises(PhotoError):
            to_rgb_uint8(bad)


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
