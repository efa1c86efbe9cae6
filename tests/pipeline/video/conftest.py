"""Fixtures of the video tests: the face-64 model and drag points on `face_clip` (tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import PipelineConfig
from pipeline.io.points import DragPoints


@pytest.fixture(scope="session")
def model():
    from pipeline.models import load_model

    return load_model("face-64", PipelineConfig(device="cpu", use_cache=False), allow_download=False, progress=False)


@pytest.fixture(scope="session")
def points(face_clip) -> DragPoints:
    """Both mouth corners of keyframe 2 dragged 3 px outward (found by dlib on the keyframe)."""
    from align.faces import detect_faces, face_landmarks
    from pipeline.io.clip import read_frames

    keyframe = next(frame for index, frame in read_frames(face_clip) if index == 2)
    landmarks = face_landmarks(keyframe, detect_faces(keyframe)[0].box)
    handles = landmarks[[48, 54]]
    return DragPoints(handles, handles + np.array([[-3.0, 0.0], [3.0, 0.0]]), frame=2)


@pytest.fixture(scope="session")
def clip(face_clip):
    return face_clip
