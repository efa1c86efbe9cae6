"""The shipped face-64 model on real faces it never saw: the drag test and an end-to-end photo edit.

These use the model inside the package and real data from ../shared (skipped without it). The
inversion runs fewer steps than the defaults to keep the suite fast; the full-length numbers
come from `python -m evaluation.face_model_report` (README, "The default model").
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from align import load_photo
from evaluation.heldout import (
    crop_landmarks,
    heldout_crops,
    invert_face,
    mouth_drag_test,
    mouth_targets,
)
from hub.registry import load_checkpoint, resolve_checkpoint
from pipeline import PipelineConfig, edit_photo
from pipeline.edit import align_photo
from pipeline.model_defaults import config_for_model


@pytest.fixture(scope="module")
def face64():
    resolved = resolve_checkpoint("face-64", allow_download=False)
    G = load_checkpoint(resolved)
    config = config_for_model(PipelineConfig(device="cpu", use_cache=False), G, resolved.info)
    quick = dataclasses.replace(config.inversion, w_steps=100, pti_steps=80, w_avg_samples=2000)
    return G, dataclasses.replace(config, inversion=quick)


@pytest.mark.slow
def test_mouth_drag_on_a_heldout_face(face64, utkface_dir):
    G, config = face64
    ((name, alignment),) = heldout_crops(utkface_dir, 64, config.align, 1)
    inverted = invert_face(G, alignment.crop, config.inversion, methods=("pti",))
    result = mouth_drag_test(
        inverted.G["pti"], inverted.ws["pti"], alignment.landmarks_crop, inverted.reconstruction["pti"], config.drag
    )
    assert result.converged and result.final_distance <= config.drag.stop_distance
    assert result.face_found
    assert result.mouth_width_change > 0.5  # both corners moved out by ~1.5 px each at 64 px
    assert result.eye_shift < 1.5  # far from the mouth, the face stays put


def test_mouth_targets_move_outward_along_the_eye_axis():
    landmarks = np.zeros((68, 2))
    landmarks[36:42] = (20.0, 25.0)  # right eye centre (image left)
    landmarks[42:48] = (40.0, 25.0)  # left eye centre: eye distance 20 px along +x
    landmarks[48], landmarks[54] = (24.0, 45.0), (36.0, 45.0)
    handles, targets = mouth_targets(landmarks, 0.1)
    np.testing.assert_allclose(handles, [[24, 45], [36, 45]])
    np.testing.assert_allclose(targets, [[22, 45], [38, 45]])  # 10% of 20 px, outward


@pytest.mark.slow
def test_edit_of_a_photo_changes_only_pixels_near_the_mouth(face64, shared_dir):
    """obama.jpg, both mouth corners outward, with the mouth region painted as the mask (DragGAN's way to keep
    the rest fixed): the pasted-back photo changes only around the mouth; eyes, hair and background stay
    byte-identical."""
    G, config = face64
    photo = load_photo(shared_dir / "data" / "photos" / "obama.jpg")
    landmarks = align_photo(photo, 64, config).landmarks_photo
    handles, targets = mouth_targets(landmarks, 0.1)
    mouth = landmarks[48:68].mean(0)
    eye_distance = float(np.hypot(*(landmarks[36:42].mean(0) - landmarks[42:48].mean(0))))
    yy, xx = np.mgrid[: photo.shape[0], : photo.shape[1]]
    mask = np.hypot(xx - mouth[0], yy - mouth[1]) <= eye_distance
    # lambda 5 instead of the paper's 20: at 64 px the mask term otherwise holds the corners back (measured:
    # 20 moves them 0.4 px in 80 steps; 5 converges in ~60 steps and still keeps the eyes byte-identical).
    config = dataclasses.replace(config, drag=dataclasses.replace(config.drag, max_steps=150, lambda_mask=5.0))
    result = edit_photo(photo, handles, targets, G, config, mask_photo=mask, progress=False)

    changed = np.any(result.edited_photo != photo, axis=2)
    assert changed.sum() > 500  # the mouth did change
    ys, xs = np.nonzero(changed)
    # Nothing beyond the painted region and the paste-back's feathered border (a few crop pixels).
    assert np.hypot(xs - mouth[0], ys - mouth[1]).max() <= 1.3 * eye_distance
    assert not changed[: int(landmarks[17:27, 1].min())].any()  # brows, forehead, hair, background above
    eyes = landmarks[36:48]
    x0, y0 = (eyes.min(0) - 0.2 * eye_distance).astype(int)
    x1, y1 = (eyes.max(0) + 0.2 * eye_distance).astype(int)
    assert not changed[y0:y1, x0:x1].any()
    # The handles reached the targets and the mouth got wider.
    assert result.drag.converged
    before, after = crop_landmarks(result.reconstruction_crop), crop_landmarks(result.edited_crop)
    assert np.hypot(*(after[54] - after[48])) > np.hypot(*(before[54] - before[48]))
