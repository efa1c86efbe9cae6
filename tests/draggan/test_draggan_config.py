"""`draggan.config`: validation and resolution-dependent constants."""

import dataclasses

import pytest

from draggan import DragConfig, DragError, resolve_feature_res, resolve_stop_distance, scaled_radius


@pytest.mark.parametrize(
    "field,value",
    [
        ("lr", 0),
        ("lr", float("nan")),
        ("max_steps", -1),
        ("max_steps", 1.5),
        ("r1", 0),
        ("r2", -3),
        ("lambda_mask", -1),
        ("feature_res", 100),
        ("optimize_rows", 0),
        ("stop_distance", -1),
        ("w_space", "z"),
        ("frame_every", -2),
        ("latent_every", -1),
        ("latent_every", 2.0),
        ("subpixel_tracking", 1),
        ("autocast", "int8"),
        ("seed", "x"),
        ("official_disc_grid", 1),
        ("local_features", "yes"),
    ],
)
def test_invalid_values_raise(field, value):
    with pytest.raises(DragError, match=f"DragConfig.{field}"):
        DragConfig(**{field: value})


def test_scaled_radius():
    assert scaled_radius(3, 512) == 3 and scaled_radius(12, 512) == 12
    assert scaled_radius(12, 256) == 6 and scaled_radius(3, 1024) == 6
    assert scaled_radius(3, 32) == 1  # never rounded away


def test_feature_res_and_stop_distance():
    c = DragConfig()
    assert resolve_feature_res(c, 512) == 128 and resolve_feature_res(c, 1024) == 128
    assert resolve_feature_res(c, 256) == 128 and resolve_feature_res(c, 64) == 32
    assert resolve_feature_res(dataclasses.replace(c, feature_res=64), 512) == 64
    with pytest.raises(DragError, match="feature_res"):
        resolve_feature_res(dataclasses.replace(c, feature_res=256), 128)
    assert resolve_stop_distance(c, 512) == 2.0 and resolve_stop_distance(c, 1024) == 4.0
    assert resolve_stop_distance(c, 64) == 2.0
    assert resolve_stop_distance(dataclasses.replace(c, stop_distance=0.5), 512) == 0.5
