"""`benchmarks.drag`: the per-step arithmetic against a known clock, and the row it prints."""

import math
from types import SimpleNamespace

import pytest

from benchmarks import drag as bench


@pytest.fixture
def fake_clock(monkeypatch):
    """benchmarks.drag's clock, advanced by known durations: step k takes durations[k] seconds."""
    durations = [0.5, 0.004, 0.001, 0.003, 0.002]  # a slow warm-up step, then 4, 1, 3, 2 ms
    ticks = iter([0.0, *[sum(durations[: k + 1]) for k in range(len(durations))]])
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    return durations


def test_measure_gives_median_and_fastest_of_the_timed_steps(tiny_G, fake_clock):
    row = bench.measure(tiny_G, steps=4, warmup=1, dtype="fp32")
    # The warm-up step (0.5 s) is not counted; the median of 4, 1, 3, 2 ms is 2.5 ms, the fastest 1 ms.
    assert row["steps"] == 4
    assert row["median_s"] == pytest.approx(0.0025) and row["min_s"] == pytest.approx(0.001)
    assert (row["res"], row["dtype"], row["device"]) == (32, "fp32", "cpu")
    # Peak RSS of this process during the drag: at least torch itself (> 50 MiB), at most the machine.
    assert math.isfinite(row["peak_mib"]) and 50 < row["peak_mib"] < 2**20 and "RSS" in row["mem_kind"]


def test_row_prints_the_measured_numbers():
    row = dict(
        res=256,
        dtype="bf16",
        device="cpu",
        median_s=0.1234,
        min_s=0.1,
        steps=5,
        peak_mib=900.4,
        mem_kind="peak RSS (process)",
        threads=2,
    )
    line = bench._row(row)
    assert line.split()[:4] == ["256", "bf16-autocast", "0.123", "0.100"]
    assert "123.4" in line and "900 MiB (peak RSS)" in line and line.endswith("cpu (2 threads)")


def test_every_step_of_the_run_is_a_drag_step(tiny_G, monkeypatch):
    steps = []
    real_drag = bench.drag

    def recording_drag(*args, callback, **kwargs):
        def record(step, handles, image):
            steps.append(step)
            return callback(step, handles, image)

        return real_drag(*args, callback=record, **kwargs)

    monkeypatch.setattr(bench, "drag", recording_drag)
    row = bench.measure(tiny_G, steps=3, warmup=2, dtype="fp32")
    # warm-up + timed steps, one callback each, no early stop (stop distance 0): the row counts the timed ones.
    assert len(steps) == 5 and steps == sorted(steps) and row["steps"] == 3
