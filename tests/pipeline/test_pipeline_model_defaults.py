"""Per-model settings: the face framing a model records, small-model defaults, user options win."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from align import FACE_PRESETS, AlignConfig
from draggan import DragConfig
from hub.registry import REGISTRY
from inversion import InversionConfig
from pipeline import PipelineConfig, edit_photo
from pipeline.cli.parser import build_parser, options_from_args
from pipeline.config import lpips_nets_needed
from pipeline.errors import PipelineError
from pipeline.model_defaults import (
    SMALL_MODEL_DRAG,
    SMALL_MODEL_INVERSION,
    SMALL_MODEL_PASTE,
    changed_fields,
    config_for_model,
    model_face_preset,
)
from pipeline.options import config_from_options


class _Big:
    """Stands in for a 512-px generator: config_for_model reads only img_resolution and metadata."""

    img_resolution = 512
    metadata: dict = {}


def _framing(config: PipelineConfig) -> tuple[float, float, float]:
    return config.align.eye_scale, config.align.mouth_scale, config.align.center_shift


@pytest.fixture
def utk_G(tiny_G):
    G = copy.deepcopy(tiny_G)
    G.metadata = {"face_preset": "utkface"}
    return G


def test_the_file_records_the_framing_for_any_path(utk_G, tiny_G):
    assert model_face_preset(utk_G) == "utkface"  # a file given by path: the file says
    assert model_face_preset(tiny_G) == "ffhq"  # nothing recorded: the public models' framing
    assert model_face_preset(tiny_G, REGISTRY["face-64"]) == "utkface"
    assert _framing(config_for_model(PipelineConfig(), utk_G)) == FACE_PRESETS["utkface"]
    bad = copy.deepcopy(tiny_G)
    bad.metadata = {"face_preset": "moon"}
    with pytest.raises(PipelineError, match="--face-preset"):
        config_for_model(PipelineConfig(), bad)


def test_small_models_get_the_measured_defaults(utk_G):
    config = config_for_model(PipelineConfig(), utk_G)
    for name, value in SMALL_MODEL_INVERSION.items():
        assert getattr(config.inversion, name) == value, name
    for name, value in SMALL_MODEL_DRAG.items():
        assert getattr(config.drag, name) == value, name
    for name, value in SMALL_MODEL_PASTE.items():
        assert getattr(config.paste, name) == value, name
    # FFHQ-class models keep DragGAN's and PTI's defaults (VGG / AlexNet LPIPS, 450 / 350 steps).
    assert config_for_model(PipelineConfig(), _Big(), REGISTRY["ffhq-512"]) == PipelineConfig()


def test_lpips_nets_needed_follow_the_method_and_the_model(utk_G):
    # What the runner asks `hub.lpips_weights.ensure_lpips_backbones` to fetch before a run.
    default = PipelineConfig()
    assert lpips_nets_needed(default) == [default.inversion.lpips_net, default.inversion.pti_lpips_net]
    assert lpips_nets_needed(dataclasses.replace(default, inversion_method="w")) == [default.inversion.lpips_net]
    same = dataclasses.replace(default, inversion=InversionConfig(lpips_net="alex", pti_lpips_net="alex"))
    assert lpips_nets_needed(same) == ["alex"]
    assert lpips_nets_needed(config_for_model(default, utk_G)) == ["squeeze"]  # small models: shipped, no download


def test_options_the_user_set_win(utk_G):
    user = PipelineConfig(
        inversion=InversionConfig(w_steps=77, lpips_net="alex", pti_lpips_net="alex"),
        drag=DragConfig(stop_distance=3.0),
        align=AlignConfig(eye_scale=1.5),
    )
    assert changed_fields(user) >= {"inversion.w_steps", "drag.stop_distance", "align.eye_scale"}
    config = config_for_model(user, utk_G)
    assert (config.inversion.w_steps, config.inversion.pti_steps) == (77, SMALL_MODEL_INVERSION["pti_steps"])
    assert (config.inversion.lpips_net, config.inversion.pti_lpips_net) == ("alex", "alex")  # kept whole
    assert config.drag.stop_distance == 3.0 and config.align.eye_scale == 1.5
    # The composite too: a residual threshold the caller set, or named as set at its default, stays.
    chosen = dataclasses.replace(user, paste=dataclasses.replace(user.paste, residual_threshold=25.0))
    assert config_for_model(chosen, utk_G).paste.residual_threshold == 25.0
    named = PipelineConfig(user_options=("paste.residual_threshold",))
    assert config_for_model(named, utk_G).paste.residual_threshold == PipelineConfig().paste.residual_threshold
    # The CLI names what was given, so a value equal to the stage default still wins.
    args = build_parser().parse_args(["--image", "x", "--points", "y", "--steps", "450", "--face-preset", "ffhq"])
    options = options_from_args(args)
    config = config_for_model(config_from_options(options), utk_G, explicit=options.user_fields())
    assert (config.inversion.w_steps, config.inversion.pti_steps) == (450, 450)
    assert _framing(config) == FACE_PRESETS["ffhq"]  # --face-preset overrides the file's record


def test_content_aspect_for_box_crops():
    config = config_for_model(PipelineConfig(align_mode="center"), _Big(), REGISTRY["car-512"])
    assert config.align.content_aspect == pytest.approx(4 / 3)


def test_the_python_api_adapts_the_config_like_the_cli(tiny_G, tmp_path, make_photo):
    # No backbone given: LPIPS-squeeze comes from the package.
    base = PipelineConfig(
        align_mode="center",
        inversion_method="w",
        device="cpu",
        cache_dir=str(tmp_path / "c"),
        inversion=InversionConfig(w_steps=1, w_avg_samples=500),
        drag=DragConfig(max_steps=2),
    )
    photo = make_photo(96, 64)
    result = edit_photo(photo, np.array([[48.0, 30.0]]), np.array([[50.0, 30.0]]), tiny_G, base, progress=False)
    # The model's settings where the caller set none, the caller's where they did.
    assert result.config.inversion.lpips_net == "squeeze" and result.config.inversion.w_steps == 1
    assert result.config.drag.stop_distance == SMALL_MODEL_DRAG["stop_distance"] and result.config.drag.max_steps == 2
    # Idempotent: the CLI, batch jobs and edit_photo may each apply it.
    assert config_for_model(result.config, tiny_G) == result.config


def test_cli_records_what_the_user_set():
    args = build_parser().parse_args(["--image", "x", "--points", "y", "--pti-steps", "350", "--stop-distance", "2"])
    config = config_from_options(options_from_args(args))
    assert set(config.user_options) == {"inversion.pti_steps", "drag.stop_distance"}
    with pytest.raises(PipelineError, match="user_options"):
        PipelineConfig(user_options=("inversion.nope",))
