"""composite_warp: a translated part moves the photo, an empty edit changes nothing, the
crop's border band and a fixed region keep their bytes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from align import AlignError, PasteConfig, align_center, align_landmarks, composite_warp, to_crop
from align.composite import backward_field, field_image, weight_image

WARP = PasteConfig(composite="warp")


def _translate_disc(crop: np.ndarray, centre, radius: float, shift) -> np.ndarray:
    """The crop with the content of a disc moved by `shift` crop pixels (an exact translation there)."""
    size = crop.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    moved = cv2.remap(
        crop.astype(np.float32),
        (xx - shift[0]).astype(np.float32),
        (yy - shift[1]).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    inside = np.hypot(xx - centre[0], yy - centre[1]) <= radius
    return np.where(inside[..., None], np.clip(np.rint(moved), 0, 255), crop).astype(np.uint8)


def _crop_points_of_photo(photo_shape, alignment) -> np.ndarray:
    h, w = photo_shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    return to_crop(np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64), alignment).reshape(h, w, 2)


@pytest.mark.parametrize("size", [64, 128])
def test_translated_part_moves_the_photo_there(astronaut, size):
    alignment = align_center(astronaut, size)
    reconstruction = np.array(alignment.crop)
    centre, radius = np.array([0.42, 0.45]) * size, 0.18 * size
    shift = np.array([0.04, -0.02]) * size
    edited = _translate_disc(reconstruction, centre, radius, shift)

    result = composite_warp(astronaut, alignment, edited, reconstruction, [centre], [centre + shift], config=WARP)

    # The same translation in photo pixels (align_center: a uniform scale, no rotation).
    shift_photo = shift * np.linalg.norm(alignment.photo_from_crop[:2, 0])
    expected = cv2.warpAffine(
        astronaut,
        np.float32([[1, 0, shift_photo[0]], [0, 1, shift_photo[1]]]),
        astronaut.shape[1::-1],
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT,
    ).astype(np.float64)
    pts = _crop_points_of_photo(astronaut.shape, alignment)
    inner = np.hypot(pts[..., 0] - centre[0], pts[..., 1] - centre[1]) <= 0.5 * radius
    error = np.abs(result.photo.astype(np.float64) - expected)[inner].mean()
    unmoved = np.abs(astronaut.astype(np.float64) - expected)[inner].mean()
    # Interpolation error only: a 64-px crop drives the photo through 8x enlarged flow.
    assert error < (6.0 if size == 64 else 1.5), (error, unmoved)
    assert error < 0.15 * unmoved
    # The handle correspondence is honoured: the field at the tracked end points back to the handle.
    q = np.rint(centre + shift).astype(int)
    np.testing.assert_allclose(result.field_crop[q[1], q[0]], -shift, atol=0.35)


def test_empty_edit_is_byte_identical(astronaut):
    alignment = align_center(astronaut, 64)
    reconstruction = np.array(alignment.crop)
    result = composite_warp(astronaut, alignment, reconstruction.copy(), reconstruction, config=WARP)
    assert np.array_equal(result.photo, astronaut)
    assert result.photo is not astronaut
    assert not result.weight_crop.any() and not result.field_crop.any()
    # Handles that did not move, and generator noise under the thresholds, change nothing either.
    noisy = np.clip(
        reconstruction.astype(np.int16) + np.random.default_rng(0).integers(-2, 3, reconstruction.shape), 0, 255
    )
    result = composite_warp(
        astronaut, alignment, noisy.astype(np.uint8), reconstruction, [[30.0, 30.0]], [[30.0, 30.0]], config=WARP
    )
    assert np.array_equal(result.photo, astronaut)


def test_weight_is_zero_on_the_crop_border_band(astronaut, make_landmarks):
    size = 64
    alignment = align_landmarks(astronaut, make_landmarks(angle_deg=12.0, offset=(222.0, 118.0)), size)
    reconstruction = np.array(alignment.crop)
    # An edit that covers the whole crop: a global shift, the worst case for a seam.
    edited = _translate_disc(reconstruction, (size / 2, size / 2), size, (2.0, 1.0))
    result = composite_warp(astronaut, alignment, edited, reconstruction, config=WARP)
    band = int(np.floor(WARP.border * size + 0.5))  # pixel rows whose centre lies within the band
    weight = result.weight_crop
    assert weight[size // 2, size // 2] > 0.99
    assert not weight[:band].any() and not weight[-band:].any()
    assert not weight[:, :band].any() and not weight[:, -band:].any()
    # On the photo: every pixel within the band (and outside the crop) keeps its bytes.
    pts = _crop_points_of_photo(astronaut.shape, alignment)
    inside = np.minimum.reduce(
        [pts[..., 0] + 0.5, size - 0.5 - pts[..., 0], pts[..., 1] + 0.5, size - 0.5 - pts[..., 1]]
    )
    outer = inside < band - 1.0
    assert np.array_equal(result.photo[outer], astronaut[outer])
    assert not np.array_equal(result.photo, astronaut)


def test_fixed_region_is_byte_identical(astronaut):
    size = 64
    alignment = align_center(astronaut, size)
    reconstruction = np.array(alignment.crop)
    edited = _translate_disc(reconstruction, (32.0, 32.0), 20.0, (3.0, 0.0))
    movable = np.ones((size, size), np.float32)
    movable[:, 34:] = 0.0  # the user's mask fixes the right part of the crop
    result = composite_warp(astronaut, alignment, edited, reconstruction, movable_crop=movable, config=WARP)
    pts = _crop_points_of_photo(astronaut.shape, alignment)
    fixed = pts[..., 0] >= 33.5
    assert np.array_equal(result.photo[fixed], astronaut[fixed])
    changed = (result.photo != astronaut).any(axis=2)
    assert changed[~fixed].any()
    assert not result.weight_crop[:, 34:].any()


def test_other_pixels_are_untouched_and_edit_is_local(astronaut):
    size = 64
    alignment = align_center(astronaut, size)
    reconstruction = np.array(alignment.crop)
    edited = _translate_disc(reconstruction, (30.0, 30.0), 6.0, (2.0, 0.0))
    result = composite_warp(astronaut, alignment, edited, reconstruction, config=WARP)
    pts = _crop_points_of_photo(astronaut.shape, alignment)
    reach = (6.0 + 2.0 + (WARP.dilate + WARP.feather) * size) + 2.0
    far = np.hypot(pts[..., 0] - 30.0, pts[..., 1] - 30.0) > reach
    assert np.array_equal(result.photo[far], astronaut[far])


def test_handles_only_field_honours_the_correspondence():
    crop = np.full((64, 64, 3), 100, np.uint8)
    config = PasteConfig(composite="warp", flow="handles")
    field = backward_field(crop, crop, [[20.0, 30.0]], [[24.0, 30.0]], config)
    np.testing.assert_allclose(field[30, 24], [-4.0, 0.0], atol=1e-5)
    assert np.abs(field[0, 63]).max() < 1e-3  # a handle's reach is local
    with pytest.raises(AlignError, match="final handles"):
        backward_field(crop, crop, [[20.0, 30.0]], [[24.0, 30.0], [1.0, 1.0]], config)


def test_debug_images():
    field = np.zeros((8, 8, 2), np.float32)
    field[2, 3] = (1.0, 0.0)
    image = field_image(field)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    assert image[2, 3].max() == 255 and not image[0, 0].any()
    grey = weight_image(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8))
    assert grey[0, 0, 0] == 0 and grey[-1, -1, 0] == 255


def test_config_is_validated():
    with pytest.raises(AlignError, match="composite"):
        PasteConfig(composite="blend")
    with pytest.raises(AlignError, match="flow"):
        PasteConfig(flow="raft")
    with pytest.raises(AlignError, match="border"):
        PasteConfig(border=0.9)


def test_with_handles_the_edit_stays_near_their_paths(astronaut):
    size = 64
    alignment = align_center(astronaut, size)
    reconstruction = np.array(alignment.crop)
    # The generator drifts everywhere (a global shift), the drag moved one handle.
    edited = _translate_disc(reconstruction, (32.0, 32.0), size, (1.5, 0.0))
    handle, end = np.array([30.0, 30.0]), np.array([31.5, 30.0])
    result = composite_warp(astronaut, alignment, edited, reconstruction, [handle], [end], config=WARP)
    yy, xx = np.mgrid[0:size, 0:size]
    far = np.hypot(xx - 30.75, yy - 30.0) > 2 * WARP.locality * size + 2.0
    assert result.weight_crop[30, 31] > 0.99 and not result.weight_crop[far].any()
    pts = _crop_points_of_photo(astronaut.shape, alignment)
    far_photo = np.hypot(pts[..., 0] - 30.75, pts[..., 1] - 30.0) > 2 * WARP.locality * size + 3.0
    assert np.array_equal(result.photo[far_photo], astronaut[far_photo])


def test_weak_residual_is_left_out_strong_residual_passes(astronaut):
    size = 64
    alignment = align_center(astronaut, size)
    reconstruction = np.array(alignment.crop)
    edited = reconstruction.astype(np.int16)
    edited[28:36, 28:36] += 60  # new content (e.g. teeth): no motion explains it
    edited[10:18, 44:52] -= 5  # a faint drift: under the threshold
    edited = np.clip(edited, 0, 255).astype(np.uint8)
    config = PasteConfig(composite="warp", flow="handles")
    result = composite_warp(astronaut, alignment, edited, reconstruction, config=config)
    centre = np.rint(alignment.photo_from_crop @ np.array([31.5, 31.5, 1.0])).astype(int)[:2]
    gain = result.photo[centre[1], centre[0]].astype(int) - astronaut[centre[1], centre[0]].astype(int)
    assert (gain > 40).all()
    faint = np.rint(alignment.photo_from_crop @ np.array([47.5, 13.5, 1.0])).astype(int)[:2]
    assert np.array_equal(result.photo[faint[1], faint[0]], astronaut[faint[1], faint[0]])
