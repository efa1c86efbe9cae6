"""The editor's state logic: points, display scaling, mask conversion and latent history."""

from __future__ import annotations

import numpy as np
import pytest

from editor.state import (
    Clicks,
    add_click,
    clear_clicks,
    delete_pair,
    display_from_gen,
    gen_from_display,
    history_push,
    history_reset,
    history_undo,
    mask_from_strokes,
    pair_labels,
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


def test_mask_from_strokes_modes_and_coverage():
    size, scale = 8, 4
    layer = np.zeros((size * scale, size * scale, 4), np.uint8)
    layer[0:8, 0:8, 3] = 255  # generator pixels (0..1, 0..1) fully painted
    layer[8:10, 8:12, 3] = 255  # half of pixel (2, 2): counts (>= 50%)
    layer[12:13, 12:16, 3] = 255  # a quarter of pixel (3, 3): does not count
    flexible = mask_from_strokes(layer, size, "flexible")
    expected = np.zeros((size, size), np.float32)
    expected[0:2, 0:2] = 1
    expected[2, 2] = 1
    np.testing.assert_array_equal(flexible, expected)
    np.testing.assert_array_equal(mask_from_strokes(layer, size, "fixed"), 1 - expected)
    assert mask_from_strokes(np.zeros_like(layer), size, "flexible") is None
    assert mask_from_strokes(None, size, "fixed") is None
    with pytest.raises(ValueError, match="no pixel free"):
        mask_from_strokes(np.full_like(layer, 255), size, "fixed")
    with pytest.raises(ValueError, match="not a multiple"):
        mask_from_strokes(np.ones((30, 30), np.uint8), size, "flexible")


def test_history_push_undo_reset():
    h = ("orig",)
    h = history_push(history_push(h, "a"), "b")
    assert h == ("orig", "a", "b")
    assert history_undo(h) == ("orig", "a")
    assert history_reset(h) == ("orig",)
    with pytest.raises(ValueError, match="no drag to undo"):
        history_undo(("orig",))
