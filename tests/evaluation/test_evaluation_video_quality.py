"""evaluation.video_quality scores known edits: none (identity 0, reach 1, flicker 1) and a jittered one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from align import align_landmarks, to_crop
from align.track import smooth_landmarks, track_faces, track_to_json
from evaluation.video_quality import VideoScore, _summarise, format_table, score_video
from pipeline.config import PipelineConfig
from pipeline.io.clip import read_frames
from pipeline.io.outputs import write_png
from pipeline.video.config import VideoConfig

SIZE = 64


@pytest.fixture(scope="module")
def tracked(face_clip):
    """The clip's frames, the chosen face per frame, and the mouth-corner targets in the keyframe's crop."""
    frames = [frame for _, frame in read_frames(face_clip)]
    faces = track_faces(enumerate(frames), frames[0])
    landmarks = smooth_landmarks(faces, VideoConfig().landmark_sigma)
    targets_photo = faces[0].landmarks_photo[[48, 54]] + np.array([[-4.0, 0.0], [4.0, 0.0]])
    targets_crop = to_crop(targets_photo, align_landmarks(frames[0], landmarks[0], SIZE, PipelineConfig().align))
    return frames, faces, targets_crop


def _work(tmp_path, frames, faces, edit=lambda index, frame: frame):
    (tmp_path / "frames").mkdir()
    (tmp_path / "track.json").write_text(json.dumps(track_to_json(faces)))
    for index, frame in enumerate(frames):
        write_png(tmp_path / "frames" / f"{index:06d}.png", edit(index, frame))
    return tmp_path


def test_an_unedited_clip_scores_identity_0_reach_1_flicker_1(face_clip, tracked, tmp_path):
    frames, faces, targets = tracked
    work = _work(tmp_path, frames, faces)
    terms = score_video(face_clip, work, targets, "mouth-wider", PipelineConfig(), VideoConfig(), SIZE)
    assert terms["without_face"] == 3 and terms["untouched"] == 3
    assert np.allclose(terms["identity"], 0.0) and np.allclose(terms["reach"], 1.0)
    score = _summarise("clip", terms, len(frames), 12.0, 100.0)
    assert score.flicker == pytest.approx(1.0) and score.visible == 0.0 and score.with_face == 9
    assert score.seconds_per_frame == pytest.approx(1.0)
    assert "| clip | 12 | 9 | 0% |" in format_table([score], "cpu")


def test_jitter_inside_the_face_box_raises_flicker_and_a_changed_cat_frame_counts(face_clip, tracked, tmp_path):
    frames, faces, targets = tracked
    rng = np.random.default_rng(0)

    def edit(index, frame):
        out = frame.copy()
        if index == 7:
            out[0, 0] ^= 1  # one bit of a frame without the face
        if faces[index] is not None and index % 2:
            x0, y0, x1, y1 = (int(v) for v in faces[index].box)
            noise = rng.integers(-40, 41, out[y0:y1, x0:x1].shape)
            out[y0:y1, x0:x1] = np.clip(out[y0:y1, x0:x1] + noise, 0, 255)
        return out

    work = _work(tmp_path, frames, faces, edit)
    terms = score_video(face_clip, work, targets, "mouth-wider", PipelineConfig(), VideoConfig(), SIZE)
    assert terms["untouched"] == 2
    assert _summarise("clip", terms, len(frames), 1.0, 1.0).flicker > 1.3


def test_score_fields_are_the_tables_columns():
    score = VideoScore("c", 10, 8, 0.875, 0.2, 0.3, 0.5, 27.25, 1.1, 2, 2, 1.5, 900.0)
    row = format_table([score], "cpu").splitlines()[-1]
    assert row == "| c | 10 | 8 | 88% | 0.200 (0.300) | 0.50 | 27.2 dB | 1.10 | 2/2 | 1.50 | 900 |"
