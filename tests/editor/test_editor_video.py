"""The editor's video flow without the web layer: clip, keyframe, points, preview, render, Stop and resume."""

from __future__ import annotations

import numpy as np
import pytest

import pipeline as pl
from editor.app import EditorApp
from editor.handlers import settings_from
from editor.settings import ServerOptions
from pipeline.video.config import VideoConfig
from tests.editor.conftest import FAST, SERVER, write_photo

SIZE = (192, 192)
FRAMES = 4
# The astronaut's face fills the frame's upper middle (as tests/pipeline/video/test_video_edit.py).
ASTRONAUT = dict(center=(0.45, 0.26), zoom=(1.9, 2.0), pan=(0.03, 0.01), rotate_deg=(-1.0, 1.0))
# Few inversion and drag steps (face-64), few steps per frame: seconds, not minutes.
SETTINGS = FAST | {"inversion_method": "pti", "steps": "10", "drag_steps": "10", "lr": ""}


def _write_clip(path, photo, camera: dict, frames: int = FRAMES):
    from evaluation.video_clips import Camera, photo_clip_frames
    from pipeline.io.clip import ClipWriter

    with ClipWriter(path, *SIZE, 10.0, crf=12) as writer:
        for frame in photo_clip_frames(photo, frames, SIZE, Camera(**camera)):
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from skimage import data

    return _write_clip(tmp_path_factory.mktemp("clip") / "astronaut.mp4", data.astronaut(), ASTRONAUT)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")  # the shipped face-64, with its registry defaults
    a = EditorApp(ServerOptions(**SERVER), checkpoint="face-64", temp_dir=root / "app", allow_download=False)
    yield a
    a.close()


def _video(app, sid: str):
    session = app.session(sid)
    session.settings = settings_from(SETTINGS)
    video = app.video_session(sid)
    video.video = VideoConfig(frame_steps=2, shot_steps=4)
    return session, video


def _config(app, session):
    from editor.video import video_config

    return video_config(session.settings, app.server, session.model)


def _loaded(app, clip, sid: str):
    session, video = _video(app, sid)
    video.set_clip(clip, session.model, _config(app, session))
    return session, video


def _mouth_points(video):
    """Both mouth corners of the keyframe dragged 3 px outward (dlib's landmarks 48 and 54)."""
    from align.faces import detect_faces, face_landmarks

    landmarks = face_landmarks(video.frame, detect_faces(video.frame)[0].box)
    handles = landmarks[[48, 54]]
    return handles, handles + np.array([[-3.0, 0.0], [3.0, 0.0]])


def test_a_clip_gives_the_slider_its_frames_and_shows_the_keyframe_around_the_face(app, clip):
    session, video = _video(app, "load")
    message = video.set_clip(clip, session.model, _config(app, session))
    assert video.info.frame_count == FRAMES and f"{FRAMES} frames" in message  # the slider's 0..FRAMES-1
    assert video.index == 0 and video.frame.shape == (*SIZE[::-1], 3) and video.alignment is not None
    canvas = video.canvas()
    view = video.view()
    assert canvas.shape == (view.height, view.width, 3) and view.box != (0, 0, *SIZE)  # zoomed on the face
    message = video.show_frame(2, session.model, _config(app, session))
    assert video.index == 2 and "keyframe 2" in message
    with pytest.raises(Exception, match="outside the clip"):
        video.show_frame(FRAMES, session.model, _config(app, session))


def test_a_click_on_the_keyframe_lands_in_its_pixels(app, clip):
    from editor.state import display_from_photo, undo_click

    session, video = _loaded(app, clip, "click")
    handle, target = _mouth_points(video)
    view = video.view()
    for point in (handle[0], target[0]):
        video.click(np.rint(display_from_photo(point, view)))
    assert len(video.clicks) == 1
    # Within half a display pixel of the clicked point, in keyframe (photo) pixels.
    tolerance = 0.5 / view.scale[0] + 1e-9
    np.testing.assert_allclose(video.clicks.handles[0], handle[0], atol=tolerance)
    np.testing.assert_allclose(video.clicks.targets[0], target[0], atol=tolerance)
    points = video.points()
    assert points.frame == 0 and points.handles_photo.shape == (1, 2)
    assert video.points_json()["handles_photo"] == video.clicks.handles.tolist()
    with pytest.raises(Exception, match="outside the edited region of keyframe 0"):
        video.click((0, 0))  # the canvas's margin, outside the face's crop
    video.edit_points(undo_click, "undone")
    assert len(video.clicks) == 0 and video.clicks.pending_handle is not None


