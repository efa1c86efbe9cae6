"""The `python -m stylegan.generate` and `python -m benchmarks.generator` command lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stylegan import export_mmagic_state_dict, export_rosinality_checkpoint, save_generator
from stylegan.generate import main as generate_main
from stylegan.generate import parse_seeds, seed_to_z

REPO = Path(__file__).resolve().parents[2]


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,5,7-9") == [1, 5, 7, 8, 9]
    for bad in ("", "a", "3-1", "-2", "1,,2"):
        with pytest.raises(ValueError, match="seed"):
            parse_seeds(bad)


@pytest.mark.parametrize("fmt", ["native", "mmagic", "rosinality"])
def test_generate_writes_pngs_for_every_format(tiny_generator_factory, tmp_path, capsys, fmt):
    G = tiny_generator_factory(img_resolution=16)
    ckpt = tmp_path / "model.bin"  # the name says nothing about the format
    if fmt == "native":
        save_generator(G, ckpt)
    elif fmt == "mmagic":
        torch.save(export_mmagic_state_dict(G), ckpt)
    else:
        torch.save(export_rosinality_checkpoint(G), ckpt)
    out = tmp_path / "out"
    status = generate_main(
        [
            "--checkpoint",
            str(ckpt),
            "--seeds",
            "0-2",
            "--out",
            str(out),
            "--trunc",
            "0.7",
            "--device",
            "cpu",
            "--noise-mode",
            "none",
        ]
    )
    assert status == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == ["seed0000.png", "seed0001.png", "seed0002.png"]
    assert capsys.readouterr().out.split() == [str(f) for f in files]
    img = _read_png(files[1])
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    with torch.no_grad():
        expected = G(seed_to_z(1, G.z_dim), truncation_psi=0.7, noise_mode="none")
    expected = (expected[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    assert np.abs(img.astype(int) - expected.astype(int)).max() <= 1
    assert not np.array_equal(_read_png(files[0]), img)


def test_generate_conditional_needs_class(tiny_generator_factory, tmp_path, capsys):
    ckpt = save_generator(tiny_generator_factory(img_resolution=8, c_dim=3), tmp_path / "c.pt")
    args = ["--checkpoint", str(ckpt), "--seeds", "0", "--out", str(tmp_path / "o"), "--device", "cpu"]
    assert generate_main(args) == 2
    assert "class-idx" in capsys.readouterr().err
    assert generate_main(args + ["--class-idx", "2"]) == 0
    assert (tmp_path / "o" / "seed0000.png").exists()


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--seeds", "0", "--out", "o"], "--checkpoint"),
        (["--checkpoint", "{missing}", "--seeds", "0", "--out", "o"], "not found"),
        (["--checkpoint", "{garbage}", "--seeds", "0", "--out", "o"], "not a recognised checkpoint"),
        (["--checkpoint", "{garbage}", "--seeds", "x-y", "--out", "o"], "bad seed list"),
        (["--checkpoint", "{garbage}", "--seeds", "0", "--out", "o", "--noise-mode", "loud"], "noise-mode"),
        (["--checkpoint", "{garbage}", "--seeds", "0", "--out", "o", "--trunc", "lots"], "--trunc"),
    ],
)
def test_generate_bad_input_is_one_line_exit_2(tmp_path, capsys, args, fragment):
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"not a model")
    args = [a.format(missing=tmp_path / "nope.pkl", garbage=garbage) for a in args]
    assert generate_main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], captured.err
    assert "Traceback" not in captured.err


def test_generate_module_entry_point_in_subprocess(tmp_path):
    garbage = tmp_path / "g.pt"
    garbage.write_bytes(b"PK\x03\x04 truncated zip")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylegan.generate",
            "--checkpoint",
            str(garbage),
            "--seeds",
            "0-3",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert str(garbage) in proc.stderr


def test_bench_rows_hold_measured_values_and_the_table_prints_them(capsys):
    import math

    import torch

    from benchmarks.generator import format_table, run_bench
    from benchmarks.generator import main as bench_main

    results = run_bench(torch.device("cpu"), [16], repeats=2, channel_max=16, until_res=8)
    assert [(r.res, r.mode, r.batch) for r in results] == [(16, "full", 1), (16, "features<=8", 1)]
    for r in results:
        assert isinstance(r.time_ms, float) and 0 < r.time_ms < 60_000
        assert isinstance(r.peak_mib, float) and math.isfinite(r.peak_mib) and r.peak_mib >= -64  # delta, MiB
        assert "VmHWM" in r.mem_kind or "ru_maxrss" in r.mem_kind
    table = format_table(results, torch.device("cpu"), 16)
    for r in results:
        assert f"| {r.res} | {r.mode} | {r.batch} | {r.time_ms:.1f} | {r.peak_mib:.1f} | {r.mem_kind} |" in table
    assert (
        bench_main(["--device", "cpu", "--res", "16", "--repeats", "1", "--channel-max", "16", "--until-res", "8"]) == 0
    )
    assert "| 16 | features<=8 | 1 |" in capsys.readouterr().out
