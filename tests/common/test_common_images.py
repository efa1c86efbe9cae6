"""common.images: the one image reader (EXIF, modes, bit depths, size limits, bad files) and uint8 conversion."""

from __future__ import annotations

import struct
import threading
import types
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from common.errors import ImageFileError
from common.images import read_image, to_rgb_uint8, uint8_from_network


def _pattern(h: int = 40, w: int = 60) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)  # red top-left quadrant
    img[h // 2 :, w // 2 :] = (0, 0, 255)  # blue bottom-right quadrant
    return img


def test_png_round_trip_is_exact(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (31, 47, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
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
    out = read_image(path)
    expected = rotate(img)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 8  # JPEG noise only


def test_grey_palette_and_bilevel_modes(tmp_path):
    grey = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    out = read_image(tmp_path / "l.png")
    assert out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=2))

    rgb = _pattern()
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), rgb)

    Image.fromarray(grey > 100).save(tmp_path / "bw.png")
    out = read_image(tmp_path / "bw.png")
    assert set(np.unique(out)) <= {0, 255} and out.shape == (20, 30, 3)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = (200, 40, 10)
    rgba[:, :3, 3] = 255  # opaque
    rgba[:, 3:6, 3] = 0  # transparent
    rgba[:, 6:, 3] = 128  # half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(out[0, 0], (200, 40, 10))
    np.testing.assert_array_equal(out[0, 4], (255, 255, 255))
    np.testing.assert_allclose(out[0, 8], np.rint(np.array([200, 40, 10]) * 128 / 255 + 255 * 127 / 255), atol=1)

    la = np.stack([np.full((5, 5), 0, np.uint8), np.full((5, 5), 0, np.uint8)], axis=2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), np.full((5, 5, 3), 255, np.uint8))


def test_16_bit_grey_is_scaled(tmp_path):
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    out = read_image(tmp_path / "16.png")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 128])


def test_16_bit_rgb_is_scaled(tmp_path):
    import cv2

    bgr = np.zeros((4, 4, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 65535, 257 * 100, 0  # blue, green, red
    cv2.imwrite(str(tmp_path / "rgb16.png"), bgr)
    out = read_image(tmp_path / "rgb16.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], (0, 100, 255))


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(_pattern()).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    out = read_image(tmp_path / "cmyk.jpg")
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert out[5, 5, 0] > 200 and out[5, 5, 2] < 60  # still red


def test_too_many_pixels_is_refused_from_the_header(tmp_path):
    Image.fromarray(_pattern()).save(tmp_path / "small.png")
    with pytest.raises(ImageFileError, match="more than the limit"):
        read_image(tmp_path / "small.png", max_pixels=1000)

    # A 20000 x 20000 PNG header with (almost) no data: decoding it would need 1.2 GB.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )
    (tmp_path / "huge.png").write_bytes(png)
    with pytest.raises(ImageFileError, match="pixels"):
        read_image(tmp_path / "huge.png")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ImageFileError, match="not found.*nope.jpg"):
        read_image(tmp_path / "nope.jpg")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ImageFileError, match="text.jpg"):
        read_image(tmp_path / "text.jpg")
    Image.fromarray(_pattern(400, 400)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageFileError, match="cut.jpg"):
        read_image(tmp_path / "cut.jpg")


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
        with pytest.raises(ImageFileError):
            to_rgb_uint8(bad)


def test_rgba_mode_keeps_alpha(tmp_path):
    rgba = np.random.default_rng(1).integers(0, 256, (6, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png", mode="RGBA"), rgba)
    grey = np.arange(42, dtype=np.uint8).reshape(6, 7)
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    out = read_image(tmp_path / "l.png", mode="RGBA")
    assert out.shape == (6, 7, 4) and np.all(out[..., 3] == 255)
    np.testing.assert_array_equal(out[..., 0], grey)


def test_pil_global_limit_is_never_changed(tmp_path, monkeypatch):
    # The loader checks its own limit from the header; Pillow's module-level guard is
    # shared by every thread (the editor serves many sessions at once) and must stay put,
    # not even be set and restored: any write to it is recorded here.
    writes: list = []

    class WatchedModule(types.ModuleType):
        def __setattr__(self, name, value):
            if name == "MAX_IMAGE_PIXELS":
                writes.append(value)
            super().__setattr__(name, value)

    monkeypatch.setattr(Image, "__class__", WatchedModule)
    Image.fromarray(_pattern()).save(tmp_path / "p.png")
    before = Image.MAX_IMAGE_PIXELS
    seen: list = []
    errors: list = []

    def load(i: int) -> None:
        try:
            for _ in range(20):
                seen.append(Image.MAX_IMAGE_PIXELS)
                if i % 2:
                    read_image(tmp_path / "p.png", max_pixels=10**12)
                else:
                    with pytest.raises(ImageFileError):
                        read_image(tmp_path / "p.png", max_pixels=100)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not writes
    assert Image.MAX_IMAGE_PIXELS == before and set(seen) == {before}


def test_paths_that_are_not_files(tmp_path):
    with pytest.raises(ImageFileError, match="folder, not a file"):
        read_image(tmp_path)
    with pytest.raises(ImageFileError, match="name is too long"):
        read_image(tmp_path / ("x" * 300 + ".png"))
    with pytest.raises(ImageFileError, match="empty"):
        read_image("")


def test_uint8_from_network_inverts_the_network_scaling():
    u = torch.arange(256, dtype=torch.float32)
    x = (u / 127.5 - 1).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    out = uint8_from_network(x)
    assert out.dtype == np.uint8 and out.shape == (1, 16, 16, 3)
    np.testing.assert_array_equal(out[0, ..., 1].reshape(-1), np.arange(256))  # the exact inverse, every value
    # Nearest value (NVlabs' x * 127.5 + 128, truncated); values outside [-1, 1] clamp.
    x = torch.tensor([-1.5, -1.0 + 0.4 / 127.5, -1.0 + 0.6 / 127.5, 1.0 - 0.4 / 127.5, 2.0]).reshape(1, 5, 1)
    np.testing.assert_array_equal(uint8_from_network(x.expand(3, 5, 1))[:, 0, 0], [0, 0, 1, 255, 255])
    # Reduced precision is widened first: bf16 gives the same bytes as float32 of the same values.
    xb = torch.linspace(-1, 1, 3 * 64).reshape(3, 8, 8).to(torch.bfloat16)
    np.testing.assert_array_equal(uint8_from_network(xb), uint8_from_network(xb.float()))
    assert uint8_from_network(torch.zeros(3, 16, 16)).shape == (16, 16, 3)
