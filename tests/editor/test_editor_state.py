"""The editor's state logic: points, display scaling (crop and photo canvas), mask conversion and latent history."""

from __future__ import annotations

import numpy as np
import pytest

from editor.errors import EditorError
from editor.state import (
    Clicks,
    PhotoView,
    add_click,
    clear_clicks,
    crop_click,
    delete_pair,
    display_from_gen,
    display_from_photo,
    gen_from_display,
    history_push,
    history_reset,
    history_undo,
    mask_photo_from_strokes,
    pair_labels,
    photo_from_display,
    photo_view,
    undo_click,
)
from pipeline import display_scale, draw_points


def test_clicks_alternate_handle_and_target():
    c = Clicks()
    for xy in [(1, 2), (3, 4), (5, 6)]:
        c = add_click(c, xy, 64)
    assert c.handles.tolist() == [[1, 2]] and c.targets.tolist() == [[3, 4]]
    assert c.pending_handle == (5, 6) and len(c) == 1
    c = add_click(c, (7, 8), 64)
    assert c.handles.tolist() == [[1, 2], [5, 6]] and c.targets.tolist() == [[3, 4], [7, 8]]


def test_undo_delete_clear_points():
    c = Clicks(((1, 1), (2, 2), (3, 3), (4, 4), (5, 5)))
    assert undo_click(c).points == c.points[:-1]
    assert delete_pair(c, 0).points == ((3, 3), (4, 4), (5, 5))
    assert delete_pair(c, 2).points == c.points[:4]  # the pending handle is the last "pair"
    with pytest.raises(ValueError, match="no pair 4"):
        delete_pair(c, 3)
    assert clear_clicks(c).points == ()
    assert c.points[0] == (1, 1)  # inputs are never changed


def test_points_outside_the_image_are_refused():
    with pytest.raises(ValueError, match="outside the 64x64 image"):
        add_click(Clicks(), (64, 3), 64)
    with pytest.raises(ValueError, match="outside"):
        add_click(Clicks(), (float("nan"), 3), 64)


def test_pair_labels():
    labels = pair_labels(Clicks(((1, 2), (3, 4), (5, 6))))
    assert labels == ["pair 1: (1.0, 2.0) -> (3.0, 4.0)", "pair 2: (5.0, 6.0) -> (click the target)"]
    # Shown in another frame (the editor's photo pixels): here twice the crop pixels plus a half.
    shown = pair_labels(Clicks(((1, 2), (3, 4), (5, 6))), lambda p: 2 * p + 0.5)
    assert shown == ["pair 1: (2.5, 4.5) -> (6.5, 8.5)", "pair 2: (10.5, 12.5) -> (click the target)"]


