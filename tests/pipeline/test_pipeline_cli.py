"""The command line end to end: outputs, report, cache, exit codes and messages, no partial outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from align import align_face, load_photo, transform_points
from pipeline.cli import main
from pipeline.registry import REGISTRY
from pipeline.report import load_latents

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = {"edited.png", "aligned.png", "reconstruction.png", "edited_crop.png", "comparison.png", "latents.pt",
           "report.json"}
REPORT_FIELDS = {"versions", "device", "config", "seconds", "metrics", "cache_hit", "alignment", "points", "drag",
                 "inversion", "inputs", "checkpoint", "outputs"}


def _points(path: Path, handles, targets, **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"handles": handles, "targets": targets, **extra}))
    return path


def _run(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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


def test_center_end_to_end_then_the_cache(tmp_path, photo_file, points_file, tiny_checkpoint, fast_args, capsys):
    out = tmp_path / "result"
    args = ["--image", photo_file, "--points", points_file, "--checkpoint", tiny_checkpoint, "--align", "center",
            "--out", out, "--video", "gif", *fast_args]
    code, stdout, stderr = _run(args, capsys)
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
    points2 = _points(tmp_path / "inputs" / "points2.json", [[48, 32]], [[44, 28]])
    args2 = ["--image", photo_file, "--points", points2, "--checkpoint", tiny_checkpoint, "--align", "center",
             "--out", out, "--overwrite", *fast_args]
    code, stdout, stderr = _run(args2, capsys)
    assert code == 0, stderr
    report2 = _check_outputs(out, photo, 32)
    assert report2["cache_hit"] is True and report2["cache_key"] == report["cache_key"]
    assert "inversion from cache" in stdout
    assert np.array_equal(np.asarray(Image.open(out / "reconstruction.png")),
                          _reconstruction_of(latents))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "inputs", "result", "tiny_G.pt"]


def _reconstruction_of(latents) -> np.ndarray:
    from draggan import to_uint8_image

    with torch.no_grad():
        return to_uint8_image(latents["G"].synthesis(latents["pivot_ws"], noise_mode="const"))


def test_box_alignment_and_default_out_dir(tmp_path, photo_file, points_file, tiny_checkpoint, fast_args, capsys):
    code, _, stderr = _run(["--image", photo_file, "--points", points_file, "--checkpoint", tiny_checkpoint,
                            "--align", "box", "--box", "24,12,72,56", "--inversion", "w", "--no-cache", *fast_args],
                           capsys)
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
    points = _points(tmp_path / "p.json", handles, targets)
    out = tmp_path / "out"
    code, _, stderr = _run(["--image", photo_path, "--points", points, "--checkpoint", tiny_checkpoint,
                            "--align", "face", "--out", out, *fast_args], capsys)
    assert code == 0, stderr
    report = _check_outputs(out, photo, 32)
    assert report["alignment"]["mode"] == "face" and report["alignment"]["faces_found"] >= 1


# --- bad input: exit code 2 (3 for missing weights), one line on stderr, no output left behind -------------


def _bad_cases(tmp_path: Path, photo_file: Path, points_file: Path, tiny_checkpoint: Path):
    inputs = photo_file.parent
    not_an_image = inputs / "bad.png"
    not_an_image.write_text("this is not a PNG")
    flat = inputs / "flat.png"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(flat)
    small_mask = inputs / "small_mask.png"
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(small_mask)
    garbage_ckpt = inputs / "garbage.pt"
    garbage_ckpt.write_bytes(b"\x00not a checkpoint" * 10)
    malformed = inputs / "malformed.json"
    malformed.write_text('{\n  "handles": [[40, 30]],\n  "targets": [[44, 30]]\n  "mask": 1\n}')
    p = lambda name, h, t, **kw: _points(inputs / name, h, t, **kw)  # noqa: E731
    ck = ["--checkpoint", tiny_checkpoint, "--align", "center"]
    return {
        "missing image": (["--image", inputs / "nope.png", "--points", points_file, *ck], 2, "photo not found"),
        "unreadable image": (["--image", not_an_image, "--points", points_file, *ck], 2, "cannot read photo"),
        "malformed json": (["--image", photo_file, "--points", malformed, *ck], 2, "line 4, column 3"),
        "missing points file": (["--image", photo_file, "--points", inputs / "nope.json", *ck], 2,
                                "points file not found"),
        "unequal counts": (["--image", photo_file, "--points", p("u.json", [[40, 30], [50, 30]], [[44, 30]]), *ck],
                           2, "2 handles but 1 targets"),
        "outside the photo": (["--image", photo_file, "--points", p("o.json", [[40, 30]], [[140, 30]]), *ck], 2,
                              "target 0 at (140, 30) is outside the 96x64 photo"),
        "outside the crop": (["--image", photo_file, "--points", p("c.json", [[3, 30]], [[44, 30]]), *ck], 2,
                             "outside the aligned 32x32 crop"),
        "mask size mismatch": (["--image", photo_file,
                                "--points", p("m.json", [[40, 30]], [[44, 30]], mask="small_mask.png"), *ck], 2,
                               "is 10x10 but the photo is 96x64"),
        "no face found": (["--image", flat, "--points", p("f.json", [[60, 60]], [[64, 60]]),
                           "--checkpoint", tiny_checkpoint, "--align", "face"], 2, "no face found"),
        "unknown checkpoint name": (["--image", photo_file, "--points", points_file, "--checkpoint", "ffhq-9000",
                                     "--align", "center"], 2, "unknown checkpoint name 'ffhq-9000'"),
        "not a checkpoint": (["--image", photo_file, "--points", points_file, "--checkpoint", garbage_ckpt,
                              "--align", "center"], 2, "cannot load"),
        "box without --box": (["--image", photo_file, "--points", points_file, *ck[:2], "--align", "box"], 2,
                              "--align box needs --box"),
        "bad option value": (["--image", photo_file, "--points", points_file, *ck, "--inversion", "z"], 2,
                             "invalid choice"),
        "missing weights offline": (["--image", photo_file, "--points", points_file, "--checkpoint", "ffhq-256",
                                     "--checkpoints-dir", tmp_path / "empty", "--offline", "--align", "center"], 3,
                                    REGISTRY["ffhq-256"].url),
    }


CASES = ["missing image", "unreadable image", "malformed json", "missing points file", "unequal counts",
         "outside the photo", "outside the crop", "mask size mismatch", "no face found", "unknown checkpoint name",
         "not a checkpoint", "box without --box", "bad option value", "missing weights offline"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exit_codes(case, tmp_path, photo_file, points_file, tiny_checkpoint, fast_args, capsys):
    args, expected_code, message = _bad_cases(tmp_path, photo_file, points_file, tiny_checkpoint)[case]
    out = tmp_path / "out"
    code, stdout, stderr = _run([*args, "--out", out, *fast_args], capsys)
    assert code == expected_code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert message in lines[0]
    assert "Traceback" not in stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging leftovers


def test_lpips_backbone_missing_offline_is_exit_3(tmp_path, photo_file, points_file, tiny_checkpoint, capsys,
                                                  monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # an empty torchvision cache
    out = tmp_path / "out"
    code, _, stderr = _run(["--image", photo_file, "--points", points_file, "--checkpoint", tiny_checkpoint,
                            "--align", "center", "--lpips-net", "vgg", "--offline", "--out", out, "--quiet"], capsys)
    assert code == 3
    assert "LPIPS-vgg backbone" in stderr and "--lpips-backbone" in stderr
    assert not out.exists()


def test_existing_output_is_refused_and_kept(tmp_path, photo_file, points_file, tiny_checkpoint, fast_args, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, stderr = _run(["--image", photo_file, "--points", points_file, "--checkpoint", tiny_checkpoint,
                            "--align", "center", "--out", out, *fast_args], capsys)
    assert code == 2 and "--overwrite" in stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # The input folder itself is never a valid output folder, even with --overwrite.
    code, _, stderr = _run(["--image", photo_file, "--points", points_file, "--checkpoint", tiny_checkpoint,
                            "--align", "center", "--out", photo_file.parent, "--overwrite", *fast_args], capsys)
    assert code == 2 and "contains the input" in stderr
    assert photo_file.is_file()


def test_interrupt_leaves_nothing(tmp_path, photo_file, points_file, tiny_checkpoint, fast_args, capsys, monkeypatch):
    import pipeline.report

    real = pipeline.report.write_results

    def write_then_interrupt(result, folder, extra=None):
        real(result, folder, extra)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.report, "write_results", write_then_interrupt)
    out = tmp_path / "out"
    code, _, stderr = _run(["--image", photo_file, "--points", points_file, "--checkpoint", tiny_checkpoint,
                            "--align", "center", "--inversion", "w", "--no-cache", "--out", out, *fast_args], capsys)
    assert code == 130 and "interrupted" in stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_debug_prints_the_traceback(tmp_path, points_file, capsys):
    code, _, stderr = _run(["--image", tmp_path / "nope.png", "--points", points_file, "--debug"], capsys)
    assert code == 2 and "Traceback" in stderr and stderr.strip().splitlines()[-1].startswith("error: photo not found")


def test_subprocess_exit_codes(tmp_path, points_file):
    env_run = dict(cwd=REPO, capture_output=True, text=True, timeout=120)
    bad = subprocess.run([sys.executable, "run_pipeline.py", "--image", str(tmp_path / "nope.png"),
                          "--points", str(points_file)], **env_run)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: photo not found") and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_list_checkpoints(capsys):
    code, stdout, _ = _run(["--list-checkpoints"], capsys)
    assert code == 0
    for name in REGISTRY:
        assert name in stdout


def test_locality_flag_reaches_the_inversion_config():
    from pipeline.cli import build_parser, config_from_args

    on = config_from_args(build_parser().parse_args(["--image", "a.png", "--points", "p.json", "--locality"]))
    off = config_from_args(build_parser().parse_args(["--image", "a.png", "--points", "p.json"]))
    assert on.inversion.locality_regularization and not off.inversion.locality_regularization
