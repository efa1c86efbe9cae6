"""The video edit's parts that need no clip: runs, rank shares, smoothing of layers, the work folder."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pipeline.errors import PipelineError, PointsError
from pipeline.io.points import parse_points
from pipeline.video.config import VideoConfig
from pipeline.video.frames import LayerSmoother
from pipeline.video.render import frame_runs, frames_of_rank
from pipeline.video.work import VideoWork, state_dict


def _faces(spec: str):
    """'aa-b' -> a face in shot a, a, none, a face in shot b."""
    return [None if c == "-" else SimpleNamespace(shot=ord(c) - ord("a")) for c in spec]


def test_runs_split_at_cuts_and_gaps():
    assert frame_runs(_faces("aaa-aabbb--c")) == [(0, 3), (4, 6), (6, 9), (11, 12)]
    assert frame_runs(_faces("----")) == []
    assert frame_runs(_faces("b")) == [(0, 1)]


def test_ranks_share_every_frame_exactly_once_and_keep_runs_whole():
    faces = _faces("aaa-aabbb--cc-")
    shares = [frames_of_rank(faces, r, 3) for r in range(3)]
    assert sorted(i for share in shares for i in share) == list(range(len(faces)))
    for a, b in frame_runs(faces):
        owners = {r for r, share in enumerate(shares) for i in range(a, b) if i in share}
        assert len(owners) == 1  # a run's warm start needs its frames on one rank
    assert frames_of_rank(faces) == list(range(len(faces)))


def test_layer_smoothing_blends_with_the_previous_frame_and_resets():
    smooth = LayerSmoother(0.25)
    f1, w1 = np.full((4, 4, 2), 4.0, np.float32), np.ones((4, 4), np.float32)
    f2, w2 = np.zeros((4, 4, 2), np.float32), np.zeros((4, 4), np.float32)
    assert np.array_equal(smooth(f1, w1)[0], f1)  # the first frame is its own
    field, weight = smooth(f2, w2)
    assert np.allclose(field, 1.0) and np.allclose(weight, 0.25)
    assert weight.dtype == np.float32
    smooth.reset()
    assert np.array_equal(smooth(f2, w2)[1], w2)
    # a zero weight (the crop's border band, a fixed region) stays exactly zero
    smooth.restore(f2, w2)
    assert np.array_equal(smooth(f1, w2)[1], w2)
    off = LayerSmoother(0.0)
    off(f1, w1)
    assert np.array_equal(off(f2, w2)[0], f2)


def test_work_folder_keeps_finished_frames_and_clears_other_work(tmp_path):
    work = VideoWork(tmp_path / "w", "key-1")
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    ws = torch.randn(1, 4, 8)
    field, weight = np.random.default_rng(0).normal(size=(5, 5, 2)), np.ones((5, 5))
    work.write_frame(7, image, {"frame": 7}, state_dict(ws, field, weight))
    assert work.done(7) and not work.done(6)
    again = VideoWork(tmp_path / "w", "key-1")  # a rerun with the same inputs
    assert again.done(7) and again.record(7) == {"frame": 7}
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(again.frame_png(7))), image)  # lossless
    state = again.state(7)
    assert np.array_equal(state["ws"], ws.numpy()) and np.array_equal(state["field"], field.astype(np.float32))
    again.drop_state(7)
    assert again.state(7) is None and again.done(7)
    other = VideoWork(tmp_path / "w", "key-2")  # other inputs: start afresh
    assert not other.done(7)


def test_points_name_a_keyframe():
    assert parse_points('{"handles": [[1, 2]], "targets": [[3, 4]], "frame": 12}').frame == 12
    assert parse_points('{"handles": [[1, 2]], "targets": [[3, 4]]}').frame == 0
    for bad in ("-1", "1.5", '"3"', "true"):
        with pytest.raises(PointsError, match='"frame" must be a whole frame number'):
            parse_points(f'{{"handles": [[1, 2]], "targets": [[3, 4]], "frame": {bad}}}')


def test_check_video_points_refuses_a_keyframe_past_the_end_and_points_outside():
    from pipeline.video.edit import check_video_points

    info = SimpleNamespace(width=100, height=80, frame_count=10, path="clip.mp4")
    ok = parse_points('{"handles": [[1, 2]], "targets": [[3, 4]], "frame": 9}')
    check_video_points(ok, info)
    with pytest.raises(PointsError, match="past the clip's last frame"):
        check_video_points(parse_points('{"handles": [[1, 2]], "targets": [[3, 4]], "frame": 10}'), info)
    with pytest.raises(PointsError):
        check_video_points(parse_points('{"handles": [[1, 2]], "targets": [[300, 4]]}'), info)


def test_video_config_refuses_bad_values():
    with pytest.raises(PipelineError, match="layer_smoothing"):
        VideoConfig(layer_smoothing=1.0)
    with pytest.raises(PipelineError, match="frame_steps"):
        VideoConfig(frame_steps=-1)


def test_each_frame_is_edited_by_the_generator_tuned_on_its_anchor_frame():
    from pipeline.config import PipelineConfig
    from pipeline.video.render import _Renderer

    key = SimpleNamespace(frame=3)
    runs = {0: 10, 20: 30}

    def anchors(**video):
        renderer = _Renderer(key, PipelineConfig(), VideoConfig(**video), None, runs)
        return [renderer._anchor(i, a) for a, b in runs.items() for i in range(a, b)]

    # once a run: the keyframe's run keeps the keyframe's generator, another run is tuned on its first frame
    assert anchors() == [None] * 10 + [20] * 10
    assert anchors(tune_runs=False) == [None] * 20
    # every 4th frame: only the stretch holding the keyframe keeps the keyframe's generator
    assert anchors(tune_every=4) == [None] * 4 + [4] * 4 + [8] * 2 + [20] * 4 + [24] * 4 + [28] * 2
    assert anchors(tune_every=1)[:5] == [0, 1, 2, None, 4]