@pytest.mark.parametrize("size", [16, 64, 256, 512])
def test_display_scaling_round_trip_and_matches_drawn_points(size):
    scale = display_scale(size)
    rng = np.random.default_rng(size)
    for x, y in rng.integers(0, size, (20, 2)):
        d = display_from_gen((x, y), scale)
        # Gradio reports an integer display pixel: the drawn centre, rounded.
        assert gen_from_display((round(d[0]), round(d[1])), scale, size) == pytest.approx((x, y), abs=0.5 / scale)
    # The display pixel under draw_points' marker of generator pixel c maps back to c.
    image = np.zeros((size, size, 3), np.uint8)
    drawn = draw_points(image, np.array([[size // 2, size // 3]]), None, arrows=False, scale=scale)
    ys, xs = np.nonzero((drawn[..., 0] > 200) & (drawn[..., 1] < 100))
    cx, cy = xs.mean(), ys.mean()
    assert gen_from_display((cx, cy), scale, size) == pytest.approx((size // 2, size // 3), abs=0.6 / scale + 1e-9)


def test_gen_from_display_known_values_and_clipping():
    # 64 px at x8: display pixel 3.5 is the centre of generator pixel 0; 11.5 of pixel 1.
    assert gen_from_display((3.5, 11.5), 8, 64) == (0.0, 1.0)
    assert gen_from_display((0, 511), 8, 64) == (0.0, 63.0)  # the border half pixel clips into [0, R - 1]
    assert gen_from_display((100, 100), 1, 512) == (100.0, 100.0)


def test_mask_photo_from_strokes_modes_coverage_and_reduced_views():
    # Photo pixels x 10..17, y 20..27 shown x4 (a 32 x 32 canvas) in a 40 x 50 photo.
    view = PhotoView((10, 20, 18, 28), 32, 32)
    layer = np.zeros((32, 32, 4), np.uint8)
    layer[0:8, 0:8, 3] = 255  # photo pixels (10..11, 20..21) fully painted
    layer[8:10, 8:12, 3] = 255  # half of photo pixel (12, 22): counts (>= 50%)
    layer[12:13, 12:16, 3] = 255  # a quarter of photo pixel (13, 23): does not count
    flexible = mask_photo_from_strokes(layer, view, (40, 50, 3), "flexible")
    expected = np.zeros((40, 50), bool)
    expected[20:22, 10:12] = True
    expected[22, 12] = True
    assert flexible.dtype == bool and flexible.shape == (40, 50)
    np.testing.assert_array_equal(flexible, expected)
    np.testing.assert_array_equal(mask_photo_from_strokes(layer, view, (40, 50), "fixed"), ~expected)
    assert mask_photo_from_strokes(np.zeros_like(layer), view, (40, 50), "flexible") is None
    assert mask_photo_from_strokes(None, view, (40, 50), "fixed") is None
    # A reduced view (2 photo px per display px): display pixel (1, 0) covers photo (2..3, 0..1).
    half = PhotoView((0, 0, 8, 6), 4, 3)
    small = np.zeros((3, 4), np.uint8)
    small[0, 1] = 1
    reduced = mask_photo_from_strokes(small, half, (6, 8), "flexible")
    np.testing.assert_array_equal(np.argwhere(reduced), [[0, 2], [0, 3], [1, 2], [1, 3]])
    with pytest.raises(ValueError, match="no pixel free"):
        mask_photo_from_strokes(np.full((3, 4), 255, np.uint8), half, (6, 8), "fixed")
    with pytest.raises(ValueError, match="not the photo view's 32x32"):
        mask_photo_from_strokes(np.ones((30, 30), np.uint8), view, (40, 50), "flexible")


def test_history_push_undo_reset():
    h = ("orig",)
    h = history_push(history_push(h, "a"), "b")
    assert h == ("orig", "a", "b")
    assert history_undo(h) == ("orig", "a")
    assert history_reset(h) == ("orig",)
    with pytest.raises(ValueError, match="no drag to undo"):
        history_undo(("orig",))


def test_photo_view_frames_the_footprint_with_a_margin():
    # A 64-px footprint in a 1000 x 800 photo: grown by 15% of 64 (9.6 px) a side, enlarged x7 (<= 640).
    corners = np.array([[99.5, 199.5], [163.5, 199.5], [163.5, 263.5], [99.5, 263.5]])
    view = photo_view(corners, (800, 1000, 3))
    assert view.box == (89, 189, 175, 275) and (view.width, view.height) == (86 * 7, 86 * 7)
    # Clipped to the photo.
    assert photo_view(corners - 100, (800, 1000, 3)).box[:2] == (0, 89)
    # A big footprint is shown at full resolution, a huge one reduced to max_side.
    big = photo_view(corners * 8, (3000, 3000, 3))
    assert big.scale == (1.0, 1.0) and big.width == big.box[2] - big.box[0]
    huge = photo_view(np.array([[0, 0], [2999, 1499]]), (3000, 3000, 3), margin=0.0)
    assert huge.box == (0, 0, 3000, 1500) and (huge.width, huge.height) == (1024, 512)


def test_display_photo_round_trip_and_known_answers():
    # x8 enlargement of the region x 10..74, y 20..84: photo pixel centre (10, 20) is display (3.5, 3.5).
    view = PhotoView((10, 20, 74, 84), 512, 512)
    np.testing.assert_allclose(display_from_photo((10, 20), view), (3.5, 3.5))
    np.testing.assert_allclose(photo_from_display((3.5, 3.5), view), (10, 20))
    np.testing.assert_allclose(photo_from_display((0, 511), view), (10 - 7 / 16, 83 + 7 / 16))
    # A reduced view: 2 photo px per display px; display pixel 0 covers photo pixels 0 and 1 (centre 0.5).
    half = PhotoView((0, 0, 200, 100), 100, 50)
    np.testing.assert_allclose(photo_from_display((0, 0), half), (0.5, 0.5))
    np.testing.assert_allclose(photo_from_display((99, 49), half), (198.5, 98.5))
    rng = np.random.default_rng(0)
    for v in (view, half, PhotoView((3, 5, 40, 33), 111, 84)):
        p = rng.uniform(v.box[:2], v.box[2:], (50, 2))
        np.testing.assert_allclose(photo_from_display(display_from_photo(p, v), v), p, atol=1e-9)
        # Gradio reports integer display pixels: at most half a display pixel off.
        d = np.rint(display_from_photo(p, v))
        err = np.abs(photo_from_display(d, v) - p)
        assert (err <= 0.5 / np.array(v.scale) + 1e-9).all()


def test_crop_click_clips_the_border_half_pixel_and_refuses_outside():
    assert crop_click((-0.5, 31.5), 32) == (0.0, 31.0)
    assert crop_click((3.25, 4.0), 32) == (3.25, 4.0)
    for bad in ((-0.6, 3.0), (3.0, 31.6), (np.nan, 1.0)):
        with pytest.raises(EditorError, match="outside the edited region"):
            crop_click(bad, 32)
    with pytest.raises(EditorError, match=r"photo \(100\.0, 3\.0\), crop \(50\.0, 1\.2\)"):
        crop_click((50.0, 1.25), 32, (100.0, 3.0))
