"""A clip edited end to end on the shipped face model: every frame, the cut, the audio, the resume."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pipeline.config import PipelineConfig
from pipeline.video.config import VideoConfig


def _fast_config() -> PipelineConfig:
    config = PipelineConfig(device="cpu", use_cache=False)
    inversion = dataclasses.replace(config.inversion, w_steps=20, pti_steps=10, w_avg_samples=2000)
    drag = dataclasses.replace(config.drag, max_steps=15)
    return dataclasses.replace(
        config, inversion=inversion, drag=drag, user_options=("inversion.w_steps", "inversion.pti_steps")
    )


VIDEO = VideoConfig(frame_steps=3, shot_steps=6)


def _edit(clip, points, model, out, **kwargs):
    """`edit_video` on one torch thread (module fixtures run before the autouse one-thread fixture,
    and float sums differ between thread counts: a resumed run equals the uninterrupted one only
    with the same settings on the same machine)."""
    import torch

    from pipeline.video.edit import edit_video

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return edit_video(clip, points, model, out, _fast_config(), VIDEO, progress=False, **kwargs)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def uninterrupted(clip, points, model, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "edit"
    return _edit(clip, points, model, out)


def test_every_frame_is_written_with_the_clips_size_rate_and_audio(uninterrupted, clip):
    from pipeline.io.clip import probe_clip

    source, edited = probe_clip(clip), probe_clip(uninterrupted.out / "edited.mp4")
    assert (edited.width, edited.height, edited.frame_count) == (source.width, source.height, source.frame_count)
    assert edited.fps == pytest.approx(source.fps)
    assert edited.has_audio and source.has_audio
    both = probe_clip(uninterrupted.out / "comparison.mp4")
    assert (both.width, both.frame_count) == (2 * source.width, source.frame_count)
    report = json.loads((uninterrupted.out / "report.json").read_text())
    assert report["kind"] == "video" and len(report["frames"]) == source.frame_count
    assert (uninterrupted.out / "keyframe" / "edited.png").is_file()


def test_the_face_is_followed_across_the_cut_and_the_cat_is_left_alone(uninterrupted):
    found = [bool(r["found"]) for r in uninterrupted.frames]
    assert found == [True] * 6 + [False] * 3 + [True] * 3
    shots = [r.get("shot") for r in uninterrupted.frames if r["found"]]
    assert len(set(shots[:6])) == 1 and len(set(shots[6:])) == 1 and shots[0] != shots[-1]
    edited = [r.get("changed_pixels", 0) > 0 for r in uninterrupted.frames]
    assert edited == found  # the edit reaches every frame with the face, and only those


def test_a_stopped_run_resumes_to_the_uninterrupted_result(clip, points, model, uninterrupted, tmp_path):
    from PIL import Image

    from pipeline.io.clip import read_frames
    from pipeline.video.work import work_folder_for

    out = tmp_path / "edit"
    partial = _edit(clip, points, model, out, stop_after=7)  # as if killed after 7 frames
    assert not partial.complete and not out.exists()  # no half-written output
    work = work_folder_for(out)
    # frames without the chosen face hold the decoded frame's bytes, before encoding
    done = sorted(int(p.stem) for p in (work / "frames").glob("*.png"))
    assert done == list(range(7))
    cat = next(frame for index, frame in read_frames(clip) if index == 6)
    assert np.array_equal(np.asarray(Image.open(work / "frames" / "000006.png")), cat)
    resumed = _edit(clip, points, model, out)
    assert resumed.complete and not work.exists()
    assert sum(r["found"] for r in resumed.frames) == 9
    assert (out / "edited.mp4").read_bytes() == (uninterrupted.out / "edited.mp4").read_bytes()
    assert [r.get("inversion_steps") for r in resumed.frames] == [
        r.get("inversion_steps") for r in uninterrupted.frames
    ]
