"""evaluation.composite_quality: the named edits and the measures on known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.composite_quality import (
    IDEAL,
    PSNR_CAP,
    Row,
    edit_points,
    eye_distance,
    format_table,
    ideal_warp,
    psnr_away,
    seam,
)


def _landmarks() -> np.ndarray:
    """68 points of an upright face: eyes at y 40, mouth at y 80, 40 px between the eyes."""
    lm = np.zeros((68, 2))
    lm[:17] = np.stack([np.linspace(10, 110, 17), np.full(17, 60.0)], 1)
    lm[17:27] = np.stack([np.linspace(30, 90, 10), np.full(10, 30.0)], 1)
    lm[27:36] = [60.0, 55.0]
    lm[36:42] = [40.0, 40.0]
    lm[42:48] = [80.0, 40.0]
    lm[48:68] = np.stack([np.linspace(45, 75, 20), np.full(20, 80.0)], 1)
    lm[48], lm[54] = (45.0, 80.0), (75.0, 80.0)
    lm[8] = (60.0, 110.0)
    return lm


def test_mouth_wider_moves_both_corners_outward():
    lm = _landmarks()
    assert eye_distance(lm) == pytest.approx(40.0)
    handles, targets = edit_points(lm, "mouth-wider", 0.15)
    np.testing.assert_allclose(handles, [[45.0, 80.0], [75.0, 80.0]])
    np.testing.assert_allclose(targets, [[39.0, 80.0], [81.0, 80.0]])
    handles, targets = edit_points(lm, "eyebrows-up", 0.15)
    np.testing.assert_allclose(targets - handles, [[0.0, -6.0], [0.0, -6.0]])


def test_measures_on_known_answers():
    photo = np.full((120, 120, 3), 100, np.uint8)
    edge = np.full((120, 120), 50.0)
    edge[:, 0] = 0.0  # the crop border runs along the first column
    edited = photo.copy()
    edited[60, 60] = 130  # far from the border
    assert seam(photo, edited, edge) == 0.0
    edited[5, 0] = 107
    assert seam(photo, edited, edge) == 7.0
    lm = _landmarks()
    points = np.array([[45.0, 80.0]])
    assert psnr_away(photo, photo, lm, points) == PSNR_CAP
    near = photo.copy()
    near[80, 50] = 0  # within one eye distance of the point: not counted
    assert psnr_away(photo, near, lm, points) == PSNR_CAP
    far = photo.copy()
    far[45, 85] = 0  # on the face, far from the point
    assert psnr_away(photo, far, lm, points) < 60.0
    rows = [
        Row("a.jpg", "warp", 0.0, 50.0, 0.3, 0.2, 0.01),
        Row("a.jpg", IDEAL, math.nan, 60.0, 0.1, 0.25, 0.002),
        Row("b.jpg", "warp", 2.0, PSNR_CAP, 0.5, 0.4, 0.03),
    ]
    table = format_table(rows, ["warp"])
    assert "| a.jpg | warp | 0 | 50.0 | 0.30 | 0.200 | 0.010 |" in table
    assert "| b.jpg | warp | 2 | inf | 0.50 | 0.400 | 0.030 |" in table
    assert "| a.jpg | ideal warp (reference) | n/a | 60.0 | 0.10 | 0.250 | 0.002 |" in table
    assert "| **mean** | warp | 1.0 (max 2) | 75.0 | 0.40 | 0.300 | 0.020 |" in table
    assert table.index("| **mean** | warp") < table.index("| **mean** | ideal warp (reference) | n/a | 60.0")


def _blob(shape: tuple[int, int], centres: np.ndarray, sigma: float = 2.5) -> np.ndarray:
    """uint8 (H, W, 3): bright Gaussian blobs at `centres` (x, y) on a grey ramp."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 40.0 + 40.0 * xs / w
    for x, y in centres:
        img += 170.0 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return np.repeat(np.clip(np.rint(img), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _peak(img: np.ndarray, around: np.ndarray, radius: int = 6) -> np.ndarray:
    """Sub-pixel centroid (x, y) of the bright blob within `radius` of `around`."""
    x0, y0 = (int(round(v)) - radius for v in around)
    patch = img[y0 : y0 + 2 * radius + 1, x0 : x0 + 2 * radius + 1, 0].astype(np.float64)
    weight = np.clip(patch - np.percentile(patch, 50), 0, None) ** 2
    ys, xs = np.mgrid[0 : patch.shape[0], 0 : patch.shape[1]]
    return np.array([(weight * xs).sum() / weight.sum() + x0, (weight * ys).sum() / weight.sum() + y0])


def test_ideal_warp_moves_each_handles_content_onto_its_target_and_nothing_far():
    handles = np.array([[40.0, 60.0], [90.0, 62.0]])
    targets = np.array([[34.0, 60.0], [96.0, 59.0]])  # two moves, near enough to interact
    photo = _blob((120, 140), handles)
    edited = ideal_warp(photo, handles, targets, sigma=10.0)
    for target in targets:
        np.testing.assert_allclose(_peak(edited, target), target, atol=0.35)
    far = np.ones(photo.shape[:2], bool)
    far[20:100, 0:140] = False
    assert np.array_equal(edited[far], photo[far])  # untouched bytes a few sigma away
    assert np.array_equal(ideal_warp(photo, np.zeros((0, 2)), np.zeros((0, 2)), 10.0), photo)
    assert np.array_equal(ideal_warp(photo, handles, handles, 10.0), photo)  # no move: the photo
