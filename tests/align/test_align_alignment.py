"""Box and centre crops, the Alignment record and point mapping (no dlib needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from align import (
    AlignConfig,
    AlignError,
    Alignment,
    align_box,
    align_center,
    align_landmarks,
    points_outside_crop,
    to_crop,
    to_photo,
)
from align.geometry import crop_corners


def test_box_with_no_margin_maps_onto_the_crop(make_smooth_image):
    photo = make_smooth_image(300, 400)
    # A 128x128 box, integer aligned: the crop is the box itself.
    a = align_box(photo, (100, 50, 228, 178), 128, AlignConfig(box_margin=0.0))
    np.testing.assert_allclose(a.crop_from_photo, [[1, 0, -100], [0, 1, -50], [0, 0, 1]], atol=1e-12)
    np.testing.assert_array_equal(a.crop, photo[50:178, 100:228])
    assert a.kind == "box" and a.content_box == (0, 0, 128, 128) and a.landmarks_photo is None


def test_box_2x_downscale_is_the_block_average(make_smooth_image):
    photo = make_smooth_image(300, 400, period=10.0)
    a = align_box(photo, (100, 20, 356, 276), 128, AlignConfig(box_margin=0.0))
    expected = cv2.resize(photo[20:276, 100:356], (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(a.crop.astype(int) - expected).max() <= 1


def test_box_margin_and_non_square_box(make_smooth_image):
    photo = make_smooth_image(300, 400)
    box = (100.0, 100.0, 300.0, 200.0)  # 200 x 100
    a = align_box(photo, box, 256)  # margin 0.1 -> 240 x 120 region, width fills the crop
    # Box edges (pixel-centre convention) at x = 99.5 and 299.5, 20 px of margin each side;
    # the box centre (199.5, 149.5) lands on the crop centre.
    left_edge, right_edge = to_crop(np.array([[99.5 - 20, 149.5], [299.5 + 20, 149.5]]), a)
    np.testing.assert_allclose(left_edge, [-0.5, 127.5], atol=1e-9)
    np.testing.assert_allclose(right_edge, [255.5, 127.5], atol=1e-9)
    top, bottom = to_crop(np.array([[199.5, 99.5 - 10], [199.5, 199.5 + 10]]), a)
    np.testing.assert_allclose([top[1], bottom[1]], [127.5 - 64, 127.5 + 64], atol=1e-9)


def test_lsun_car_aspect_puts_content_between_black_bars(make_smooth_image):
    photo = make_smooth_image(300, 400)
    config = AlignConfig(content_aspect=4 / 3, box_margin=0.0)
    a = align_box(photo, (0, 0, 400, 300), 512, config)
    assert a.content_box == (0, 64, 512, 448)
    assert a.crop[:64].max() == 0 and a.crop[448:].max() == 0
    assert a.crop[64:448].mean() > 50
    # The 400x300 photo fills the 512x384 content exactly.
    np.testing.assert_allclose(
        to_crop(np.array([[-0.5, -0.5], [399.5, 299.5]]), a), [[-0.5, 63.5], [511.5, 447.5]], atol=1e-9
    )
    assert points_outside_crop(np.array([[200.0, 150.0], [200.0, -10.0]]), a).tolist() == [False, True]


def test_center_crop_is_the_largest_centred_square():
    import skimage.data

    cat = skimage.data.chelsea()  # 451 x 300
    a = align_center(cat, 256)
    assert a.kind == "center"
    # The 300 x 300 square from x = 75.5 - 0.5 ... : photo edges x = 75 and 375 map to the crop edges.
    np.testing.assert_allclose(
        to_crop(np.array([[75.0, -0.5], [375.0, 299.5]]), a), [[-0.5, -0.5], [255.5, 255.5]], atol=1e-9
    )
    tall = np.zeros((500, 200, 3), np.uint8)
    np.testing.assert_allclose(to_crop(np.array([[99.5, 249.5]]), align_center(tall, 64)), [[31.5, 31.5]], atol=1e-9)


def test_box_partly_outside_the_photo_is_padded(make_smooth_image):
    photo = make_smooth_image(200, 200)
    a = align_box(photo, (-50, -50, 100, 100), 150, AlignConfig(box_margin=0.0, pad_mode="constant"))
    assert a.crop[:50, :50].max() == 0
    np.testing.assert_array_equal(a.crop[50:, 50:], photo[:100, :100])
    reflected = align_box(photo, (-50, -50, 100, 100), 150, AlignConfig(box_margin=0.0))
    assert reflected.crop[:45, :45].mean() > 50


@pytest.mark.parametrize(
    "box, match",
    [
        ((10, 10, 10, 50), "x1 > x0"),
        ((10, 50, 40, 20), "y1 > y0"),
        ((500, 10, 600, 50), "outside"),
        ((1, 2, 3), "4 numbers"),
        ((0, 0, np.nan, 5), "invalid"),
    ],
)
def test_bad_boxes_raise(box, match, make_smooth_image):
    with pytest.raises(AlignError, match=match):
        align_box(make_smooth_image(100, 100), box, 64)


@pytest.mark.parametrize("size", [0, 7, 255.0, True, 10_000])
def test_bad_sizes_raise(size, make_smooth_image):
    with pytest.raises(AlignError, match="size"):
        align_center(make_smooth_image(50, 50), size)


def test_alignment_arrays_are_read_only(make_smooth_image):
    a = align_center(make_smooth_image(64, 64), 32)
    with pytest.raises(ValueError):
        a.crop[0, 0, 0] = 1
    with pytest.raises(ValueError):
        a.crop_from_photo[0, 0] = 2.0
    np.testing.assert_allclose(a.photo_from_crop @ a.crop_from_photo, np.eye(3), atol=1e-12)


def test_align_landmarks_and_point_round_trip(make_smooth_image, make_landmarks):
    photo = make_smooth_image(600, 800)
    lm = make_landmarks(angle_deg=27.0, offset=(400, 300))
    a = align_landmarks(photo, lm, 512)
    assert a.kind == "face" and a.face_box is None and a.all_face_boxes == ()
    pts = np.random.default_rng(0).uniform(-1000, 2000, (500, 2))
    assert np.abs(to_photo(to_crop(pts, a), a) - pts).max() < 1e-4
    np.testing.assert_allclose(a.landmarks_crop, to_crop(lm, a))
    corners = to_photo(crop_corners(512), a)
    inside = to_photo(np.array([[0.0, 0.0], [511.0, 511.0], [255.5, 255.5]]), a)
    assert not points_outside_crop(inside, a).any()
    assert points_outside_crop(corners + (corners - corners.mean(0)) * 0.01, a).all()
    with pytest.raises(AlignError, match="68"):
        align_landmarks(photo, lm[:5], 256)


def test_points_api_rejects_bad_input(make_smooth_image):
    a = align_center(make_smooth_image(64, 64), 32)
    with pytest.raises(AlignError, match=r"\(N, 2\)"):
        to_crop(np.zeros(4), a)
    with pytest.raises(AlignError, match="Alignment"):
        to_crop(np.zeros((1, 2)), "not an alignment")  # type: ignore[arg-type]
    assert isinstance(a, Alignment)
