"""The editor's settings -> typed options -> the configuration the command line builds."""

from __future__ import annotations

import dataclasses

import pytest

from common.errors import EXIT_BAD_INPUT, DragPipelineError, exit_code_for
from editor.errors import EditorError
from editor.settings import EditorSettings, ServerOptions
from pipeline.cli.parser import build_parser, options_from_args
from pipeline.options import config_from_options

SERVER = ServerOptions(device="cpu", lpips_backbone="random", lpips_net="squeeze", cache_dir="/tmp/c")


@pytest.mark.parametrize(
    "settings",
    [
        EditorSettings(),
        EditorSettings(align_mode="box", box=(4.0, 5.0, 60.5, 61.0), inversion_method="w+", steps=3, lr=0.0125),
        EditorSettings(face_index=1, drag_steps=7, stop_distance=0.5, seed=4),
    ],
)
def test_settings_give_the_config_of_the_recorded_command_line(settings):
    options = settings.to_options(SERVER)
    argv = ["--image", "photo.png", "--points", "points.json", *options.to_argv()]
    cli_config = config_from_options(options_from_args(build_parser().parse_args(argv)))
    assert settings.to_config(SERVER) == cli_config
    assert cli_config.video == "mp4"  # the editor always records the drag video


def test_drag_options_without_a_flag_are_the_users_choice():
    settings = EditorSettings(w_space="w", r1=2.0, lambda_mask=5.0)
    config = settings.to_config(dataclasses.replace(SERVER, max_photo_pixels=12345))
    assert (config.drag.w_space, config.drag.r1, config.drag.lambda_mask) == ("w", 2.0, 5.0)
    assert [o for o in config.user_options if o.startswith("drag.")] == ["drag.w_space", "drag.r1", "drag.lambda_mask"]
    assert config.align.max_photo_pixels == 12345


def test_a_box_or_face_number_of_another_mode_is_ignored():
    # The page keeps them while the user switches modes; only the chosen mode's apply.
    config = EditorSettings(align_mode="center", box=(1.0, 2.0, 3.0, 4.0), face_index=2).to_config(SERVER)
    assert (config.align_mode, config.box, config.face_index) == ("center", None, None)


def test_a_bad_setting_is_an_editor_error_with_a_message():
    with pytest.raises(EditorError, match="invalid setting: --steps must be a whole number >= 0") as info:
        EditorSettings(steps=-1).to_config(SERVER)
    assert isinstance(info.value, DragPipelineError) and exit_code_for(info.value) == EXIT_BAD_INPUT
    with pytest.raises(EditorError, match="--align box needs --box"):
        EditorSettings(align_mode="box").to_config(SERVER)
