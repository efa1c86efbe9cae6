"""`python -m benchmarks.gpu_suite --device cpu --quick`: the GPU script's whole path, on tiny sizes."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import gpu_suite


def test_quick_suite_on_cpu_writes_a_table_and_json_with_every_measurement(tmp_path, capsys):
    assert gpu_suite.main(["--out", str(tmp_path), "--device", "cpu", "--quick"]) == 0
    data = json.loads((tmp_path / "gpu_suite.json").read_text())
    table = (tmp_path / "gpu_suite.md").read_text()
    assert data["quick"] is True and data["device"] == "cpu" and data["notes"] == []

    f = data["fp16_blocks"]
    assert f["finite"] and f["num_fp16_res"] == 2 and f["conv_clamp"] == 256
    # fp16 (or bf16) top blocks stay close to fp32: well under 1 % of the image's spread.
    assert 0 < f["rms_diff"] < 0.01 * f["image_std"] and f["max_abs_diff"] < 0.1

    settings = [(r["res"], r["dtype"], r["compile"]) for r in data["drag"]]
    # --quick leaves out the compiled drags (see the next tests).
    eager = [(res, dtype, "off") for res in (32, 64) for dtype in ("fp32", "bf16", "fp16-blocks")]
    assert settings == eager
    for r in data["drag"]:
        assert "error" not in r, r
        assert 0 < r["min_ms"] <= r["ms_per_step"] and r["steps"] == 2
        assert math.isfinite(r["peak_mib"]) and r["peak_mib"] > 50

    p = data["pti"]
    assert p["res"] == 32 and p["seconds"] > 0 and 5 < p["psnr_db"] < 100 and p["peak_mib"] > 50

    # The table shows each measurement's own numbers (not a fixed layout): one line per drag row with its
    # setting and ms/step, the fp16 and PTI figures, and nothing else.
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    drag_rows = [line for line in rows if line.startswith("| drag step |")]
    assert len(drag_rows) == len(data["drag"]) and len(rows) == len(data["drag"]) + 2
    for r, line in zip(data["drag"], drag_rows):
        assert f"{r['res']} px, {r['dtype']}, compile {r['compile']}" in line
        assert f"{r['ms_per_step']:.1f} ms/step (min {r['min_ms']:.1f})" in line
    assert f"max diff {f['max_abs_diff']:.4f}, RMS {f['rms_diff']:.5f}" in rows[0]
    assert rows[-1].startswith("| PTI inversion |") and f"PSNR {p['psnr_db']:.1f} dB" in rows[-1]
    assert table in capsys.readouterr().out


def test_fp16_measurement_compares_two_different_precisions(monkeypatch):
    # With the reduced-precision path replaced by plain fp32 the suite must report exactly no difference:
    # a suite that compared two different generators, or measured the wrong image, would not.
    import contextlib

    import stylegan.networks

    config = gpu_suite.SuiteConfig.quick()
    device = gpu_suite.resolve_device("cpu")
    real = gpu_suite.measure_fp16_blocks(config, device)
    monkeypatch.setattr(stylegan.networks, "reduced_precision", lambda G, dtype: contextlib.nullcontext())
    same = gpu_suite.measure_fp16_blocks(config, device)
    assert same["max_abs_diff"] == 0 and same["rms_diff"] == 0
    assert real["max_abs_diff"] > 0 and same["image_std"] == real["image_std"]


def test_budget_skips_every_stage_of_the_schedule_in_order():
    config = gpu_suite.SuiteConfig.quick(budget_s=1e-9, compile_resolutions=None)
    result = gpu_suite.run_suite(config, gpu_suite.resolve_device("cpu"), quick=True, log=lambda s: None)
    assert not result.fp16_blocks and not result.drag and not result.pti
    assert all(note.startswith("skipped ") for note in result.notes)
    skipped = [note.split(":")[0].removeprefix("skipped ") for note in result.notes]
    eager = [f"drag {res} px {d} compile=off" for res in config.drag_resolutions for d in gpu_suite.EAGER_DTYPES]
    compiled = [f"drag {res} px {d} compile=on" for res in config.drag_resolutions for d in config.compile_dtypes]
    # Each stage named once; torch.compile's drags, the least predictable, after PTI where the budget cuts first.
    assert gpu_suite.EAGER_DTYPES == ("fp32", "bf16", "fp16-blocks")
    assert skipped == ["fp16 blocks", "warm-up", *eager, "PTI", *compiled]


def test_a_failing_drag_setting_becomes_an_error_row(monkeypatch):
    def broken(G, backend):
        raise RuntimeError("backend not available\nmore lines")

    monkeypatch.setattr(gpu_suite, "_compiled", broken)
    row = gpu_suite.measure_drag(32, "fp32", True, gpu_suite.SuiteConfig.quick(), gpu_suite.resolve_device("cpu"))
    assert row["error"] == "RuntimeError: backend not available" and "ms_per_step" not in row
    assert "failed: RuntimeError" in gpu_suite.format_markdown(gpu_suite.SuiteResult("cpu", "x", True, drag=[row]))


def test_compiled_drag_uses_the_compiled_hot_path_and_restores_the_eager_function(monkeypatch):
    # torch.compile is replaced by a recording wrapper: dynamo's own tracing costs tens of seconds on a
    # small CPU, so the real compilation only runs in the GPU suite (where a failure is an error row).
    import torch

    import stylegan.local as local
    import stylegan.networks as networks

    compiled_calls, backends = [], []

    def fake_compile(fn, **kwargs):
        backends.append(kwargs["backend"])

        def wrapper(*args, **kw):
            compiled_calls.append(1)
            return fn(*args, **kw)

        return wrapper

    monkeypatch.setattr(torch, "compile", fake_compile)
    eager = networks.modulated_conv2d
    row = gpu_suite.measure_drag(32, "fp32", True, gpu_suite.SuiteConfig.quick(), gpu_suite.resolve_device("cpu"))
    assert "error" not in row and row["ms_per_step"] > 0 and backends == ["eager"]
    assert len(compiled_calls) > 10  # every layer of every step went through the compiled function
    assert local.modulated_conv2d is eager and networks.modulated_conv2d is eager  # restored


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert gpu_suite.main(["--out", str(tmp_path), "--device", "tpu", "--quick"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    from common.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="absent.pth"):
        gpu_suite.measure_pti(
            gpu_suite.SuiteConfig.quick(lpips_backbone=str(tmp_path / "absent.pth")), gpu_suite.resolve_device("cpu")
        )
    with pytest.raises(ValueError, match="budget_s"):
        gpu_suite.SuiteConfig(budget_s=0)


def test_fp32_rows_run_without_tf32_and_restore_the_setting(monkeypatch):
    import torch

    seen = []
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # restored below
    try:
        _check_fp32_rows(monkeypatch, torch, seen)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _check_fp32_rows(monkeypatch, torch, seen):
    real_measure = __import__("benchmarks.drag", fromlist=["measure"]).measure

    def recording(G, **kwargs):
        seen.append((kwargs["dtype"], torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return real_measure(G, **kwargs)

    monkeypatch.setattr("benchmarks.drag.measure", recording)
    config, cpu = gpu_suite.SuiteConfig.quick(), gpu_suite.resolve_device("cpu")
    for dtype in ("fp32", "bf16", "fp16-blocks"):
        assert "error" not in gpu_suite.measure_drag(32, dtype, False, config, cpu)
    # fp32 without TF32; the fp16-block generator drags without autocast; TF32 back on afterwards.
    assert seen == [("fp32", False, False), ("bf16", True, True), ("fp32", True, True)]
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert gpu_suite.backend_settings()["tf32_matmul"] is True


def test_the_recompile_limit_has_its_pre_2_7_name():
    from types import SimpleNamespace

    assert gpu_suite.dynamo_limit_name(SimpleNamespace(recompile_limit=8, cache_size_limit=8)) == "recompile_limit"
    assert gpu_suite.dynamo_limit_name(SimpleNamespace(cache_size_limit=8)) == "cache_size_limit"
