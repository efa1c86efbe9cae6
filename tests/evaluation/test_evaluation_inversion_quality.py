"""The benchmark script end to end on tiny generators, and its helpers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from align import AlignConfig
from common.errors import EXIT_BAD_INPUT, EXIT_MISSING_WEIGHTS
from evaluation import inversion_quality as bench
from hub.registry import DEFAULT_CHECKPOINT
from pipeline import align_photo
from pipeline.config import PipelineConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Options of a seconds-long CPU run: 2 steps per stage, the random generator and LPIPS backbone.
FAST_RANDOM = [
    "--checkpoint",
    "random",
    "--device",
    "cpu",
    "--w-steps",
    "2",
    "--pti-steps",
    "2",
    "--w-avg-samples",
    "100",
    "--lpips-net",
    "squeeze",
    "--pti-lpips-net",
    "squeeze",
    "--metric-lpips-net",
    "squeeze",
    "--lpips-backbone",
    "random",
    "--random-resolution",
    "32",
    "--aligned",
]


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    face = skimage.data.astronaut()[0:256, 128:384]
    Image.fromarray(face).save(folder / "a.png")
    Image.fromarray(np.ascontiguousarray(face[:, ::-1])).save(folder / "b.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_bench_writes_tables_and_grid(image_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--images", str(image_dir), "--methods", "w,w+,pti", "--limit", "2", "--out", str(out)]
    summary = bench.benchmark([*args, *FAST_RANDOM, "--wplus-steps", "2", "--grid", "1"])
    assert [r["method"] for r in summary] == ["w", "w+", "pti"] and all(r["n"] == 2 for r in summary)
    for r in summary:  # measured values, in their ranges (random generator and backbone: no quality bar)
        assert 0 < r["psnr_mean"] < 100 and -1 <= r["ssim_mean"] <= 1 and r["lpips_mean"] >= 0
        assert 0 < r["seconds_mean"] < 600 and isinstance(r["peak_mib"], float) and 50 < r["peak_mib"] < 2**20
    printed = capsys.readouterr().out
    assert "| method | n | PSNR (dB) |" in printed and "| pti | 2 |" in printed
    with open(out / "results.csv") as f:
        assert [row["method"] for row in csv.DictReader(f)] == ["w", "w+", "pti"]
    with open(out / "per_image.csv") as f:
        per_image = list(csv.DictReader(f))
    assert len(per_image) == 6
    # Every measured value has its type and lies in its range: a broken metric or timer shows here.
    for row in per_image:
        psnr_db, ssim_v, mse_v, lpips_v = (float(row[k]) for k in ("psnr", "ssim", "mse", "lpips"))
        assert 0 < psnr_db < 100 and -1 <= ssim_v <= 1 and 0 < mse_v <= 1 and lpips_v >= 0
        assert psnr_db == pytest.approx(-10 * np.log10(mse_v), rel=1e-6)  # the two agree
        assert float(row["seconds"]) > 0 and (np.isnan(float(row["peak_mib"])) or float(row["peak_mib"]) > 0)
        id_v = float(row["id"])
        assert np.isnan(id_v) or -1 <= id_v <= 1
    for r in summary:
        mine = [float(row["psnr"]) for row in per_image if row["method"] == r["method"]]
        assert isinstance(r["psnr_mean"], float) and r["psnr_mean"] == pytest.approx(np.mean(mine))
        assert isinstance(r["id_n"], int) and 0 <= r["id_n"] <= r["n"]
        assert r["seconds_mean"] > 0 and r["seconds_std"] >= 0
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape == (24 + 32, 4 * 32, 3)  # Label row + one image row: target | w | w+ | pti.
    assert (out / "results.md").read_text().startswith("# Inversion benchmark")


def test_list_images_and_load_image(image_dir, tmp_path):
    assert [p.name for p in bench.list_images(str(image_dir))] == ["a.png", "b.jpg"]
    assert [p.name for p in bench.list_images(str(image_dir / "*.png"))] == ["a.png"]
    assert len(bench.list_images(str(image_dir), limit=1)) == 1
    (tmp_path / "names.txt").write_text("b.jpg\nmissing.png\n")
    assert [p.name for p in bench.list_images(str(image_dir), names=str(tmp_path / "names.txt"))] == ["b.jpg"]
    with pytest.raises(bench.InversionQualityError, match="no images found"):
        bench.list_images(str(tmp_path / "nothing"))
    img = bench.load_image(image_dir / "a.png", 64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8


def test_bad_methods_are_rejected(image_dir):
    with pytest.raises(SystemExit):
        bench.parse_args(["--images", str(image_dir), "--methods", "w,z"])


# Options of a seconds-long run of the default model (face-64, 64 px): one image, 2 W steps.
FAST_DEFAULT = ["--device", "cpu", "--methods", "w", "--w-steps", "2", "--w-avg-samples", "100", "--no-identity"]


def _grid_target(out, size):
    """The target column of grid.png's first image row (below the 24-px label row)."""
    return np.asarray(Image.open(out / "grid.png"))[24 : 24 + size, :size]


def test_default_model_is_the_packaged_face_model_with_its_own_settings(image_dir, tmp_path):
    assert bench.parse_args(["--images", "x"]).checkpoint == DEFAULT_CHECKPOINT == "face-64"
    out = tmp_path / "out"
    args = ["--images", str(image_dir / "a.png"), "--aligned", "--out", str(out), *FAST_DEFAULT]
    summary = bench.benchmark(args)  # no --checkpoint, no LPIPS option: offline, with the shipped nets
    assert [r["method"] for r in summary] == ["w"] and summary[0]["n"] == 1
    report = (out / "results.md").read_text()
    assert "generator: face-64" in report and "64 px" in report
    # The model's settings (config_for_model: small-model steps, LPIPS-squeeze) where no option was given ...
    for setting in ("'pti_steps': 150", "'lpips_net': 'squeeze'", "'pti_lpips_net': 'squeeze'"):
        assert setting in report
    assert "table LPIPS: squeeze" in report
    assert "'w_steps': 2" in report  # ... and the options given win.