def test_preview_edits_the_keyframe_near_the_points_only(app, clip):
    session, video = _loaded(app, clip, "preview")
    video.show_frame(1, session.model, _config(app, session))
    handles, targets = _mouth_points(video)
    for h, t in zip(handles, targets):
        video.add_point(h)
        video.add_point(t)
    message = video.run_preview(session.model, _config(app, session))
    assert "keyframe 1 edited" in message
    changed = np.any(video.preview != video.frame, axis=2)
    ys, xs = np.nonzero(changed)
    assert len(xs) > 0
    # Only inside the face's crop, and most of the change near the dragged mouth corners.
    crop = pl.to_crop(np.stack([xs, ys], axis=1).astype(np.float64), video.alignment)
    assert np.all((crop >= -1) & (crop <= video.alignment.size)), "changes outside the face's crop"
    distance = np.min(np.hypot(xs[:, None] - handles[:, 0], ys[:, None] - handles[:, 1]), axis=1)
    m = video.alignment.crop_from_photo
    face = video.alignment.size / np.hypot(m[0, 0], m[0, 1])  # the crop's side in keyframe pixels
    assert np.percentile(distance, 90) < 0.3 * face  # about 0.25 here: the mouth, not the whole face
    assert video.preview_image().shape == video.canvas().shape


def test_render_stops_resumes_and_writes_every_frame(app, clip):
    from pipeline.io.clip import probe_clip
    from pipeline.video.work import work_folder_for

    session, video = _loaded(app, clip, "render")
    handles, targets = _mouth_points(video)
    video.add_point(handles[0])
    video.add_point(targets[0])
    config = _config(app, session)
    seen = []
    for update in video.render(session.model, config):
        seen.append(update)
        if update.done >= 1 and not update.finished:
            video.stop.set()  # what the Stop button does
    last = seen[-1]
    assert last.finished and not last.complete and "resume" in last.message
    assert 1 <= last.done < FRAMES and work_folder_for(video.out).is_dir() and not video.outputs
    updates = list(video.render(session.model, config))  # resumes from the finished frames
    assert updates[-1].complete and updates[-1].done == FRAMES
    progress = [u.done for u in updates if not u.finished]
    assert progress == sorted(progress) and progress[1] == last.done  # counted from where it stopped
    edited = video.out / "edited.mp4"
    assert edited in video.outputs and probe_clip(edited).frame_count == FRAMES
    assert not work_folder_for(video.out).exists()


def test_a_photo_or_a_bad_keyframe_is_a_message(app, tmp_path):
    from skimage import data

    session, video = _video(app, "bad")
    photo = write_photo(tmp_path / "photo.png")
    with pytest.raises(Exception, match="not a video clip"):
        video.set_clip(photo, session.model, _config(app, session))
    renamed = photo.rename(tmp_path / "photo.mp4")  # by content, not by name
    with pytest.raises(Exception, match="not a video clip"):
        video.set_clip(renamed, session.model, _config(app, session))
    cat = _write_clip(tmp_path / "cat.mp4", data.chelsea(), {}, frames=2)
    message = video.set_clip(cat, session.model, _config(app, session))
    assert "no face found on frame 0" in message and video.view().box == (0, 0, *SIZE)  # shown whole
    with pytest.raises(Exception, match="no face to edit"):
        video.add_point((96.0, 96.0))


def test_closing_the_tab_frees_its_clip_and_files(app, clip):
    _, video = _loaded(app, clip, "close")
    assert video.folder.is_dir()
    app.close_session("close")
    assert video.clip is None and not video.folder.exists()
    assert app.video_session("close") is not video  # a fresh one for a new tab with that id


def test_a_rendering_tab_is_not_freed_as_idle(app, clip):
    _, video = _video(app, "busy")
    video.busy = True  # as during a render
    try:
        assert "busy" not in app.sweep(now=float("inf"))
    finally:
        video.busy = False
    assert "busy" in app.sweep(now=float("inf"))
