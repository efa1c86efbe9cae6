"""Fixtures for the align tests: shared data, dlib models, synthetic images and faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def dlib_faces_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "dlib_faces"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def photos_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "photos"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def face_models() -> None:
    """Skip when dlib or face_recognition_models is not installed."""
    from align import FaceModelError, face_model_path

    try:
        import dlib  # noqa: F401

        face_model_path("shape_predictor_68_face_landmarks.dat")
    except (ImportError, FaceModelError) as exc:
        pytest.skip(f"dlib face models unavailable: {exc}")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def smooth_image(height: int, width: int, seed: int = 0, period: float = 40.0) -> np.ndarray:
    """A band-limited uint8 (H, W, 3) test image: random low-frequency sinusoids."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.full((height, width, 3), 128.0)
    for c in range(3):
        for _ in range(4):
            angle = rng.uniform(0, np.pi)
            freq = 2 * np.pi / (period * rng.uniform(1.0, 3.0))
            phase = rng.uniform(0, 2 * np.pi)
            out[..., c] += 25 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def synthetic_landmarks(
    eye_centre_left=(-30.0, 0.0),
    eye_centre_right=(30.0, 0.0),
    mouth_left=(-25.0, 70.0),
    mouth_right=(25.0, 70.0),
    angle_deg: float = 0.0,
    offset=(0.0, 0.0),
) -> np.ndarray:
    """68 iBUG points with known eye centres and mouth corners, rotated and shifted.

    Only the points FFHQ uses are meaningful: each eye is 6 points on an ellipse around
    its centre (mean = centre), lm[48] / lm[54] are the mouth corners; the rest sit on
    the face centre.
    """
    lm = np.zeros((68, 2))
    ring = np.stack([np.cos(np.arange(6) * np.pi / 3) * 8, np.sin(np.arange(6) * np.pi / 3) * 3], axis=1)
    lm[36:42] = np.asarray(eye_centre_left) + ring
    lm[42:48] = np.asarray(eye_centre_right) + ring
    lm[48:60] = (np.asarray(mouth_left) + np.asarray(mouth_right)) / 2
    lm[48] = mouth_left
    lm[54] = mouth_right
    lm[:36] = lm[60:] = (0.0, 35.0)
    t = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return lm @ rot.T + np.asarray(offset)


@pytest.fixture
def make_smooth_image():
    return smooth_image


@pytest.fixture
def make_landmarks():
    return synthetic_landmarks
