"""evaluation.composite_quality: the named edits and the measures on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.composite_quality import PSNR_CAP, Row, edit_points, eye_distance, format_table, psnr_away, seam


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
    table = format_table(
        [Row("a.jpg", "warp", 0.0, 50.0, 0.3, 0.01), Row("b.jpg", "warp", 2.0, PSNR_CAP, 0.5, 0.03)], ["warp"]
    )
    assert (
        "| a.jpg | warp | 0 | 50.0 | 0.30 | 0.010 |" in table and "| b.jpg | warp | 2 | inf | 0.50 | 0.030 |" in table
    )
    assert "| **mean** | warp | 1.0 (max 2) | 75.0 | 0.40 | 0.020 |" in table
