"""A tab's session without the web layer: Stop, undo / reset / continue, mask, seed, cache, cleanup, models."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pipeline as pl
from editor.handlers import settings_from
from editor.settings import EditorSettings
from pipeline import UnknownCheckpointError
from tests.editor.conftest import FAST, tiny_app, write_photo


@pytest.fixture
def app(tmp_path):
    a = tiny_app(tmp_path, no_cache=False, cache_dir=str(tmp_path / "cache"))
    yield a
    a.close()


def _inverted(app, tmp_path, sid="s", **settings):
    session = app.session(sid)
    session.settings = settings_from(FAST | settings)
    session.set_photo(write_photo(tmp_path / f"{sid}.png"))
    session.invert()
    return session


def _run(session):
    updates = list(session.drag())
    assert updates[-1].done
    return updates


def test_stop_halts_within_one_step_and_keeps_the_result(app, tmp_path):
    session = _inverted(app, tmp_path, drag_steps="500", stop_distance="0")
    session.clicks = session.clicks.__class__(((8.0, 8.0), (24.0, 24.0)))
    seen = None
    for update in session.drag():
        if not update.done and seen is None:
            seen = update.step
            session.stop.set()  # what the Stop button does
    last = session.history[-1]
    assert last.drag.stopped_by_callback and last.drag.steps <= seen + 1
    assert len(session.history) == 2 and session.outputs  # the stopped result is kept and written


def test_undo_reset_and_continue_from_the_current_latent(app, tmp_path):
    session = _inverted(app, tmp_path, drag_steps="3")
    session.clicks = session.clicks.__class__(((8.0, 8.0), (14.0, 8.0)))
    _run(session)
    first = session.history[-1]
    assert session.clicks.targets.tolist() == [[14.0, 8.0]]  # tracked handles keep their targets
    _run(session)
    second = session.history[-1]
    assert len(session.history) == 3
    # The second drag started from the first one's latent, not from the inversion.
    rows = session.config.drag.optimize_rows
    np.testing.assert_array_equal(second.ws[:, rows:], first.ws[:, rows:])
    assert not np.array_equal(second.ws.numpy(), first.ws.numpy())
    session.undo_drag()
    assert session.history[-1] is first
    session.reset()
    assert len(session.history) == 1 and len(session.clicks) == 0
    with pytest.raises(ValueError, match="no drag to undo"):
        session.undo_drag()


def test_mask_reaches_the_drag_and_report(app, tmp_path):
    session = _inverted(app, tmp_path, drag_steps="2")
    session.clicks = session.clicks.__class__(((8.0, 8.0), (12.0, 8.0)))
    mask = np.zeros((32, 32), np.float32)
    mask[:16, :16] = 1
    session.mask_crop = mask
    _run(session)
    report = json.loads(next(p for p in session.outputs if p.name == "report.json").read_text())
    assert report["points"]["mask"] and report["points"]["mask_crop_fraction"] == pytest.approx(0.25)
    np.testing.assert_array_equal(session.history[-1].mask_crop, mask)


def test_second_upload_reuses_the_inversion_cache(app, tmp_path):
    a = _inverted(app, tmp_path, sid="a")
    assert not a.cache_hit
    session = app.session("b")
    session.settings = a.settings
    session.set_photo(tmp_path / "a.png")
    session.invert()
    assert session.cache_hit
    np.testing.assert_array_equal(session.history[0].ws.numpy(), a.history[0].ws.numpy())


def test_seed_start_is_reproducible_and_editable(app):
    s1, s2 = app.session("x"), app.session("y")
    s1.start_from_seed(5, 0.7)
    s2.start_from_seed(5, 0.7)
    np.testing.assert_array_equal(s1.history[0].image, s2.history[0].image)
    s1.settings = EditorSettings(drag_steps=2)
    s1.clicks = s1.clicks.__class__(((8.0, 8.0), (12.0, 8.0)))
    _run(s1)
    assert {p.name for p in s1.outputs} >= {"edited.png", "latents.pt", "report.json"}
    with pytest.raises(ValueError, match="psi"):
        s1.start_from_seed(1, 1.5)


def test_sessions_are_freed_on_close_and_after_idle_timeout(app, tmp_path):
    session = _inverted(app, tmp_path, sid="idle")
    folder = session.folder
    session.settings = settings_from(FAST)
    session.clicks = session.clicks.__class__(((8.0, 8.0), (12.0, 8.0)))
    _run(session)
    assert folder.is_dir()
    app.session("fresh")
    freed = app.sweep(now=session.touched + app.idle_timeout_s + 1)
    assert "idle" in freed and not app.has_session("idle") and not folder.exists()
    app.close_session("fresh")
    assert not app.has_session("fresh")


def test_checkpoint_files_only_from_the_checkpoints_folder(app, tmp_path):
    outside = tmp_path / "elsewhere" / "g.pt"
    with pytest.raises(UnknownCheckpointError, match="outside the checkpoints folder"):
        app.model(str(outside))
    with pytest.raises(UnknownCheckpointError, match="not found"):
        app.model("missing.pt")  # relative names are looked up inside the folder
    assert app.model("random-64").size == 64  # registered names are fine


class _Request:
    def __init__(self, sid):
        self.session_hash = sid


class _Select:
    def __init__(self, x, y):
        self.index = [x, y]


def _page():
    from types import SimpleNamespace

    names = (
        "photo_view aligned reconstruction metrics canvas points_json pairs mask_editor original edited files "
        "crop_view status face_index box x y"
    ).split()
    page = SimpleNamespace(**{n: n for n in names})
    page.pairs_update = lambda labels: labels
    return page


def test_canvas_clicks_and_mask_through_the_handlers(app, tmp_path):
    from editor.handlers import Handlers

    h = Handlers(app, _page())
    session = _inverted(app, tmp_path, sid="h")
    # The canvas is the 64-px photo at x10; the crop is that photo at 32 px: crop pixel c is
    # photo pixel 2c + 0.5, display pixel 20c + 9.5 (to 1/20 px).
    out = h.click_canvas(_Select(20 * 10 + 9, 20 * 12 + 10), _Request("h"))
    assert out["points_json"]["pending_handle"] == pytest.approx([10, 12], abs=1 / 16)
    out = h.click_canvas(_Select(20 * 20 + 10, 20 * 12 + 10), _Request("h"))
    assert len(session.clicks) == 1 and out["canvas"].shape == (640, 640, 3) and out["crop_view"].shape == (512, 512, 3)
    np.testing.assert_allclose(out["points_json"]["handles_photo"], [[20.5, 24.5]], atol=1 / 8)
    np.testing.assert_allclose(out["points_json"]["targets_photo"], [[40.5, 24.5]], atol=1 / 8)
    assert (out["x"], out["y"]) == (40.55, 24.55)  # the x / y boxes show the click in photo px (display 410, 250)
    layer = np.zeros((640, 640, 4), np.uint8)  # painted on the photo view
    layer[:320, :, 3] = 255  # the top half painted
    out = h.apply_mask({"layers": [layer]}, "fixed", _Request("h"))
    expected = np.ones((32, 32), np.float32)
    expected[:16] = 0
    np.testing.assert_array_equal(session.mask_crop, expected)
    assert session.mask_photo[:32].sum() == 0 and session.mask_photo[32:].all()
    assert out["points_json"]["mask_fraction"] == 0.5
    h.clear_mask(_Request("h"))
    assert session.mask_crop is None and session.mask_photo is None
    h.delete_pair("pair 1: (20.5, 24.5) -> (40.5, 24.5)", _Request("h"))
    assert len(session.clicks) == 0


def test_box_by_two_clicks_and_face_by_click(app, tmp_path):
    from editor.handlers import Handlers

    h = Handlers(app, _page())
    session = app.session("b")
    session.settings = settings_from(FAST | {"align_mode": "center"})
    session.set_photo(write_photo(tmp_path / "b.png", 96, 64))
    values = FAST | {"align_mode": "box", "box": "10,5,60,50"}
    h.pick_on_photo(values, _Select(60, 50), _Request("b"))
    out = h.pick_on_photo(values, _Select(10, 5), _Request("b"))
    assert out["box"] == "10,5,61,51"  # corners in any order; exclusive ends
    h.realign(values, _Request("b"))
    assert session.alignment.kind == "box"
    with pytest.raises(Exception, match="no detected face"):
        h.pick_on_photo(FAST | {"align_mode": "face"}, _Select(1, 1), _Request("b"))


def test_faces_are_numbered_and_chosen(app, shared_dir):
    from editor.view import face_number, photo_overlay

    photo = shared_dir / "data" / "photos" / "two_people.jpg"
    session = app.session("f")
    session.settings = settings_from(FAST | {"align_mode": "face"})
    session.set_photo(photo)
    boxes = session.alignment.all_face_boxes
    assert len(boxes) >= 2 and face_number(session) == 0  # the largest is pre-selected
    session.settings = settings_from(FAST | {"align_mode": "face", "face_index": "1"})
    session.align()
    assert session.alignment.face_box == boxes[1] and face_number(session) == 1
    overlay = photo_overlay(session)
    assert overlay.shape == session.photo.shape and not np.array_equal(overlay, session.photo)


def _marked_photo(path):
    """A 96 x 64 photo, dark grey except a red 4 x 4 square at x 50..53, y 30..33 (centre (51.5, 31.5))."""
    from PIL import Image

    photo = np.full((64, 96, 3), 60, np.uint8)
    photo[30:34, 50:54] = (250, 10, 10)
    Image.fromarray(photo).save(path)
    return path


def test_a_click_on_the_photo_lands_on_the_crop_pixel_under_it(app, tmp_path):
    """Box crop (scaled and offset): clicking the red square on the canvas puts the point on it in the crop."""
    from editor.handlers import Handlers
    from editor.state import display_from_photo
    from editor.view import canvas_image, canvas_view

    h = Handlers(app, _page())
    session = app.session("m")
    session.settings = settings_from(FAST | {"align_mode": "box", "box": "20,4,84,60"})
    session.set_photo(_marked_photo(tmp_path / "m.png"))
    session.invert()
    view = canvas_view(session)
    # The region holds the crop's footprint, inside the photo, shown by an integer enlargement.
    assert (
        view.box[0] <= 20 and view.box[2] >= 84 and view.box[3] <= 64 and view.width % (view.box[2] - view.box[0]) == 0
    )
    d = np.rint(display_from_photo((51.5, 31.5), view)).astype(int)
    canvas = canvas_image(session)
    out = h.click_canvas(_Select(*d), _Request("m"))
    x, y = session.clicks.pending_handle
    expected = pl.to_crop(np.array([[51.5, 31.5]]), session.alignment)[0]
    assert (x, y) == pytest.approx(
        tuple(expected), abs=0.5 / view.scale[0] * session.alignment.crop_from_photo[0, 0] + 1e-6
    )
    crop = session.alignment.crop
    assert crop[round(y), round(x), 0] > 150 and crop[round(y), round(x), 1] < 100  # red in the crop
    # The canvas showed the photo's own pixels there (the red square) and elsewhere (grey).
    far = np.rint(display_from_photo((45.0, 20.0), view)).astype(int)
    assert canvas[d[1], d[0]].tolist() == [250, 10, 10] and canvas[far[1], far[0]].tolist() == [60, 60, 60]
    assert out["canvas"].shape == canvas.shape
    # The margin outside the crop (left of the photo's x 20 minus the box margin) is refused.
    with pytest.raises(Exception, match="outside the edited region"):
        h.click_canvas(_Select(0, 0), _Request("m"))
    assert len(session.clicks.points) == 1


def test_the_live_preview_is_the_composited_photo(app, tmp_path):
    """A composited preview frame is the photo with the frame composited; the last update's is edited.png."""
    from PIL import Image

    session = _inverted(app, tmp_path, sid="p", drag_steps="40", stop_distance="0")
    session.clicks = session.clicks.__class__(((10.0, 12.0), (16.0, 12.0)))
    updates = _run(session)
    previews = [u for u in updates[:-1] if u.photo is not None]
    assert len(updates) >= 3 and updates[0].photo is not None  # the first frame is always composited
    for u in previews:
        assert u.photo.shape == session.photo.shape and u.photo.dtype == np.uint8
        expected = pl.paste_edit(
            session.photo,
            session.alignment,
            u.image,
            session.history[0].image,
            session.config,
            np.array([[10.0, 12.0]]),
            u.handles_crop,
            None,
        )
        np.testing.assert_array_equal(u.photo, expected)
    edited = np.asarray(Image.open(next(p for p in session.outputs if p.name == "edited.png")))
    np.testing.assert_array_equal(updates[-1].photo, edited)
    np.testing.assert_array_equal(session.edited_photo(), edited)


