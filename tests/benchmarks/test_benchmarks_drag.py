"""`benchmarks.drag`: the measured row's fields, types and ranges (no timing assertions)."""

import math

from benchmarks.drag import _row, measure


def test_measure_on_tiny_generator_returns_a_consistent_row(tiny_G):
    row = measure(tiny_G, steps=3, warmup=1, dtype="fp32")
    assert (row["res"], row["steps"], row["dtype"], row["device"]) == (32, 3, "fp32", "cpu")
    assert isinstance(row["median_s"], float) and isinstance(row["min_s"], float)
    assert 0 < row["min_s"] <= row["median_s"] < 60
    # Peak RSS of this process during the drag: at least torch itself (> 50 MiB), at most the machine.
    assert isinstance(row["peak_mib"], float) and math.isfinite(row["peak_mib"]) and 50 < row["peak_mib"] < 2**20
    assert "RSS" in row["mem_kind"] and row["threads"] >= 1
    line = _row(row)
    assert line.split()[:2] == ["32", "fp32"] and f"{row['median_s'] * 1e3:.1f}" in line
    assert f"{row['peak_mib']:.0f} MiB (peak RSS)" in line


def test_bf16_row_is_labelled_as_autocast(tiny_G):
    row = measure(tiny_G, steps=1, warmup=0, dtype="bf16")
    assert row["dtype"] == "bf16" and "bf16-autocast" in _row(row)
