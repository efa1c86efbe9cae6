"""Known answers for the matrices: FFHQ quad, crop_from_photo, point round trips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from align import AlignError, crop_from_quad, crop_from_rect, ffhq_quad, transform_points, warp_to_crop
from align.geometry import box_to_rect, crop_corners


def _rotation(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def test_transform_points_matches_opencv():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-100, 500, (50, 2))
    affine = np.array([[1.2, 0.3, 5.0], [-0.2, 0.9, -7.0], [0, 0, 1]])
    expected = cv2.transform(pts[None], affine[:2])[0]
    np.testing.assert_allclose(transform_points(affine, pts), expected, atol=1e-9)
    projective = np.array([[1.0, 0.1, 3.0], [0.05, 1.1, -2.0], [1e-4, -2e-4, 1.0]])
    expected = cv2.perspectiveTransform(pts[None], projective)[0]
    np.testing.assert_allclose(transform_points(projective, pts), expected, atol=1e-9)
    assert transform_points(affine, np.zeros((0, 2))).shape == (0, 2)


def test_transform_points_rejects_bad_shapes():
    with pytest.raises(AlignError, match=r"\(N, 2\)"):
        transform_points(np.eye(3), np.zeros((3, 3)))
    with pytest.raises(AlignError, match="3x3"):
        transform_points(np.eye(2), np.zeros((3, 2)))


@pytest.mark.parametrize("matrix_kind", ["quad", "rect", "projective"])
def test_crop_from_photo_round_trip_within_1e4_px(matrix_kind, make_landmarks):
    rng = np.random.default_rng(1)
    if matrix_kind == "quad":
        quad = ffhq_quad(make_landmarks(angle_deg=33.0, offset=(1234.5, 987.25)))
        crop_from_photo = crop_from_quad(quad, 1024)
    elif matrix_kind == "rect":
        crop_from_photo = crop_from_rect((10.2, 20.7, 3000.1, 1500.9), (-0.5, 63.5, 511.5, 447.5))
    else:
        crop_from_photo = np.array([[0.9, 0.2, 30.0], [-0.1, 1.1, -40.0], [2e-4, 1e-4, 1.0]])
    photo_from_crop = np.linalg.inv(crop_from_photo)
    pts = rng.uniform(-500, 4500, (1000, 2))
    back = transform_points(photo_from_crop, transform_points(crop_from_photo, pts))
    assert np.abs(back - pts).max() < 1e-4


@pytest.mark.parametrize("angle", [0.0, 17.0, -40.0, 90.0, 180.0])
def test_ffhq_quad_known_centre_size_rotation(angle, make_landmarks):
    # Eyes 60 px apart, mouth 70 px below the eye midpoint: the mouth term
    # |eye_to_mouth| * 1.8 = 126 exceeds the eye term |eye_to_eye| * 2.0 = 120.
    offset = np.array([400.25, 300.5])
    lm = make_landmarks(angle_deg=angle, offset=offset)
    quad = ffhq_quad(lm)
    rot = _rotation(angle)
    half = max(60.0 * 2.0, 70.0 * 1.8)  # = 126
    centre = offset + rot @ np.array([0.0, 70.0 * 0.1])
    np.testing.assert_allclose(quad.mean(axis=0), centre, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(quad[3] - quad[0]), 2 * half, atol=1e-9)  # top edge
    np.testing.assert_allclose(np.linalg.norm(quad[1] - quad[0]), 2 * half, atol=1e-9)  # left edge
    top = quad[3] - quad[0]
    np.testing.assert_allclose(top / np.linalg.norm(top), rot @ [1.0, 0.0], atol=1e-12)  # rotated by `angle`
    np.testing.assert_allclose(quad[0], centre + rot @ np.array([-half, -half]), atol=1e-9)  # top-left first
    np.testing.assert_allclose(quad[1], centre + rot @ np.array([-half, half]), atol=1e-9)  # then bottom-left


def test_ffhq_quad_eye_term_and_multipliers(make_landmarks):
    lm = make_landmarks(eye_centre_left=(-50, 0), eye_centre_right=(50, 0), mouth_left=(-20, 40), mouth_right=(20, 40))
    quad = ffhq_quad(lm)
    assert np.isclose(np.linalg.norm(quad[3] - quad[0]), 2 * 100 * 2.0)  # eye term: 2 * |eye_to_eye| * 2.0
    quad = ffhq_quad(lm, eye_scale=1.5, mouth_scale=1.0, center_shift=0.5)
    assert np.isclose(np.linalg.norm(quad[3] - quad[0]), 2 * 100 * 1.5)
    np.testing.assert_allclose(quad.mean(axis=0), (0.0, 20.0), atol=1e-9)


def test_ffhq_quad_uses_the_tilted_mouth_axis(make_landmarks):
    # The quad's x axis is eye_to_eye - rot90(eye_to_mouth): a face whose mouth is
    # displaced sideways tilts the crop, as in FFHQ.
    lm = make_landmarks(mouth_left=(-15, 70), mouth_right=(35, 70))  # mouth centre at x = +10
    quad = ffhq_quad(lm)
    x = np.array([60.0, 0.0]) - np.array([-70.0, 10.0])
    top = quad[3] - quad[0]
    assert np.isclose(np.arctan2(top[1], top[0]), np.arctan2(x[1], x[0]))


def test_crop_from_quad_maps_corners_to_outer_pixel_corners(make_landmarks):
    size = 256
    quad = ffhq_quad(make_landmarks(angle_deg=25.0, offset=(300, 200)))
    crop_from_photo = crop_from_quad(quad, size)
    np.testing.assert_allclose(transform_points(crop_from_photo, quad), crop_corners(size), atol=1e-9)
    c = (size - 1) / 2
    np.testing.assert_allclose(transform_points(crop_from_photo, quad.mean(axis=0)[None]), [[c, c]], atol=1e-9)


def test_face_is_upright_and_level_in_the_crop(make_landmarks):
    size = 512
    lm = make_landmarks(angle_deg=-35.0, offset=(700, 500))
    lm_crop = transform_points(crop_from_quad(ffhq_quad(lm), size), lm)
    eye_left, eye_right = lm_crop[36:42].mean(0), lm_crop[42:48].mean(0)
    mouth = (lm_crop[48] + lm_crop[54]) / 2
    assert abs(eye_left[1] - eye_right[1]) < 1e-9  # level
    assert eye_right[0] > eye_left[0] and mouth[1] > eye_left[1]  # upright
    # Crop side = 2 * 126 photo px, so 60 px between the eyes become 60 * 512 / 252 crop px.
    assert np.isclose(eye_right[0] - eye_left[0], 60 * size / 252)
    assert np.isclose((eye_left[0] + eye_right[0]) / 2, (size - 1) / 2)


def test_quad_convention_matches_ffhq_pil_transform(make_smooth_image):
    """FFHQ calls PIL's QUAD transform with quad + 0.5; our crop_from_quad must be the same map."""
    photo = make_smooth_image(300, 400, seed=3, period=12.0)
    rot = _rotation(20.0)
    centre, x, y = np.array([200.3, 150.7]), rot @ [60.0, 0.0], rot @ [0.0, 60.0]
    quad = np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])
    size = 256
    pil = np.asarray(Image.fromarray(photo).transform((size, size), Image.QUAD, (quad + 0.5).flatten(), Image.BILINEAR))
    ours = warp_to_crop(photo, crop_from_quad(quad, size), size, interpolation="linear", antialias=False)
    diff = np.abs(pil.astype(int) - ours)[4:-4, 4:-4]
    assert diff.max() <= 2 and diff.mean() < 1.0
    # A half-pixel error in the convention would be clearly visible.
    shifted = warp_to_crop(photo, crop_from_quad(quad + 0.5, size), size, interpolation="linear", antialias=False)
    assert np.abs(pil.astype(int) - shifted)[4:-4, 4:-4].mean() > 2 * diff.mean() + 1.0


def test_crop_from_rect_fits_and_centres():
    # A 200x100 region into a 100x100 crop: scale 0.5, the width fills the crop.
    m = crop_from_rect((-0.5, -0.5, 199.5, 99.5), (-0.5, -0.5, 99.5, 99.5))
    np.testing.assert_allclose(m, [[0.5, 0, -0.25], [0, 0.5, 24.75], [0, 0, 1]])
    corners = transform_points(m, np.array([[-0.5, -0.5], [199.5, 99.5]]))
    np.testing.assert_allclose(corners, [[-0.5, 24.5], [99.5, 74.5]])
    with pytest.raises(AlignError, match="x1 > x0"):
        crop_from_rect((5, 5, 5, 10), (-0.5, -0.5, 99.5, 99.5))


def test_box_to_rect_is_pixel_index_convention():
    assert box_to_rect((0, 0, 10, 20)) == (-0.5, -0.5, 9.5, 19.5)


def test_degenerate_landmarks_raise(make_landmarks):
    with pytest.raises(AlignError, match="68"):
        ffhq_quad(np.zeros((5, 2)))
    with pytest.raises(AlignError, match="degenerate"):
        ffhq_quad(np.zeros((68, 2)))
