"""Typed points and the mask in photo pixels: they land where a click (or the CLI's --mask) would."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import pipeline as pl
from editor.handlers import Handlers, settings_from
from editor.state import display_from_photo, photo_from_display
from editor.view import canvas_view
from tests.editor.conftest import FAST, tiny_app, write_photo
from tests.editor.test_editor_session import _page, _Request, _Select

# A box crop of a 96 x 64 photo: the crop is not the photo scaled, so frames cannot be mixed up unnoticed.
BOX = FAST | {"align_mode": "box", "box": "10,5,60,50"}


@pytest.fixture
def app(tmp_path):
    a = tiny_app(tmp_path)
    yield a
    a.close()


def _boxed(app, tmp_path, sid):
    session = app.session(sid)
    session.settings = settings_from(BOX)
    session.set_photo(write_photo(tmp_path / f"{sid}.png", 96, 64, seed=2))
    session.invert()
    assert session.alignment.kind == "box"
    return session, Handlers(app, _page())


def _crop_by_hand(crop_from_photo: np.ndarray, xy_photo) -> np.ndarray:
    """The known answer: the homogeneous product with the alignment's matrix, divided by w."""
    x, y, w = crop_from_photo @ np.array([xy_photo[0], xy_photo[1], 1.0])
    return np.array([x / w, y / w])


def test_a_typed_photo_point_is_the_click_on_that_photo_pixel(app, tmp_path):
    session, h = _boxed(app, tmp_path, "t")
    view = canvas_view(session)
    d = np.rint(display_from_photo((30.0, 25.0), view))
    clicked_photo = photo_from_display(d, view)
    out = h.click_canvas(_Select(*d), _Request("t"))
    clicked = session.clicks.pending_handle
    # The x / y boxes show the click in photo pixels; typing them back adds the same crop point.
    assert (out["x"], out["y"]) == tuple(np.round(clicked_photo, 2))
    h.undo_point(_Request("t"))
    h.add_point(*clicked_photo, _Request("t"))
    assert session.clicks.pending_handle == clicked
    np.testing.assert_allclose(clicked, _crop_by_hand(session.alignment.crop_from_photo, clicked_photo), atol=1e-9)


def test_a_typed_point_round_trips_to_the_shown_photo_value(app, tmp_path):
    session, h = _boxed(app, tmp_path, "r")
    out = h.add_point(31.3, 22.7, _Request("r"))
    np.testing.assert_allclose(out["points_json"]["pending_handle_photo"], [31.3, 22.7], atol=1e-6)
    np.testing.assert_allclose(
        out["points_json"]["pending_handle"], _crop_by_hand(session.alignment.crop_from_photo, (31.3, 22.7)), atol=1e-9
    )
    out = h.add_point(40.04, 30.0, _Request("r"))
    np.testing.assert_allclose(out["points_json"]["handles_photo"], [[31.3, 22.7]], atol=1e-6)
    np.testing.assert_allclose(out["points_json"]["targets_photo"], [[40.04, 30.0]], atol=1e-6)
    assert out["pairs"] == ["pair 1: (31.3, 22.7) -> (40.0, 30.0)"]  # the list shows photo pixels


def test_a_typed_point_outside_the_crop_is_a_message_like_a_click(app, tmp_path):
    session, h = _boxed(app, tmp_path, "o")
    outside = np.array([90.0, 60.0])  # in the photo, outside the box's crop
    with pytest.raises(gr.Error, match=r"outside the edited region \(photo \(90\.0, 60\.0\)"):
        h.add_point(*outside, _Request("o"))
    d = np.rint(display_from_photo(outside, canvas_view(session)))
    with pytest.raises(gr.Error, match="outside the edited region"):
        h.click_canvas(_Select(*d), _Request("o"))
    assert len(session.clicks.points) == 0
    h.add_point(30, 25, _Request("o"))  # still serving
    assert session.clicks.pending_handle is not None


def _painted(view, rect_photo) -> np.ndarray:
    """A brush layer on the photo view covering photo pixels x0..x1-1, y0..y1-1 (an integer enlargement)."""
    (sx, sy), (bx, by) = view.scale, view.box[:2]
    assert sx == int(sx) and sy == int(sy)
    x0, y0, x1, y1 = rect_photo
    layer = np.zeros((view.height, view.width, 4), np.uint8)
    layer[int((y0 - by) * sy) : int((y1 - by) * sy), int((x0 - bx) * sx) : int((x1 - bx) * sx), 3] = 255
    return layer


@pytest.mark.parametrize("mode", ["flexible", "fixed"])
def test_a_mask_painted_on_the_photo_is_the_clis_mask(app, tmp_path, mode):
    """The painted mask, saved as the PNG run_pipeline.py --mask reads, gives the same crop mask."""
    session, h = _boxed(app, tmp_path, f"m{mode}")
    view = canvas_view(session)
    brush = h.clear_mask(_Request(f"m{mode}"))["mask_editor"]["background"]
    assert brush.shape == (view.height, view.width, 3)  # the mask is painted on the photo view
    rect = (20, 12, 41, 33)
    h.apply_mask({"layers": [_painted(view, rect)]}, mode, _Request(f"m{mode}"))
    painted = np.zeros((64, 96), bool)
    painted[12:33, 20:41] = True
    white = painted if mode == "flexible" else ~painted  # white = may move
    Image.fromarray(white.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    mask_photo = pl.load_mask(tmp_path / "mask.png", session.photo.shape)
    cli = pl.mask_to_crop(mask_photo, session.alignment, session.config.mask_threshold)
    np.testing.assert_array_equal(session.mask_photo, mask_photo)
    np.testing.assert_array_equal(session.mask_crop, cli)
    assert 0 < cli.mean() < 1


def test_a_fixed_region_keeps_its_bytes_after_a_drag_as_on_the_command_line(app, tmp_path):
    session, h = _boxed(app, tmp_path, "f")
    h.apply_mask({"layers": [_painted(canvas_view(session), (10, 5, 60, 22))]}, "fixed", _Request("f"))
    h.add_point(30, 32, _Request("f"))
    h.add_point(38, 38, _Request("f"))
    previews = [u.photo for u in session.drag() if u.photo is not None]
    assert previews  # the live preview composites keep the region too
    last = session.history[-1]
    assert last.drag is not None and last.mask_photo is session.mask_photo
    edited = session.edited_photo()
    saved = np.asarray(Image.open(next(p for p in session.outputs if p.name == "edited.png")))
    for photo in (*previews, edited, saved):
        np.testing.assert_array_equal(photo[5:22, 10:60], session.photo[5:22, 10:60])
    # The composite run_pipeline.py computes for this drag with the same --mask.
    cli = pl.paste_edit(
        session.photo,
        session.alignment,
        last.image,
        session.history[0].image,
        session.config,
        last.handles_crop,
        last.drag.handles,
        pl.mask_to_crop(session.mask_photo, session.alignment, session.config.mask_threshold),
        session.mask_photo,
    )
    np.testing.assert_array_equal(edited, cli)
    # The control: without the mask the same drag changes that region.
    session.reset()
    h.add_point(30, 32, _Request("f"))
    h.add_point(38, 38, _Request("f"))
    list(session.drag())
    assert (session.edited_photo()[5:22, 10:60] != session.photo[5:22, 10:60]).any()
