"""InversionConfig: reference defaults, validation, plain-data round trip."""

from __future__ import annotations

import dataclasses

import pytest

from common.errors import DragPipelineError
from inversion import InversionConfig, InversionError


def test_defaults_follow_the_references():
    c = InversionConfig()
    # PTI configs/hyperparameters.py: first_inv_steps, max_pti_steps, pti_learning_rate, LPIPS_value_threshold.
    assert (c.w_steps, c.pti_steps, c.pti_lr, c.effective_pti_lpips_threshold) == (450, 350, 3e-4, 0.06)
    # The AlexNet-calibrated value is not applied to other backbones.
    assert dataclasses.replace(c, pti_lpips_net="squeeze").effective_pti_lpips_threshold == 0.0
    assert (c.pti_l2_weight, c.pti_lpips_weight, c.pti_lpips_net) == (1.0, 1.0, "alex")
    assert (c.locality_alpha, c.locality_l2_weight, c.locality_lpips_weight) == (30.0, 0.1, 0.1)
    # NVlabs projector.py.
    assert (c.lr_rampup, c.lr_rampdown, c.initial_noise_factor, c.noise_ramp_length) == (0.05, 0.25, 0.05, 0.75)
    assert (c.noise_regularize_weight, c.lpips_net, c.lpips_max_resolution) == (1e5, "vgg", 256)
    assert c.lpips_backbone is None


def test_files_written_before_inversion_stopped_downloading_still_load():
    # `allow_download` was retired (inversion never downloads); configs stored with it still read back.
    data = {**InversionConfig(w_steps=7).to_dict(), "allow_download": True}
    assert InversionConfig.from_dict(data) == InversionConfig(w_steps=7)
    assert "allow_download" not in InversionConfig().to_dict()


@pytest.mark.parametrize(
    "change",
    [
        {"w_steps": -1},
        {"pti_steps": 1.5},
        {"w_lr": -0.1},
        {"lpips_net": "resnet"},
        {"pti_lpips_net": "VGG"},
        {"lr_rampdown": 2.0},
        {"noise_ramp_length": 0.0},
        {"wplus_init": "z"},
        {"pti_pivot": "z"},
        {"lpips_max_resolution": 8},
        {"w_avg_samples": 0},
        {"seed": "0"},
        {"pti_lpips_threshold": float("nan")},
    ],
)
def test_invalid_values_raise(change):
    with pytest.raises(InversionError, match=next(iter(change))):
        InversionConfig(**change)


def test_error_is_in_the_project_hierarchy():
    with pytest.raises(DragPipelineError):
        InversionConfig(w_steps=-1)
    with pytest.raises(ValueError):
        InversionConfig(w_steps=-1)


def test_replace_and_plain_round_trip(tmp_path):
    c = dataclasses.replace(InversionConfig(), w_steps=10, lpips_backbone=tmp_path)
    assert c.lpips_backbone == str(tmp_path)  # Paths are stored as str.
    assert InversionConfig.from_dict(c.to_dict()) == c
    with pytest.raises(InversionError, match="unknown"):
        InversionConfig.from_dict({**c.to_dict(), "future_option": 1})
