"""paste_back: unedited crops change nothing, edits stay local, no seam, colours consistent."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from align import (
    AlignConfig,
    AlignError,
    PasteConfig,
    align_box,
    align_center,
    align_landmarks,
    change_mask,
    paste_back,
    to_crop,
)
from align.warp import warp_to_photo_region

SIZE = 256
EDIT_CENTRE = np.array([105.0, 135.0])  # crop pixels: the astronaut's right cheek (smooth skin)
EDIT_RADIUS = 18.0


@pytest.fixture
def scene(astronaut, make_landmarks):
    """The astronaut aligned through a rotated FFHQ quad, and an imperfect reconstruction."""
    photo = astronaut.copy()
    landmarks = make_landmarks(angle_deg=12.0, offset=(222.0, 118.0))
    alignment = align_landmarks(photo, landmarks, SIZE)
    # A generator never reproduces the crop exactly: a little blur and a colour cast.
    blurred = cv2.GaussianBlur(alignment.crop.astype(np.float32), (0, 0), 1.2)
    reconstruction = np.clip(np.rint(blurred + np.array([9.0, -6.0, 4.0])), 0, 255).astype(np.uint8)
    return photo, alignment, reconstruction


def _crop_distance_to_edit(photo_shape, alignment) -> np.ndarray:
    """For every photo pixel: its distance, in crop pixels, to the edit centre."""
    h, w = photo_shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    pts = to_crop(np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64), alignment)
    return np.linalg.norm(pts - EDIT_CENTRE, axis=1).reshape(h, w)


def _disc(size: int, centre, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return np.hypot(xx - centre[0], yy - centre[1]) <= radius


def _drag_edit(reconstruction: np.ndarray, seed: int = 0) -> np.ndarray:
    """A drag-like edit: content inside the disc moves up to 6 px, smoothly; plus GAN-like
    noise everywhere that stays under the change threshold."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    r = np.hypot(xx - EDIT_CENTRE[0], yy - EDIT_CENTRE[1])
    weight = np.clip(1 - r / EDIT_RADIUS, 0, 1) ** 2
    map_x, map_y = (xx - 6 * weight).astype(np.float32), (yy - 3 * weight).astype(np.float32)
    moved = cv2.remap(reconstruction, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    noise = np.random.default_rng(seed).normal(0, 1.0, moved.shape)
    return np.clip(np.rint(moved + noise), 0, 255).astype(np.uint8)


def _gradient(image: np.ndarray) -> np.ndarray:
    grey = image.astype(np.float64).mean(axis=2)
    gx = cv2.Sobel(grey, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_64F, 0, 1, ksize=3)
    return np.hypot(gx, gy)


@pytest.mark.parametrize("mode", ["delta", "alpha"])
def test_unedited_crop_changes_no_pixel(scene, mode):
    photo, alignment, reconstruction = scene
    before = photo.copy()
    config = PasteConfig(mode=mode)
    out = paste_back(photo, alignment, reconstruction.copy(), reconstruction, config)
    np.testing.assert_array_equal(out, photo)
    assert out is not photo and out.dtype == np.uint8
    out = paste_back(photo, alignment, alignment.crop, None, config)  # no reconstruction: the crop itself
    np.testing.assert_array_equal(out, photo)
    np.testing.assert_array_equal(photo, before)


def test_edit_changes_pixels_only_within_its_region_plus_feather(scene):
    photo, alignment, reconstruction = scene
    edited = reconstruction.copy()
    disc = _disc(SIZE, EDIT_CENTRE, EDIT_RADIUS)
    edited[disc] = np.clip(edited[disc].astype(int) - 60, 0, 255)  # darken: the bright skin does not clip
    config = PasteConfig()
    out = paste_back(photo, alignment, edited, reconstruction, config)

    distance = _crop_distance_to_edit(photo.shape, alignment)
    changed = np.any(out != photo, axis=2)
    # Region + smoothing spread (3 sigma) + dilation + feather + 1.5 px of interpolation footprint.
    reach = EDIT_RADIUS + 3 * config.diff_sigma + (config.dilate + config.feather) * SIZE + 1.5
    assert changed.any()
    assert distance[changed].max() <= reach
    # Inside the edit the change is the edit itself (-60), not the reconstruction's colour cast.
    core = distance < EDIT_RADIUS - 3
    change = out[core].astype(float) - photo[core].astype(float)
    np.testing.assert_allclose(change.mean(axis=0), -60, atol=3)


def test_delta_mode_keeps_colours_alpha_mode_pastes_the_reconstruction(scene):
    photo, alignment, reconstruction = scene
    edited = reconstruction.copy()
    disc = _disc(SIZE, EDIT_CENTRE, EDIT_RADIUS)
    edited[disc] = np.clip(edited[disc].astype(int) - 40, 0, 255)
    distance = _crop_distance_to_edit(photo.shape, alignment)
    core = distance < EDIT_RADIUS - 3
    delta = paste_back(photo, alignment, edited, reconstruction, PasteConfig(mode="delta"))
    alpha = paste_back(photo, alignment, edited, reconstruction, PasteConfig(mode="alpha"))
    shift_delta = (delta[core].astype(float) - photo[core]).mean(axis=0)
    shift_alpha = (alpha[core].astype(float) - photo[core]).mean(axis=0)
    np.testing.assert_allclose(shift_delta, -40, atol=3)
    np.testing.assert_allclose(shift_alpha, -40 + np.array([9.0, -6.0, 4.0]), atol=4)  # carries the cast
    far = distance > 60
    np.testing.assert_array_equal(alpha[far], photo[far])
    np.testing.assert_array_equal(delta[far], photo[far])


def test_no_seam_at_the_mask_boundary(scene):
    """Mean gradient across the feathered boundary is no larger than elsewhere in the photo,
    and no larger than the original photo's there. A naive square paste fails this."""
    photo, alignment, reconstruction = scene
    edited = _drag_edit(reconstruction)
    config = PasteConfig()
    out = paste_back(photo, alignment, edited, reconstruction, config)
    assert np.any(out != photo)

    h, w = photo.shape[:2]
    mask_photo = warp_to_photo_region(
        change_mask(edited, reconstruction, config), alignment.crop_from_photo, (0, 0, w, h)
    )
    band = (mask_photo > 0.02) & (mask_photo < 0.98)
    assert band.sum() > 200
    grad_out, grad_photo = _gradient(out), _gradient(photo)
    assert grad_out[band].mean() <= grad_out[~band].mean()
    assert grad_out[band].mean() <= grad_photo[band].mean() * 1.05 + 0.5

    # Control: pasting the whole reconstructed square leaves a seam the metric sees.
    square = warp_to_photo_region(np.ones((SIZE, SIZE), np.float32), alignment.crop_from_photo, (0, 0, w, h))
    pasted = warp_to_photo_region(edited.astype(np.float32), alignment.crop_from_photo, (0, 0, w, h), "cubic")
    naive = np.where(square[..., None] > 0.5, np.clip(np.rint(pasted), 0, 255), photo).astype(np.uint8)
    seam = (square > 0.5) & (cv2.erode((square > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0)
    interior = (square > 0.5) & ~seam
    edge_ratio = lambda img: _gradient(img)[seam].mean() / _gradient(img)[interior].mean()  # noqa: E731
    assert edge_ratio(naive) > 1.5 * edge_ratio(photo)


def test_edit_outside_the_photo_changes_nothing(astronaut):
    photo = astronaut
    alignment = align_box(photo, (-200, 100, 100, 400), 128, AlignConfig(box_margin=0.0))  # left part is padding
    edited = alignment.crop.copy()
    edited[40:80, 10:40] = 255 - edited[40:80, 10:40]  # crop x < 64 shows photo x < 0
    out = paste_back(photo, alignment, edited, alignment.crop)
    np.testing.assert_array_equal(out, photo)


def test_bars_of_a_non_square_generator_are_never_pasted():
    import skimage.data

    photo = skimage.data.chelsea()
    alignment = align_center(photo, 256, AlignConfig(content_aspect=4 / 3))
    edited = alignment.crop.copy()
    edited[:20] = 200  # the generator's bars are not black, but outside the content
    out = paste_back(photo, alignment, edited, alignment.crop, PasteConfig(feather=0.0, dilate=0.0))
    np.testing.assert_array_equal(out, photo)


def test_change_mask_is_bounded_and_soft():
    rec = np.full((128, 128, 3), 100, np.uint8)
    edited = rec.copy()
    edited[60:68, 60:68] = 200
    config = PasteConfig(diff_sigma=0.0, dilate=0.05, feather=0.1)
    mask = change_mask(edited, rec, config)
    assert mask.dtype == np.float32 and mask.shape == (128, 128)
    assert mask[64, 64] == 1.0 and mask[60 - 6, 64] == 1.0  # dilated by 0.05 * 128 = 6.4 px
    assert 0.0 < mask[60 - 12, 64] < 1.0  # feathered
    ys, xs = np.nonzero(mask)
    assert ys.min() >= 60 - 6.4 - 12.8 - 1 and xs.max() <= 67 + 6.4 + 12.8 + 1
    assert not change_mask(rec, rec.copy(), config).any()
    small = rec.copy()
    small[10, 10] = 104  # under the threshold
    assert not change_mask(small, rec, config).any()


def test_paste_back_rejects_mismatched_inputs(scene):
    photo, alignment, reconstruction = scene
    with pytest.raises(AlignError, match="same photo"):
        paste_back(photo[:100], alignment, reconstruction, reconstruction)
    with pytest.raises(AlignError, match="edited_crop"):
        paste_back(photo, alignment, reconstruction[:100], reconstruction)
    with pytest.raises(AlignError, match="reconstruction_crop"):
        paste_back(photo, alignment, reconstruction, reconstruction.astype(np.float32))
    with pytest.raises(AlignError, match="Alignment"):
        paste_back(photo, None, reconstruction, reconstruction)  # type: ignore[arg-type]
