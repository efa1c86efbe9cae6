"""`draggan.bench`: the measurement runs (no timing assertions)."""

from draggan.bench import _row, measure


def test_measure_on_tiny_generator(tiny_G):
    row = measure(tiny_G, steps=2, warmup=1, dtype="fp32")
    assert row["res"] == 32 and row["steps"] == 2 and row["median_s"] > 0
    assert row["device"] == "cpu" and row["peak_mib"] > 0
    assert "fp32" in _row(row)
