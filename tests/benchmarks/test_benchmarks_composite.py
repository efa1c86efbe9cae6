"""`benchmarks.composite`: the table's arithmetic against a known clock, on a tiny generator."""

from types import SimpleNamespace

import pytest

from benchmarks import composite as bench


def test_measure_times_one_drag_and_a_composite_per_photo(tiny_G, monkeypatch):
    # The clock: the drag takes 8 s; the composites (3 timed calls each, after an untimed
    # warm-up) 0.4, 0.5, 0.3 s (median 0.4) and 0.2, 0.2, 0.9 s (median 0.2).
    ticks = iter([0.0, 8.0, 10.0, 10.4, 20.0, 20.5, 30.0, 30.3, 40.0, 40.2, 50.0, 50.2, 60.0, 60.9])
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    monkeypatch.setattr(bench, "_generator", lambda res, device: (tiny_G, "random"))
    rows = bench.measure([32], [(48, 40), (80, 60)], steps=3)
    assert [(r.res, r.generator, r.photo, r.steps, r.composite) for r in rows] == [
        (32, "random", (48, 40), 3, "warp"),  # stop distance 0: exactly the steps asked for
        (32, "random", (80, 60), 3, "warp"),
    ]
    assert [r.drag_s for r in rows] == [8.0, 8.0]  # one drag serves every photo size
    assert [r.composite_s for r in rows] == pytest.approx([0.4, 0.2])
    assert [r.ratio for r in rows] == pytest.approx([0.05, 0.025])


def test_the_drag_moves_the_handles_and_the_composite_changes_the_photo(tiny_G):
    seconds, reconstruction, result, handles = bench.time_drag(tiny_G, steps=4)
    assert seconds > 0 and result.steps == 4 and reconstruction.shape == (32, 32, 3)
    assert handles.shape == (2, 2) and result.image.shape == (32, 32, 3)
    assert (result.image != reconstruction).any()  # there is something to composite


def test_table_prints_the_known_ratio():
    rows = [
        bench.CompositeTiming(512, "random", (4000, 3000), 50, 20.0, 0.2, "warp"),
        bench.CompositeTiming(64, "face-64", (512, 512), 50, 1.0, 0.0, "warp"),
    ]
    table = bench.format_table(rows).splitlines()
    assert table[0].startswith("| generator | photo | drag steps | drag (s) | composite (s) | composite / drag |")
    assert table[2] == "| 512 px (random) | 4000x3000 (12.0 MP) | 50 | 20.00 | 0.200 (warp) | 1.0% |"
    assert table[3] == "| 64 px (face-64) | 512x512 (0.3 MP) | 50 | 1.00 | 0.000 (warp) | 0.0% |"
    assert bench.CompositeTiming(64, "face-64", (1, 1), 0, 0.0, 1.0, "warp").ratio == float("inf")
    assert bench._size("4000x3000") == (4000, 3000)