def test_preview_compositing_keeps_to_its_time_budget(app, tmp_path):
    """No budget: only the first frame is composited; a whole budget: every frame is."""
    from editor.preview import PreviewCompositor

    session = _inverted(app, tmp_path, sid="b")
    frame, tracked = session.history[0].image, np.array([[10.0, 12.0]])
    args = (session.photo, session.alignment, frame, session.config, [], [], tracked, None)
    for share, expected in ((0.0, [True, False, False]), (1.0, [True, True, True])):
        compositor = PreviewCompositor(*args, share=share)
        offered = []
        for _ in range(3):
            deferred = compositor.offer(frame, tracked)
            offered.append(deferred is not None)
            if deferred is not None:
                np.testing.assert_array_equal(deferred(), session.photo)  # an unchanged frame: the photo
        assert offered == expected and compositor.count == sum(expected)


def test_a_big_photo_is_reduced_and_the_fixed_mask_is_shaded_on_the_canvas(app, tmp_path):
    """A 1200-px footprint is shown at 1024 px (clicks still land right); the mask's fixed part is darker."""
    from editor.handlers import Handlers
    from editor.state import display_from_photo
    from editor.view import canvas_image, canvas_view

    session = app.session("big")
    session.settings = settings_from(FAST)
    session.set_photo(write_photo(tmp_path / "big.png", 1200, 1200, seed=5))
    session.invert()
    view = canvas_view(session)
    assert view.box == (0, 0, 1200, 1200) and (view.width, view.height) == (1024, 1024)
    plain = canvas_image(session)
    assert plain.shape == (1024, 1024, 3)
    d = np.rint(display_from_photo((600.0, 300.0), view)).astype(int)
    Handlers(app, _page()).click_canvas(_Select(*d), _Request("big"))
    expected = pl.to_crop(np.array([[600.0, 300.0]]), session.alignment)[0]
    np.testing.assert_allclose(session.clicks.pending_handle, expected, atol=0.05)  # 1200 px -> 32 px
    session.clicks = session.clicks.__class__()
    mask = np.ones((32, 32), np.float32)
    mask[:16] = 0  # the top half is fixed
    session.mask_crop = mask
    shaded = canvas_image(session).astype(int)
    top, bottom = slice(100, 400), slice(650, 950)  # display rows well inside each half
    assert (shaded[top] < plain[top]).mean() > 0.9 and (shaded[top] <= plain[top]).all()
    np.testing.assert_array_equal(shaded[bottom], plain[bottom])