def test_given_lpips_net_wins_over_the_models(tiny_G):
    args = bench.parse_args(["--images", "x", "--lpips-net", "vgg", "--w-steps", "7"])
    config = bench.pipeline_config_for(args, tiny_G)
    inv = config.inversion
    assert (inv.lpips_net, inv.w_steps) == ("vgg", 7)  # given
    assert (inv.pti_steps, inv.wplus_steps) == (150, 200)  # the small-model defaults of a 32-px generator
    assert config.align_mode == "face" and config.align == AlignConfig.from_preset("ffhq")  # no recorded framing
    assert bench.metric_lpips_net(args, tiny_G) == "squeeze"
    assert bench.metric_lpips_net(bench.parse_args(["--images", "x", "--metric-lpips-net", "alex"]), tiny_G) == "alex"


def test_photos_are_aligned_like_the_pipeline_unless_aligned(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = skimage.data.astronaut()  # 512 x 512, the face in the upper middle
    Image.fromarray(photo).save(photos / "a.png")
    Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(photos / "z_grey.png")  # no face
    common = ["--images", str(photos), "--grid", "2", *FAST_DEFAULT]

    bench.benchmark([*common, "--out", str(tmp_path / "fly")])
    # face-64 records the UTKFace framing: the crop is the pipeline's, with that preset.
    expected = align_photo(photo, 64, PipelineConfig(align=AlignConfig.from_preset("utkface"))).crop
    np.testing.assert_array_equal(_grid_target(tmp_path / "fly", 64), expected)
    assert "no face found in" in capsys.readouterr().err
    assert "1 without a detected face skipped" in (tmp_path / "fly" / "results.md").read_text()
    with open(tmp_path / "fly" / "per_image.csv") as f:
        assert [row["image"] for row in csv.DictReader(f)] == ["a.png"]

    bench.benchmark([*common, "--aligned", "--out", str(tmp_path / "crops")])
    as_crop = _grid_target(tmp_path / "crops", 64)
    np.testing.assert_array_equal(as_crop, bench.load_image(photos / "a.png", 64))  # the whole photo, resized
    assert np.abs(as_crop.astype(int) - expected.astype(int)).mean() > 10


def test_bad_input_ends_in_one_line_and_its_exit_code(tmp_path, image_dir, monkeypatch, capsys):
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path / "no_checkpoints"))
    base = ["--images", str(image_dir), "--out", str(tmp_path / "out"), *FAST_DEFAULT]
    assert bench.main([*base, "--checkpoint", "ffhq-512", "--offline"]) == EXIT_MISSING_WEIGHTS
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint 'ffhq-512'") and err.count("\n") == 1 and "Traceback" not in err
    assert bench.main([*base, "--checkpoint", "no-such-model"]) == EXIT_BAD_INPUT
    assert bench.main(["--images", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    grey = tmp_path / "grey"
    grey.mkdir()
    Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(grey / "g.png")
    assert bench.main(["--images", str(grey), "--out", str(tmp_path / "out"), *FAST_DEFAULT]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: no face found in any of the 1 images")


def test_command_line_offline_without_weights_prints_one_line(tmp_path, image_dir):
    # The command: a registered model that must be downloaded, offline.
    env = {**os.environ, "PYTHONPATH": REPO, "DRAGGAN_OFFLINE": "1", "DRAGGAN_CHECKPOINTS": str(tmp_path / "none")}
    cmd = [sys.executable, "-m", "evaluation.inversion_quality", "--images", str(image_dir), "--methods", "w,pti"]
    done = subprocess.run(
        [*cmd, "--checkpoint", "ffhq-512", "--out", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_MISSING_WEIGHTS, done.stderr[-2000:]
    assert done.stderr.startswith("error: checkpoint 'ffhq-512' is not in") and done.stderr.count("\n") == 1


def test_random_generator_outputs_stay_in_range():
    import torch

    G = bench.random_generator(resolution=32, w_dim=32, channel_max=32)
    with torch.no_grad():
        img = G(torch.randn([16, G.z_dim], generator=torch.Generator().manual_seed(1)))
    assert 0.3 < float(img.std()) < 0.7


@pytest.mark.slow
def test_torchrun_two_ranks_write_the_single_process_table(image_dir, tmp_path, run_torchrun):
    Image.fromarray(skimage.data.astronaut()[0:200, 160:360]).save(image_dir / "c.png")
    common = ["--images", str(image_dir), "--methods", "w,pti", "--limit", "3", "--grid", "3", "--no-identity"]
    common += FAST_RANDOM
    done = run_torchrun(2, ["evaluation.inversion_quality", *common, "--out", str(tmp_path / "two")])
    assert done.returncode == 0, done.stderr[-3000:]
    bench.benchmark([*common, "--out", str(tmp_path / "one")])

    def table(folder, name, drop):
        with open(folder / name) as f:
            return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]

    timing = {"seconds", "seconds_mean", "seconds_std", "peak_mib"}
    assert table(tmp_path / "two", "results.csv", timing) == table(tmp_path / "one", "results.csv", timing)
    per_image = table(tmp_path / "two", "per_image.csv", timing)
    assert [r["image"] for r in per_image] == ["a.png", "a.png", "b.jpg", "b.jpg", "c.png", "c.png"]
    assert per_image == table(tmp_path / "one", "per_image.csv", timing)
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "two" / "grid.png")), np.asarray(Image.open(tmp_path / "one" / "grid.png"))
    )
