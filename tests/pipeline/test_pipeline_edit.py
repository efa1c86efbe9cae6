"""`pipeline.edit_photo` and its stages, from Python, on a tiny random generator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from align import align_center, to_crop
from draggan import DragConfig
from inversion import InversionConfig
from pipeline import EditResult, PipelineConfig, edit_photo, mask_to_crop, points_to_crop
from pipeline.config import config_to_json
from pipeline.errors import PipelineError, PointsError


@pytest.fixture
def fast_config(tmp_path, squeeze_backbone):
    """Factory: a PipelineConfig of a sub-second run (centre crop, 1 inversion step, 2 drag steps)."""
    inversion = InversionConfig(
        w_steps=1,
        wplus_steps=1,
        pti_steps=1,
        w_avg_samples=500,
        lpips_net="squeeze",
        pti_lpips_net="squeeze",
        lpips_backbone=squeeze_backbone,
    )
    base = PipelineConfig(
        align_mode="center",
        inversion_method="w",
        inversion=inversion,
        drag=DragConfig(max_steps=2, lr=0.05),
        device="cpu",
        cache_dir=str(tmp_path / "cache"),
    )
    return lambda **changes: dataclasses.replace(base, **changes)


def test_config_validation():
    with pytest.raises(PipelineError, match="align_mode='box' needs box"):
        PipelineConfig(align_mode="box")
    with pytest.raises(PipelineError, match="box needs align_mode='box'"):
        PipelineConfig(align_mode="center", box=(0, 0, 5, 5))
    with pytest.raises(PipelineError, match="face_index only applies to align_mode='face'"):
        PipelineConfig(align_mode="center", face_index=1)
    with pytest.raises(PipelineError, match="inversion_method"):
        PipelineConfig(inversion_method="z")
    with pytest.raises(PipelineError, match="device"):
        PipelineConfig(device="tpu")
    assert PipelineConfig(align_mode="box", box=[1, 2, 30, 40]).box == (1.0, 2.0, 30.0, 40.0)
    data = config_to_json(PipelineConfig())
    assert data["inversion"]["pti_steps"] == InversionConfig().pti_steps and data["drag"]["r2"] == 12.0


def test_points_map_into_the_crop_and_out_of_crop_points_are_refused(make_photo):
    photo = make_photo(96, 64)
    alignment = align_center(photo, 32)
    handles, targets = points_to_crop([[48, 32]], [[60, 32]], alignment)
    np.testing.assert_allclose(handles, to_crop(np.array([[48.0, 32.0]]), alignment))
    assert handles.shape == targets.shape == (1, 2)
    with pytest.raises(PointsError, match=r"handle 0 at photo \(5, 32\) lies outside the aligned 32x32 crop"):
        points_to_crop([[5, 32]], [[60, 32]], alignment)
    with pytest.raises(PointsError, match="outside the 96x64 photo"):
        points_to_crop([[48, 32]], [[100, 32]], alignment)


def test_mask_is_warped_into_the_crop(make_photo):
    photo = make_photo(96, 64)
    alignment = align_center(photo, 32)
    mask = np.zeros((64, 96), bool)
    mask[:, 48:] = True  # right half of the photo may move
    crop_mask = mask_to_crop(mask, alignment)
    assert crop_mask.shape == (32, 32) and crop_mask.dtype == np.float32
    assert set(np.unique(crop_mask)) <= {0.0, 1.0}
    assert crop_mask[:, :14].sum() == 0 and crop_mask[:, 18:].min() == 1
    with pytest.raises(PointsError, match="mask is 10x64 but the photo is 96x64"):
        mask_to_crop(np.ones((64, 10), bool), alignment)
    only_outside = np.zeros((64, 96), bool)
    only_outside[:, :5] = True
    with pytest.raises(PointsError, match="outside the aligned crop"):
        mask_to_crop(only_outside, alignment)


def test_an_empty_drag_pastes_back_the_input_exactly(tiny_G, make_photo, fast_config):
    photo = make_photo(96, 64)
    config = fast_config(drag=DragConfig(max_steps=0), use_cache=False)
    result = edit_photo(photo, [[48, 32]], [[56, 32]], tiny_G, config, progress=False)
    assert isinstance(result, EditResult)
    assert result.drag.steps == 0
    np.testing.assert_array_equal(result.edited_crop, result.reconstruction_crop)
    np.testing.assert_array_equal(result.edited_photo, photo)
    assert not result.cache_hit and result.cache_key is None


def test_edit_photo_end_to_end_in_python(tiny_G, make_photo, fast_config):
    photo = make_photo(96, 64)
    before = tiny_G.state_dict()["synthesis.b32.torgb.weight"].clone()
    config = fast_config(inversion_method="pti")
    mask = np.zeros((64, 96), bool)
    mask[16:48, 32:64] = True
    result = edit_photo(
        photo, np.array([[48.0, 32.0]]), np.array([[54.0, 34.0]]), tiny_G, config, mask_photo=mask, progress=False
    )
    assert result.edited_photo.shape == photo.shape and result.edited_photo.dtype == np.uint8
    assert result.edited_crop.shape == result.reconstruction_crop.shape == (32, 32, 3)
    assert result.mask_crop is not None and result.mask_crop.shape == (32, 32)
    assert result.drag.history.shape == (result.drag.steps + 1, 1, 2)
    assert result.inversion.tuned  # PTI edits with a tuned copy ...
    assert (tiny_G.state_dict()["synthesis.b32.torgb.weight"] == before).all()  # ... never the caller's G
    assert set(result.metrics) >= {"psnr", "ssim", "lpips"} and result.metrics["lpips"] is not None
    assert {"align", "invert", "drag", "paste", "total"} <= set(result.seconds)
    assert result.distances_crop.shape == (1,) and result.final_handles_photo.shape == (1, 2)
    # Pixels the crop does not cover are untouched (the crop is x 16..79 of the photo).
    np.testing.assert_array_equal(result.edited_photo[:, :14], photo[:, :14])
    np.testing.assert_array_equal(result.edited_photo[:, 82:], photo[:, 82:])
    # Same crop, generator and inversion config: the second run reuses the inversion.
    again = edit_photo(photo, np.array([[50.0, 30.0]]), np.array([[44.0, 30.0]]), tiny_G, config, progress=False)
    assert again.cache_hit and again.cache_key == result.cache_key
    np.testing.assert_array_equal(again.reconstruction_crop, result.reconstruction_crop)


@pytest.mark.parametrize("composite", ["warp", "delta"])
def test_a_fixed_region_keeps_its_bytes_and_the_edit_shows(tiny_G, make_photo, fast_config, composite):
    from align import PasteConfig

    photo = make_photo(96, 64)
    config = fast_config(
        drag=DragConfig(max_steps=3, lr=0.1), paste=PasteConfig(composite=composite, locality=0.5), use_cache=False
    )
    mask = np.zeros((64, 96), bool)
    mask[:, 40:60] = True  # only this band may move
    result = edit_photo(photo, [[48.0, 32.0]], [[52.0, 32.0]], tiny_G, config, mask_photo=mask, progress=False)
    assert result.config.paste.composite == composite
    if composite == "warp":
        np.testing.assert_array_equal(result.edited_photo[~mask], photo[~mask])
    assert not np.array_equal(result.edited_photo, photo)


def test_debug_composite_keeps_the_field_and_weight(tiny_G, make_photo, fast_config):
    photo = make_photo(96, 64)
    config = fast_config(drag=DragConfig(max_steps=3, lr=0.1), debug_composite=True, use_cache=False)
    result = edit_photo(photo, [[48.0, 32.0]], [[52.0, 32.0]], tiny_G, config, progress=False)
    assert result.composite is not None and result.composite.photo is result.edited_photo
    assert result.composite.field_crop.shape == (32, 32, 2) and result.composite.weight_crop.shape == (32, 32)
    plain = edit_photo(photo, [[48.0, 32.0]], [[52.0, 32.0]], tiny_G, fast_config(drag=config.drag), progress=False)
    assert plain.composite is None
    np.testing.assert_array_equal(plain.edited_photo, result.edited_photo)  # debugging changes nothing
