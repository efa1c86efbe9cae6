"""AlignConfig / PasteConfig validation and presets (frozen-ness: tests/common/test_common_configs.py)."""

from __future__ import annotations

import pytest

from align import FACE_PRESET_FIELDS, FACE_PRESETS, AlignConfig, AlignError, PasteConfig, face_preset_values


def test_defaults_are_the_ffhq_preset():
    config = AlignConfig()
    assert (config.eye_scale, config.mouth_scale, config.center_shift) == FACE_PRESETS["ffhq"] == (2.0, 1.8, 0.1)
    assert AlignConfig.from_preset("ffhq") == config


def test_unknown_preset_names_the_choices():
    with pytest.raises(AlignError, match="ffhq"):
        AlignConfig.from_preset("celeba")
    with pytest.raises(AlignError, match="utkface"):
        face_preset_values("celeba")


@pytest.mark.parametrize("name", sorted(FACE_PRESETS))
def test_a_preset_sets_exactly_its_fields(name):
    values = face_preset_values(name)
    assert tuple(values) == FACE_PRESET_FIELDS and tuple(values.values()) == FACE_PRESETS[name]
    config = AlignConfig.from_preset(name)
    assert {field: getattr(config, field) for field in FACE_PRESET_FIELDS} == values
    # Every other field keeps its default.
    assert config == AlignConfig(**values)


@pytest.mark.parametrize(
    "field, value",
    [
        ("eye_scale", 0.0),
        ("mouth_scale", -1.0),
        ("center_shift", float("nan")),
        ("detector", "haar"),
        ("detect_max_pixels", 100),
        ("detect_upsample", 5),
        ("detect_upsample", 1.0),
        ("box_margin", -0.1),
        ("content_aspect", 0.0),
        ("pad_mode", "wrap"),
        ("interpolation", "nearest"),
        ("antialias", 1),
        ("max_photo_pixels", 0),
    ],
)
def test_align_config_rejects_bad_values(field, value):
    with pytest.raises(AlignError, match=field):
        AlignConfig(**{field: value})


@pytest.mark.parametrize(
    "field, value",
    [
        ("mode", "poisson"),
        ("threshold", -1.0),
        ("threshold", 255.0),
        ("diff_sigma", -1.0),
        ("dilate", 0.9),
        ("feather", -0.1),
    ],
)
def test_paste_config_rejects_bad_values(field, value):
    with pytest.raises(AlignError, match=field):
        PasteConfig(**{field: value})
