"""Every stage config, in one place: frozen, validated on `replace`, and round-tripped by common.configs."""

from __future__ import annotations

import dataclasses

import pytest

from align import AlignConfig, PasteConfig
from common.configs import config_from_dict, config_to_dict
from common.errors import DragPipelineError
from draggan import DragConfig
from evaluation.face_model_report import FaceRateConfig
from inversion import InversionConfig
from pipeline.config import PipelineConfig
from training.config import TrainConfig
from training.prepare import PrepareConfig

CONFIGS = [
    AlignConfig,
    PasteConfig,
    InversionConfig,
    DragConfig,
    PipelineConfig,
    TrainConfig,
    PrepareConfig,
    FaceRateConfig,
]
FLAT = [c for c in CONFIGS if c is not PipelineConfig]  # PipelineConfig nests the stage configs


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_configs_are_frozen_and_replace_validates(cls):
    config = cls()
    field = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, field, getattr(config, field))
    # `replace` runs __post_init__ again: a value of the wrong type is refused with the project's error.
    numeric = next(
        f.name
        for f in dataclasses.fields(cls)
        if isinstance(getattr(config, f.name), (int, float)) and not isinstance(getattr(config, f.name), bool)
    )
    with pytest.raises(DragPipelineError):
        dataclasses.replace(config, **{numeric: "not a number"})


@pytest.mark.parametrize("cls", FLAT, ids=lambda c: c.__name__)
def test_plain_data_round_trip_and_unknown_fields(cls):
    config = cls()
    data = config_to_dict(config)
    assert config_from_dict(cls, data, DragPipelineError) == config
    with pytest.raises(DragPipelineError, match="unknown .* fields \\['from_the_future'\\]"):
        config_from_dict(cls, {**data, "from_the_future": 1}, DragPipelineError)
    with pytest.raises(DragPipelineError, match="must be a dict"):
        config_from_dict(cls, [1, 2], DragPipelineError)


def test_lists_come_back_as_tuples():
    config = dataclasses.replace(TrainConfig(), betas=(0.0, 0.9))
    data = config_to_dict(config)
    data["betas"] = list(data["betas"])  # as JSON stores it
    assert config_from_dict(TrainConfig, data, DragPipelineError).betas == (0.0, 0.9)
