"""Fixtures of the video tests: a small clip with a face, a cut to a cat and back, and a tone; points on it."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import PipelineConfig
from pipeline.io.points import DragPoints

SIZE = (192, 192)
FPS = 10.0
ASTRONAUT = dict(center=(0.45, 0.26), zoom=(1.9, 2.0), pan=(0.03, 0.01), rotate_deg=(-1.0, 1.0))
# frames 0-5 the astronaut, 6-8 a cat (no face: unchanged), 9-11 the astronaut again
SHOTS = (("astronaut", 6), ("cat", 3), ("astronaut", 3))


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    from skimage import data

    from evaluation.video_clips import Camera, photo_clip_frames, sine_audio
    from pipeline.io.clip import ClipWriter

    folder = tmp_path_factory.mktemp("clip")
    tone = sine_audio(folder / "tone.wav", seconds=sum(n for _, n in SHOTS) / FPS)
    photos = {"astronaut": (data.astronaut(), ASTRONAUT), "cat": (data.chelsea(), {})}
    path = folder / "clip.mp4"
    with ClipWriter(path, *SIZE, FPS, audio_from=tone, crf=12) as writer:
        for name, n in SHOTS:
            photo, camera = photos[name]
            for frame in photo_clip_frames(photo, n, SIZE, Camera(**camera)):
                writer.write(frame)
    return path


@pytest.fixture(scope="session")
def model():
    from pipeline.models import load_model

    return load_model("face-64", PipelineConfig(device="cpu", use_cache=False), allow_download=False, progress=False)


@pytest.fixture(scope="session")
def points(clip) -> DragPoints:
    """Both mouth corners of keyframe 2 dragged 3 px outward (found by dlib on the keyframe)."""
    from align.faces import detect_faces, face_landmarks
    from pipeline.io.clip import read_frames

    keyframe = next(frame for index, frame in read_frames(clip) if index == 2)
    landmarks = face_landmarks(keyframe, detect_faces(keyframe)[0].box)
    handles = landmarks[[48, 54]]
    return DragPoints(handles, handles + np.array([[-3.0, 0.0], [3.0, 0.0]]), frame=2)
