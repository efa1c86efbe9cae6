"""warp_to_crop: exact geometry, warp-and-back fidelity, anti-aliasing, border padding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from align import AlignError, crop_from_quad, transform_points, warp_to_crop
from align.warp import warp_to_photo_region


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _similarity(scale: float, angle_deg: float, centre_photo, size: int) -> np.ndarray:
    """crop_from_photo: rotate by angle, scale crop px per photo px, centre_photo -> crop centre."""
    t = np.deg2rad(angle_deg)
    a = scale * np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    c = (size - 1) / 2
    m = np.eye(3)
    m[:2, :2] = a
    m[:2, 2] = np.array([c, c]) - a @ np.asarray(centre_photo, dtype=np.float64)
    return m


@pytest.mark.parametrize("interpolation", ["linear", "cubic", "lanczos"])
def test_integer_translation_is_an_exact_copy(interpolation, make_smooth_image):
    photo = make_smooth_image(120, 160, seed=1)
    m = np.array([[1.0, 0, -17], [0, 1.0, -9], [0, 0, 1]])  # crop = photo[9:73, 17:81]
    crop = warp_to_crop(photo, m, 64, interpolation=interpolation)
    np.testing.assert_array_equal(crop, photo[9:73, 17:81])


def test_block_aligned_downscale_equals_area_average(make_smooth_image):
    # crop x = (photo x + 0.5) / 4 - 0.5 is a 4x reduction whose pixels are exact 4x4
    # blocks, photo edges included: the result must be the block average.
    photo = make_smooth_image(256, 256, seed=2, period=8.0)
    m = np.array([[0.25, 0, -0.375], [0, 0.25, -0.375], [0, 0, 1]])
    crop = warp_to_crop(photo, m, 64)
    expected = cv2.resize(photo, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("angle, scale", [(20.0, 1.3), (-35.0, 0.8), (90.0, 1.0)])
def test_warp_and_back_preserves_the_image(angle, scale, make_smooth_image):
    """Photo -> crop -> photo through the exact inverse: PSNR > 40 dB away from the border."""
    photo = make_smooth_image(400, 400, seed=4, period=25.0)
    size = 256
    m = _similarity(scale, angle, (200.0, 200.0), size)
    crop = warp_to_crop(photo, m, size, interpolation="lanczos")
    back = warp_to_photo_region(crop.astype(np.float32), m, (0, 0, 400, 400), interpolation="lanczos")
    # Photo pixels whose crop position is at least 8 crop px inside the crop.
    yy, xx = np.mgrid[0:400, 0:400]
    pts = transform_points(m, np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64))
    inside = ((pts > 8) & (pts < size - 9)).all(axis=1).reshape(400, 400)
    assert inside.sum() > 10_000
    back_u8 = np.clip(np.rint(back), 0, 255).astype(np.uint8)
    assert _psnr(back_u8[inside], photo[inside]) > 40.0


def test_antialiased_downscale_is_still_exactly_described_by_the_matrix():
    """A 7.3x shrink (integer block reduction + Gaussian): every crop pixel shows
    f(photo_from_crop @ p). A half-block slip would cost ~7 levels here."""
    h, w = 2000, 3000
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    period = 240.0

    def f(x, y):
        return 128 + 60 * np.sin(2 * np.pi * x / period) * np.cos(2 * np.pi * y / (period * 1.3))

    photo = np.repeat(np.clip(np.rint(f(xx, yy)), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    size = 256
    m = _similarity(1 / 7.3, 23.0, (1500.0, 1000.0), size)
    crop = warp_to_crop(photo, m, size, pad_mode="reflect")  # 'reflect_blur' would also blur near the photo edge
    cy, cx = np.mgrid[0:size, 0:size].astype(np.float64)
    p = transform_points(np.linalg.inv(m), np.stack([cx.ravel(), cy.ravel()], axis=1))
    expected = f(p[:, 0], p[:, 1]).reshape(size, size)
    in_photo = ((p > 20) & (p < (w - 21, h - 21))).all(axis=1).reshape(size, size)  # away from the padding
    assert in_photo.mean() > 0.5
    err = np.abs(crop[..., 0].astype(np.float64) - expected)[in_photo]
    # The low-pass attenuates this frequency by < 2 %, i.e. ~1 level.
    assert err.mean() < 1.0 and err.max() < 3.0


def test_antialiasing_removes_moire():
    # A 1-px checkerboard shrunk 8x must become flat grey, not a moire pattern.
    yy, xx = np.mgrid[0:2048, 0:2048]
    photo = np.repeat((((xx + yy) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    m = _similarity(1 / 8.37, 10.0, (1024.0, 1024.0), 200)
    smooth = warp_to_crop(photo, m, 200)
    aliased = warp_to_crop(photo, m, 200, antialias=False)
    assert smooth.std() < 3.0
    assert abs(float(smooth.mean()) - 127.5) < 3.0
    assert aliased.std() > 5 * smooth.std()


def test_padding_modes_outside_the_photo(make_smooth_image):
    photo = make_smooth_image(100, 100, seed=5)
    size = 200
    m = np.array([[1.0, 0, 50], [0, 1.0, 50], [0, 0, 1]])  # photo in the middle, 50 px of padding around
    inner = (slice(50, 150), slice(50, 150))

    constant = warp_to_crop(photo, m, size, pad_mode="constant")
    np.testing.assert_array_equal(constant[inner], photo)
    assert constant[:40].max() == 0 and constant[:, 160:].max() == 0

    reflect = warp_to_crop(photo, m, size, pad_mode="reflect")
    np.testing.assert_array_equal(reflect[inner], photo)
    # Mirror without repeating the edge pixel (numpy 'reflect', as FFHQ): crop column 49 = photo column 1.
    np.testing.assert_array_equal(reflect[50:150, 49], photo[:, 1])
    np.testing.assert_array_equal(reflect[50:150, 40], photo[:, 10])

    blur = warp_to_crop(photo, m, size, pad_mode="reflect_blur")
    median = np.median(photo.reshape(-1, 3), axis=0)
    # Far into the padding the FFHQ treatment fades to the median colour ...
    assert np.abs(blur[0, 0].astype(float) - median).max() <= 2
    # ... near the photo it is a blurred reflection (smoother than the plain mirror) ...
    assert (
        np.abs(np.diff(blur[60:140, 45].astype(float), axis=0)).mean()
        < np.abs(np.diff(reflect[60:140, 45].astype(float), axis=0)).mean()
    )
    # ... and deep inside the photo nothing changes.
    np.testing.assert_array_equal(blur[75:125, 75:125], photo[25:75, 25:75])


def test_crop_inside_the_photo_is_the_same_for_every_pad_mode(make_smooth_image):
    photo = make_smooth_image(300, 300, seed=6)
    m = _similarity(1.7, 12.0, (150.0, 150.0), 256)
    crops = [warp_to_crop(photo, m, 256, pad_mode=mode) for mode in ("reflect_blur", "reflect", "constant")]
    np.testing.assert_array_equal(crops[0], crops[1])
    np.testing.assert_array_equal(crops[0], crops[2])


def test_crop_entirely_outside_the_photo_raises(make_smooth_image):
    photo = make_smooth_image(50, 50)
    m = np.array([[1.0, 0, -1000], [0, 1.0, 0], [0, 0, 1]])
    with pytest.raises(AlignError, match="outside the photo"):
        warp_to_crop(photo, m, 32)


def test_projective_matrix_is_supported(make_smooth_image):
    photo = make_smooth_image(200, 200, seed=7)
    m = np.array([[1.0, 0.05, -20.0], [0.02, 1.0, -30.0], [1e-4, 2e-4, 1.0]])
    crop = warp_to_crop(photo, m, 100, interpolation="linear", antialias=False)
    expected = cv2.warpPerspective(photo, m, (100, 100), flags=cv2.INTER_LINEAR)
    assert np.abs(crop.astype(int) - expected)[2:-2, 2:-2].max() <= 1


def test_input_photo_is_not_modified(make_smooth_image):
    photo = make_smooth_image(100, 100)
    before = photo.copy()
    warp_to_crop(photo, crop_from_quad(np.array([[-20, -20], [-20, 120], [120, 120], [120, -20]], float), 64), 64)
    np.testing.assert_array_equal(photo, before)
