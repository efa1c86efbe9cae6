"""The benchmark script end to end on a tiny random generator, and its helpers."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import skimage.data
from PIL import Image

from evaluation import inversion_quality as bench

# Options of a seconds-long CPU run: 2 steps per stage, the random generator and LPIPS backbone.
FAST_RANDOM = [
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
    summary = bench.main([*args, *FAST_RANDOM, "--wplus-steps", "2", "--grid", "1"])
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
    with pytest.raises(SystemExit):
        bench.list_images(str(tmp_path / "nothing"))
    img = bench.load_image(image_dir / "a.png", 64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8


def test_bad_methods_are_rejected(image_dir):
    with pytest.raises(SystemExit):
        bench.parse_args(["--images", str(image_dir), "--methods", "w,z"])


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
    bench.main([*common, "--out", str(tmp_path / "one")])

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
