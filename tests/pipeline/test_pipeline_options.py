"""Typed user options (pipeline/options.py): validation, the config they give, the command line they read as."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from align import PasteConfig
from pipeline.cli.parser import build_parser, options_from_args
from pipeline.errors import DragPipelineError, UsageError
from pipeline.options import UserOptions, config_from_options

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"box": (0, 0, 10, 10)}, "--box needs --align box"),
        ({"align": "box"}, "--align box needs --box"),
        ({"align": "center", "face_index": 1}, "--face-index only applies to --align face"),
        ({"align": "center", "face_preset": "ffhq"}, "--face-preset only applies to --align face"),
        ({"align": "side"}, "--align must be one of"),
        ({"face_index": -1}, "--face-index must be a whole number >= 0 or 'all'"),
        ({"steps": 2.5}, "--steps must be a whole number >= 0"),
        ({"drag_steps": -3}, "--drag-steps must be a whole number >= 0"),
        ({"inversion": "z"}, "--inversion must be one of"),
        ({"lpips_net": "resnet"}, "--lpips-net must be one of"),
        ({"video": "avi"}, "--video must be one of"),
        ({"lr": "fast"}, "--lr must be a number"),
        ({"composite": "blend"}, "--composite must be one of"),
        ({"debug_composite": 1}, "--debug-composite is a switch"),
        ({"align": "box", "box": (0, 0, 1)}, "--box must be 4 numbers"),
        ({"frame_steps": -1}, "--frame-steps must be a whole number >= 0"),
        ({"layer_smoothing": "much"}, "--layer-smoothing must be a number"),
    ],
)
def test_bad_options_are_usage_errors(changes, fragment):
    with pytest.raises(UsageError, match=fragment) as info:
        UserOptions(**changes)
    assert isinstance(info.value, DragPipelineError) and info.value.exit_code == 2


def test_config_records_what_the_user_set():
    options = UserOptions(steps=5, lr=0.01, r1=2.0, w_space="w", face_index="all", seed=3, max_photo_pixels=1000)
    config = config_from_options(options)
    assert (config.inversion.w_steps, config.inversion.wplus_steps, config.inversion.pti_steps) == (5, 5, 5)
    assert (config.drag.lr, config.drag.r1, config.drag.w_space) == (0.01, 2.0, "w")
    assert config.face_index is None  # 'all' is the caller's business (pipeline.group)
    assert (config.seed, config.inversion.seed, config.drag.seed) == (3, 3, 3)
    assert config.align.max_photo_pixels == 1000
    assert config.user_options == (
        "inversion.w_steps",
        "inversion.wplus_steps",
        "inversion.pti_steps",
        "drag.lr",
        "drag.w_space",
        "drag.r1",
    )
    assert config_from_options(UserOptions()).user_options == ()


def test_clip_options_set_the_video_config_and_leave_the_rest_at_its_defaults():
    from pipeline.video.config import VideoConfig

    assert config_from_options(UserOptions()).clip == VideoConfig()
    clip = config_from_options(UserOptions(frame_steps=4, layer_smoothing=0.0)).clip
    assert clip == VideoConfig(frame_steps=4, layer_smoothing=0.0)
    with pytest.raises(DragPipelineError, match="layer_smoothing must be in"):
        config_from_options(UserOptions(layer_smoothing=1.5))


def test_composite_option_sets_the_paste_config():
    default = config_from_options(UserOptions())
    assert default.paste == PasteConfig() and default.debug_composite is False
    config = config_from_options(UserOptions(composite="warp", debug_composite=True))
    assert config.paste.composite == "warp" and config.debug_composite is True
    assert config_from_options(UserOptions(composite="delta")).paste.composite == "delta"


@pytest.mark.parametrize(
    "options",
    [
        UserOptions(),
        UserOptions(align="box", box=(1.5, 2, 30, 40.25), inversion="w+", lr=0.0012345678, video="gif", fps=7),
        UserOptions(face_index="all", face_preset="ffhq", steps=3, pti_steps=4, lpips_net="squeeze", locality=True),
        UserOptions(align="center", drag_steps=9, stop_distance=1.5, no_cache=True, cache_dir="/tmp/c", seed=11),
        UserOptions(face_index=2, lpips_backbone="random", device="cpu", video="mp4"),
        UserOptions(composite="warp", debug_composite=True),
        UserOptions(composite="delta"),
        UserOptions(frame_steps=4, shot_steps=0, landmark_sigma=2.5, layer_smoothing=0.25),
    ],
)
def test_to_argv_reads_back_as_the_same_options(options):
    argv = ["--image", "a.png", "--points", "p.json", *options.to_argv()]
    assert options_from_args(build_parser().parse_args(argv)) == options


def test_options_without_a_flag_stay_out_of_the_command_line():
    options = UserOptions(r1=2.0, r2=8.0, w_space="w", feature_res=32, lambda_mask=5.0, max_photo_pixels=10)
    assert options.to_argv() == UserOptions().to_argv()
    back = options_from_args(build_parser().parse_args(["--image", "a", "--points", "p", *options.to_argv()]))
    assert back == dataclasses.replace(
        options, r1=None, r2=None, w_space=None, feature_res=None, lambda_mask=None, max_photo_pixels=None
    )


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_batch_engine_options_and_editor_never_import_the_command_line():
    files = [REPO / "pipeline" / "batch.py", REPO / "pipeline" / "options.py", *sorted((REPO / "editor").glob("*.py"))]
    for path in files:
        cli = sorted(m for m in _imported_modules(path) if m == "pipeline.cli" or m.startswith("pipeline.cli."))
        assert not cli, f"{path.relative_to(REPO)} imports {cli}"
