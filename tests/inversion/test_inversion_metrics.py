"""Reconstruction metrics against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data

from inversion.errors import InversionError
from inversion.metrics import lpips_distance, mse, psnr, psnr_from_mse, reconstruction_metrics, ssim


@pytest.fixture
def photo() -> np.ndarray:
    return skimage.data.astronaut()[::4, ::4].copy()  # 128x128 RGB


def test_identical_images(photo):
    assert psnr(photo, photo) == math.inf
    assert mse(photo, photo) == 0
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert lpips_distance(photo, photo, "squeeze", "random") == pytest.approx(0, abs=1e-7)


def test_known_offset_gives_the_expected_psnr():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a + np.uint8(10)
    assert mse(a, b) == pytest.approx((10 / 255) ** 2)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / 10))  # 28.13 dB


def test_psnr_from_mse_scales_with_the_data_range():
    assert psnr_from_mse(0.01) == pytest.approx(20.0) and psnr_from_mse(0.0) == math.inf
    # The same error on the network's [-1, 1] (range 2) is 4x the MSE: the same PSNR.
    assert psnr_from_mse(0.04, data_range=2.0) == pytest.approx(20.0)
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a + np.uint8(10)) == psnr_from_mse(mse(a, a + np.uint8(10)))


def test_known_gaussian_noise_gives_the_expected_psnr():
    rng = np.random.default_rng(0)
    a = np.full((256, 256, 3), 128, np.uint8)
    sigma = 5.0
    b = np.clip(np.round(a + rng.normal(0, sigma, a.shape)), 0, 255).astype(np.uint8)
    # Rounding adds 1/12 of a level of variance.
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (sigma**2 + 1 / 12)), abs=0.05)


def test_metrics_order_by_noise_level(photo, squeeze_backbone):
    rng = np.random.default_rng(1)
    noisy = [np.clip(photo + rng.normal(0, s, photo.shape), 0, 255).astype(np.uint8) for s in (4, 20)]
    assert psnr(photo, noisy[0]) > psnr(photo, noisy[1])
    assert 1 > ssim(photo, noisy[0]) > ssim(photo, noisy[1])
    d = [lpips_distance(photo, n, "squeeze", squeeze_backbone) for n in noisy]
    assert 0 < d[0] < d[1]


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), np.zeros((9, 8, 3), np.uint8), [[0]]]
)
def test_bad_inputs(bad):
    good = np.zeros((8, 8, 3), np.uint8)
    for fn in (psnr, ssim, mse):
        with pytest.raises(InversionError):
            fn(good, bad)


def test_reconstruction_metrics_bundle(photo):
    m = reconstruction_metrics(photo, photo, "squeeze", "random")
    assert set(m) == {"psnr", "ssim", "mse", "lpips", "id"} and math.isnan(m["id"]) and m["psnr"] == math.inf
    calls = []
    m = reconstruction_metrics(photo, photo, "squeeze", "random", identity=lambda a, b: calls.append(a) or 0.5)
    assert m["id"] == 0.5 and len(calls) == 1  # the identity metric is the caller's (align's, with dlib)
