"""evaluation.drag_stability: the steadiness measures on a known drag record."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.drag_stability import drag_stability


def _edit(history: list, edited: np.ndarray, reconstruction: np.ndarray) -> SimpleNamespace:
    landmarks = np.zeros((68, 2))
    landmarks[36:42], landmarks[42:48] = (20.0, 20.0), (40.0, 20.0)  # eye distance 20 px
    return SimpleNamespace(
        drag=SimpleNamespace(history=np.array(history, np.float64), converged=True, steps=len(history) - 1),
        targets_crop=np.array([[30.0, 50.0]]),
        handles_crop=np.array([[24.0, 50.0]]),
        alignment=SimpleNamespace(landmarks_crop=landmarks),
        edited_crop=edited,
        reconstruction_crop=reconstruction,
    )


def test_jump_regress_and_psnr_away_on_a_known_record():
    crop = np.full((64, 64, 3), 100, np.uint8)
    # distance to the target: 6, 4, 1, 3 (a jump back of 2 px), 0.5
    history = [[[24.0, 50.0]], [[26.0, 50.0]], [[29.0, 50.0]], [[27.0, 50.0]], [[29.5, 50.0]]]
    edited = crop.copy()
    edited[52, 30] = 0  # within half an eye distance (10 px) of the points: not counted
    result = drag_stability(_edit(history, edited, crop))
    assert result.converged and result.steps == 4
    assert result.final_distance == pytest.approx(0.5)
    assert result.max_jump == pytest.approx(3.0)
    assert result.max_regress == pytest.approx(2.0)
    assert math.isinf(result.psnr_away) and result.detail_away > 100.0  # only the blur's faint tail reaches
    edited[5, 5] = 0  # far from every point: counted, and a spot is detail
    spot = drag_stability(_edit(history, edited, crop))
    assert spot.psnr_away < 60.0 and spot.detail_away < 60.0
    toned = drag_stability(_edit(history, crop + np.uint8(4), crop))  # a smooth change of tone is no detail
    assert toned.psnr_away == pytest.approx(20 * math.log10(255 / 4)) and toned.detail_away > 100.0
    steady = drag_stability(_edit(history[:3], crop, crop))
    assert steady.max_regress == 0.0
