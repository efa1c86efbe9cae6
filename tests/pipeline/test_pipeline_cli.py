"""The command line end to end: outputs, report, cache (bad input: test_pipeline_bad_inputs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pipeline_testutils import OUTPUTS, center_run, run_cli, write_points

from align import align_face, load_photo, transform_points
from hub.registry import REGISTRY
from pipeline.io.report import load_latents

REPORT_FIELDS = {
    "versions",
    "device",
    "config",
    "seconds",
    "metrics",
    "cache_hit",
    "alignment",
    "points",
    "drag",
    "inversion",
    "inputs",
    "checkpoint",
    "outputs",
}


def _untouched_outside_crop(photo: np.ndarray, edited: np.ndarray, crop_from_photo, size: int) -> None:
    """Every photo pixel whose crop position is off the crop (with an interpolation margin) is byte-identical."""
    h, w = photo.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    crop = transform_points(np.asarray(crop_from_photo), np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64))
    outside = ((crop < -2.0) | (crop > size + 1.0)).any(axis=1).reshape(h, w)
    assert outside.sum() > 0
    np.testing.assert_array_equal(edited[outside], photo[outside])


def _check_outputs(out: Path, photo: np.ndarray, size: int, video: str | None = None) -> dict:
    expected = OUTPUTS | ({f"drag.{video}"} if video else set())
    names = {p.name for p in out.iterdir()}
    assert names == expected or (video == "mp4" and names == OUTPUTS | {"drag.gif"})
    edited = np.asarray(Image.open(out / "edited.png"))
    assert edited.shape == photo.shape and edited.dtype == np.uint8
    for name in ("aligned.png", "reconstruction.png", "edited_crop.png"):
        assert np.asarray(Image.open(out / name)).shape == (size, size, 3), name
    comparison = np.asarray(Image.open(out / "comparison.png"))
    assert comparison.shape[0] >= size and comparison.shape[1] > 2 * comparison.shape[0]
    report = json.loads((out / "report.json").read_text())
    assert REPORT_FIELDS <= set(report)
    assert set(report["outputs"]) == names
    _untouched_outside_crop(photo, edited, report["alignment"]["crop_from_photo"], size)
    return report


def test_center_end_to_end_then_the_cache(tmp_path, center_args, photo_file, tiny_checkpoint, fast_args, capsys):
    out = tmp_path / "result"
    args = [*center_args, "--out", out, "--video", "gif"]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    assert "edited photo:" in stdout
    photo = load_photo(photo_file)
    report = _check_outputs(out, photo, 32, video="gif")

    # report.json: every field, with the values this run had.
    assert report["device"] == "cpu" and report["cache_hit"] is False
    assert report["config"]["inversion_method"] == "pti" and report["config"]["align_mode"] == "center"
    assert report["config"]["inversion"]["w_steps"] == 2 and report["config"]["drag"]["max_steps"] == 3
    assert {"python", "torch", "numpy", "draggan_pipeline"} <= set(report["versions"])
    assert {"align", "invert", "drag", "paste", "total", "write"} <= set(report["seconds"])
    recon = report["metrics"]["reconstruction"]
    assert {"psnr", "ssim", "lpips"} <= set(recon) and isinstance(recon["lpips"], float)
    drag = report["drag"]
    n_steps = drag["steps"]
    assert np.asarray(drag["history_crop"]).shape == (n_steps + 1, 2, 2)
    assert np.asarray(drag["history_photo"]).shape == (n_steps + 1, 2, 2)
    assert len(drag["final_distances_photo"]) == 2 and isinstance(drag["converged"], bool)
    np.testing.assert_allclose(report["points"]["handles_photo"], [[40, 30], [56, 36]])
    assert report["checkpoint"]["path"] == str(tiny_checkpoint.resolve())
    assert report["inputs"]["photo_size"] == [96, 64]

    latents = load_latents(out / "latents.pt")
    assert latents["pivot_ws"].shape == latents["edited_ws"].shape == (1, 8, 32)
    assert latents["G"] is not None  # PTI: the tuned generator is stored
    with Image.open(out / "drag.gif") as gif:
        assert gif.n_frames >= 2

    # New points, same photo/checkpoint/inversion config: only the drag runs again.
    points2 = write_points(tmp_path / "inputs" / "points2.json", [[48, 32]], [[44, 28]])
    args2 = [*center_run(photo_file, points2, tiny_checkpoint, fast_args), "--out", out, "--overwrite"]
    code, stdout, stderr = run_cli(args2, capsys)
    assert code == 0, stderr
    report2 = _check_outputs(out, photo, 32)
    assert report2["cache_hit"] is True and report2["cache_key"] == report["cache_key"]
    assert "inversion from cache" in stdout
    assert np.array_equal(np.asarray(Image.open(out / "reconstruction.png")), _reconstruction_of(latents))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "inputs", "result", "tiny_G.pt"]


def test_progress_in_a_log_file_is_whole_lines(tmp_path, center_args, capsys):
    # `run_pipeline.py ... > log 2>&1`: stderr is not a terminal, so no bar redraws with '\r'.
    args = [a for a in center_args if a != "--quiet"]
    code, _, stderr = run_cli([*args, "--inversion", "pti", "--no-cache", "--out", tmp_path / "out"], capsys)
    assert code == 0, stderr
    assert "\r" not in stderr and "\x1b" not in stderr
    lines = stderr.splitlines()
    for stage in ("project w", "pivotal tuning", "drag"):
        assert any(line.startswith(f"{stage}: ") and "%" in line for line in lines), (stage, stderr)
    assert len(lines) < 40, stderr  # a few lines per stage (2 + 2 inversion steps, 3 drag steps here)


def _reconstruction_of(latents) -> np.ndarray:
    from common.images import uint8_from_network

    with torch.no_grad():
        return uint8_from_network(latents["G"].synthesis(latents["pivot_ws"], noise_mode="const"))[0]


def test_box_alignment_and_default_out_dir(tmp_path, photo_file, points_file, tiny_checkpoint, fast_args, capsys):
    code, _, stderr = run_cli(
        [
            "--image",
            photo_file,
            "--points",
            points_file,
            "--checkpoint",
            tiny_checkpoint,
            "--align",
            "box",
            "--box",
            "24,12,72,56",
            "--inversion",
            "w",
            "--no-cache",
            *fast_args,
        ],
        capsys,
    )
    assert code == 0, stderr
    out = photo_file.parent / "photo_edit"  # next to the image
    report = _check_outputs(out, load_photo(photo_file), 32)
    assert report["alignment"]["mode"] == "box" and report["config"]["box"] == [24.0, 12.0, 72.0, 56.0]
    latents = load_latents(out / "latents.pt")
    assert latents["method"] == "w" and latents["pivot_ws"].shape == (1, 8, 32)
    assert photo_file.is_file()


@pytest.mark.slow
def test_face_alignment_on_a_real_photo(tmp_path, shared_dir, tiny_checkpoint, fast_args, capsys):
    photo_path = shared_dir / "data" / "photos" / "obama.jpg"
    photo = load_photo(photo_path)
    lm = align_face(photo, 32).landmarks_photo
    # Mouth corners pulled outward and up: a smile.
    handles = [lm[48].tolist(), lm[54].tolist()]
    targets = [(lm[48] + [-8, -6]).tolist(), (lm[54] + [8, -6]).tolist()]
    points = write_points(tmp_path / "p.json", handles, targets)
    out = tmp_path / "out"
    code, _, stderr = run_cli(
        [
            "--image",
            photo_path,
            "--points",
            points,
            "--checkpoint",
            tiny_checkpoint,
            "--align",
            "face",
            "--out",
            out,
            *fast_args,
        ],
        capsys,
    )
    assert code == 0, stderr
    report = _check_outputs(out, photo, 32)
    assert report["alignment"]["mode"] == "face" and report["alignment"]["faces_found"] >= 1


def test_list_checkpoints(capsys):
    code, stdout, _ = run_cli(["--list-checkpoints"], capsys)
    assert code == 0
    for name in REGISTRY:
        assert name in stdout


def test_locality_flag_reaches_the_inversion_config():
    from pipeline.cli.parser import build_parser, options_from_args
    from pipeline.options import config_from_options

    def config_of(argv):
        return config_from_options(options_from_args(build_parser().parse_args(argv)))

    on = config_of(["--image", "a.png", "--points", "p.json", "--locality"])
    off = config_of(["--image", "a.png", "--points", "p.json"])
    assert on.inversion.locality_regularization and not off.inversion.locality_regularization


def test_warp_composite_with_debug_images(tmp_path, center_args, photo_file, capsys):
    out = tmp_path / "warp"
    code, _, stderr = run_cli([*center_args, "--out", out, "--composite", "warp", "--debug-composite"], capsys)
    assert code == 0, stderr
    photo = load_photo(photo_file)
    names = {p.name for p in out.iterdir()}
    assert names == OUTPUTS | {"composite_field.png", "composite_weight.png"}
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["paste"]["composite"] == "warp" and report["config"]["debug_composite"] is True
    assert {"flow", "border", "motion_threshold"} <= set(report["config"]["paste"])
    assert set(report["outputs"]) == names
    weight = np.asarray(Image.open(out / "composite_weight.png"))
    assert weight.shape == (32, 32, 3)
    band = max(1, int(np.floor(report["config"]["paste"]["border"] * 32 + 0.5)))  # rows whose centre is in the band
    assert not weight[:band].any() and not weight[-band:].any()
    assert not weight[:, :band].any() and not weight[:, -band:].any()
    assert np.asarray(Image.open(out / "composite_field.png")).shape == (32, 32, 3)
    edited = np.asarray(Image.open(out / "edited.png"))
    _untouched_outside_crop(photo, edited, report["alignment"]["crop_from_photo"], 32)
