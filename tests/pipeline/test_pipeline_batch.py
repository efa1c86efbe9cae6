"""Batch mode: jobs files with good and bad lines, single-mode equality, resume, retry, kill, torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from common.errors import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK
from pipeline.batch import RESULTS, read_results
from pipeline.cli.main import main
from pipeline.io.report import load_latents

REPO = Path(__file__).resolve().parents[2]


def _write_jobs(folder: Path, lines: list) -> Path:
    """Two 96x64 photos (p0.png, p1.png; centre crop x 16..79) and a jobs file of `lines`."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        ys, xs = np.mgrid[0:64, 0:96]
        img = np.stack([xs * 2.5, ys * 3.5, 128 + 100 * np.sin(xs / (5 + seed) + ys / 7)], axis=2)
        Image.fromarray((img + rng.uniform(0, 20, img.shape)).clip(0, 255).astype(np.uint8)).save(
            folder / f"p{seed}.png"
        )
    path = folder / "jobs.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


GOOD = [
    {"id": "a", "image": "p0.png", "handles": [[40, 30]], "targets": [[44, 30]]},
    {"image": "p1.png", "pairs": [{"handle": [50, 32], "target": [46, 30]}, {"handle": [36, 40], "target": [38, 44]}]},
]
BAD = [
    "{not json",  # line 3
    {"id": "c", "image": "missing.png", "handles": [[40, 30]], "targets": [[44, 30]]},  # line 4
    {"id": "d", "image": "p0.png", "handles": [[500, 30]], "targets": [[44, 30]]},  # line 5
    {"id": "e", "image": "p0.png", "handles": [[40, 30]], "targets": [[44, 30]], "zoom": 2},  # line 6
]
# Inside the 96x64 photo but outside its centre crop (x 16..79): fails when the job runs.
FAILS = {"id": "f", "image": "p0.png", "handles": [[5, 30]], "targets": [[44, 30]]}


def _batch(tmp_path, jobs: Path, out: Path, tiny_checkpoint, fast_args, *more) -> list[str]:
    return [
        "--batch",
        str(jobs),
        "--out",
        str(out),
        "--checkpoint",
        str(tiny_checkpoint),
        "--align",
        "center",
        "--no-cache",
        *fast_args,
        *map(str, more),
    ]


def _lines(out: Path) -> list[dict]:
    return [json.loads(t) for t in (out / RESULTS).read_text().splitlines()]


def _assert_same_folder(a: Path, b: Path) -> None:
    """Same files, same pixels, same latents (report.json differs only in times and paths)."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name.endswith(".png"):
            np.testing.assert_array_equal(np.asarray(Image.open(a / name)), np.asarray(Image.open(b / name)), name)
    la, lb = load_latents(a / "latents.pt"), load_latents(b / "latents.pt")
    for key in ("pivot_ws", "edited_ws", "final_handles_crop"):
        assert torch.equal(la[key], lb[key]), key


def test_batch_equals_single_mode_and_reports_bad_lines(tmp_path, tiny_checkpoint, fast_args, capsys):
    jobs = _write_jobs(tmp_path / "in", [*GOOD, *BAD, FAILS])
    out = tmp_path / "out"
    code = main(_batch(tmp_path, jobs, out, tiny_checkpoint, fast_args))
    err = capsys.readouterr().err
    assert code == EXIT_JOBS_FAILED
    for line, words in ((3, "not valid JSON"), (4, "image not found"), (5, "outside"), (6, "unknown key")):
        assert f"jobs.jsonl line {line}: " in err and words in err.split(f"line {line}: ")[1].splitlines()[0]
    assert "error: job f (line 7) failed: PointsError" in err
    assert "NumPy array is not writable" not in err

    records = {r["id"]: r for r in _lines(out)}
    assert len(_lines(out)) == len(records) == 7  # one line per job, bad lines included
    assert {i: r["status"] for i, r in records.items()} == {
        "a": "ok",
        "2": "ok",
        "line3": "error",
        "line4": "error",
        "line5": "error",
        "line6": "error",
        "f": "error",
    }
    assert records["f"]["error"] == "PointsError" and "outside the aligned" in records["f"]["message"]
    assert {"invert", "drag", "paste", "write"} <= set(records["a"]["seconds"])
    assert len(records["2"]["final_distances_photo"]) == 2 and isinstance(records["a"]["converged"], bool)
    assert sorted(p.name for p in out.iterdir()) == ["2", "a", RESULTS]  # failed jobs leave no folder

    # The same settings in single mode give the same files and pixels.
    for job_id, spec in (("a", GOOD[0]), ("2", GOOD[1])):
        pts = tmp_path / "in" / f"{job_id}.json"
        if "pairs" in spec:
            pts.write_text(json.dumps(spec["pairs"]))
        else:
            pts.write_text(json.dumps({"handles": spec["handles"], "targets": spec["targets"]}))
        single = tmp_path / f"single_{job_id}"
        assert (
            main(
                [
                    "--image",
                    str(tmp_path / "in" / spec["image"]),
                    "--points",
                    str(pts),
                    "--out",
                    str(single),
                    "--checkpoint",
                    str(tiny_checkpoint),
                    "--align",
                    "center",
                    "--no-cache",
                    *fast_args,
                ]
            )
            == 0
        )
        _assert_same_folder(out / job_id, single)

    # Rerun: nothing is recomputed (ok jobs stay, the failed one is skipped) ...
    before = {p.name: (p / "report.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    assert main(_batch(tmp_path, jobs, out, tiny_checkpoint, fast_args)) == EXIT_JOBS_FAILED
    again = {r["id"]: r for r in _lines(out)}
    assert again["a"] == records["a"] and again["2"] == records["2"] and again["f"] == records["f"]
    assert {p.name: (p / "report.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()} == before
    # ... and --retry-failed runs the failed job once more.
    assert main(_batch(tmp_path, jobs, out, tiny_checkpoint, fast_args, "--retry-failed")) == EXIT_JOBS_FAILED
    retried = {r["id"]: r for r in _lines(out)}
    assert retried["f"]["attempts"] == 2 and retried["a"]["attempts"] == 1 and len(_lines(out)) == 7


def test_strict_stops_before_any_work(tmp_path, tiny_checkpoint, fast_args, capsys):
    jobs = _write_jobs(tmp_path / "in", [*GOOD, BAD[1]])
    out = tmp_path / "out"
    code = main(_batch(tmp_path, jobs, out, tiny_checkpoint, fast_args, "--strict"))
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "jobs.jsonl line 3: image not found" in err and "nothing was computed" in err
    assert not out.exists() or not any(out.iterdir())


def test_batch_usage_errors(tmp_path, tiny_checkpoint, fast_args, capsys):
    jobs = _write_jobs(tmp_path / "in", GOOD)
    assert main(["--batch", str(jobs), *fast_args]) == EXIT_BAD_INPUT
    assert "--batch needs --out" in capsys.readouterr().err
    assert main(["--batch", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o"), *fast_args]) == EXIT_BAD_INPUT
    assert "jobs file not found" in capsys.readouterr().err
    # Duplicate ids: the second is a bad line.
    dup = _write_jobs(tmp_path / "dup", [GOOD[0], GOOD[0]])
    from pipeline.config import PipelineConfig
    from pipeline.io.jobs import read_jobs

    good, bad = read_jobs(dup, PipelineConfig(align_mode="center"), str(tiny_checkpoint))
    assert [j.id for j in good] == ["a"] and bad[0].line == 2 and "already used on line 1" in str(bad[0].error)


def test_a_job_folder_that_cannot_be_replaced_fails_that_job_before_its_edit(
    tmp_path, tiny_checkpoint, fast_args, capsys, monkeypatch
):
    from pipeline_testutils import refuse_to_move

    import pipeline.stages

    real_invert, inverted = pipeline.stages.invert, []

    def counting_invert(*args, **kwargs):
        inverted.append(1)
        return real_invert(*args, **kwargs)

    monkeypatch.setattr(pipeline.stages, "invert", counting_invert)
    jobs = _write_jobs(tmp_path / "in", GOOD)
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)  # e.g. left empty by hand, and root-owned / in a sticky folder
    refuse_to_move(monkeypatch, out / "a")
    assert main(_batch(tmp_path, jobs, out, tiny_checkpoint, fast_args)) == EXIT_JOBS_FAILED
    err = capsys.readouterr().err
    records = {r["id"]: r for r in _lines(out)}
    assert records["a"]["status"] == "error" and records["a"]["error"] == "OutputError"
    assert records["a"]["message"] == (
        f"job folder {str(out / 'a')!r}: the existing folder cannot be replaced with the results, operation not "
        "permitted; make it and its parent folder writable, or remove it"
    )
    assert f"error: job a (line 1) failed: OutputError: {records['a']['message']}" in err
    assert [r["status"] for i, r in records.items() if i != "a"] == ["ok"]
    assert len(inverted) == 1  # only the other job was edited
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no hidden .a.* folder
    assert list((out / "a").iterdir()) == []


def test_a_batch_out_that_cannot_be_written_fails_before_any_work(
    tmp_path, tiny_checkpoint, fast_args, capsys, monkeypatch
):
    import errno

    import common.paths

    out = tmp_path / "out"
    out.mkdir()
    real_mkstemp = common.paths.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if Path(dir) == out:  # root may write anywhere: the refusal is simulated where the probe is made
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(common.paths.tempfile, "mkstemp", refuse)
    jobs = _write_jobs(tmp_path / "in", GOOD)
    assert main(_batch(tmp_path, jobs, out, tiny_checkpoint, fast_args)) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        f"error: the results file {str(out / RESULTS)!r}: cannot write there, permission denied; "
        "choose another --out folder\n"
    )
    assert list(out.iterdir()) == []


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _slow_jobs(tmp_path) -> Path:
    lines = [
        {"id": f"j{i}", "image": f"p{i % 2}.png", "handles": [[40 + i, 30]], "targets": [[44, 32]]} for i in range(4)
    ]
    return _write_jobs(tmp_path / "in", lines)


@pytest.mark.slow
def test_killed_batch_resumes_without_recomputing(tmp_path, tiny_checkpoint, fast_args):
    jobs = _slow_jobs(tmp_path)
    # 20 drag steps: each job lasts long enough for the kill to land between jobs.
    args = [
        sys.executable,
        str(REPO / "run_pipeline.py"),
        *_batch(tmp_path, jobs, tmp_path / "killed", tiny_checkpoint, fast_args, "--drag-steps", "20"),
    ]
    proc = subprocess.Popen(args, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = tmp_path / "killed" / RESULTS
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.is_file() and results.read_text().count("\n") >= 1:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    first = _lines(tmp_path / "killed")
    assert 1 <= len(first) < 4 and first[0]["status"] == "ok"
    # Only complete job folders exist (staging folders are hidden and removed on the rerun).
    for folder in (tmp_path / "killed").iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            assert (folder / "report.json").is_file() and (folder / "latents.pt").is_file()

    assert subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, timeout=300).returncode == EXIT_OK
    final = {r["id"]: r for r in _lines(tmp_path / "killed")}
    assert sorted(final) == ["j0", "j1", "j2", "j3"] and all(r["attempts"] == 1 for r in final.values())
    for record in first:  # finished before the kill: not run again
        assert final[record["id"]] == record
    assert not [p for p in (tmp_path / "killed").iterdir() if p.name.endswith(".partial")]

    whole = tmp_path / "whole"
    assert main(_batch(tmp_path, jobs, whole, tiny_checkpoint, fast_args, "--drag-steps", "20")) == EXIT_OK
    for job_id in final:
        _assert_same_folder(tmp_path / "killed" / job_id, whole / job_id)


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_batch_killed_mid_swap_keeps_the_job_folder(tmp_path, tiny_checkpoint, fast_args):
    """A kill between the two renames of a job folder's swap (`staged_output_dir`) loses nothing.

    The on-disk state such a kill leaves: the previous results moved aside into
    `.<id>.<pid>.<random>.old/old`, the new ones half-written in `.<id>.<pid>.<random>.partial`,
    no `<id>/`, and process <pid> gone. The rerun puts the previous results back (they were 'ok',
    so the job is not run again), removes the dead run's staging, leaves a live run's alone, and
    finishes.
    """
    jobs = _write_jobs(tmp_path / "in", GOOD)
    out = tmp_path / "out"
    argv = _batch(tmp_path, jobs, out, tiny_checkpoint, fast_args)
    assert main(argv) == EXIT_OK
    before = {p.name: p.read_bytes() for p in (out / "a").iterdir()}
    records = _lines(out)

    dead = _dead_pid()
    moved_aside = out / f".a.{dead}.k3j2x9q1.old"
    moved_aside.mkdir()
    os.replace(out / "a", moved_aside / "old")
    half_written = out / f".a.{dead}.p0w8e7r6.partial"
    half_written.mkdir()
    (half_written / "edited.png").write_bytes(b"half a png")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = out / f".2.{live.pid}.z5y4x3w2.partial"  # another run, still writing job 2
        running.mkdir()
        assert main(argv) == EXIT_OK
        assert running.is_dir()
    finally:
        live.kill()
        live.wait()
    assert {p.name: p.read_bytes() for p in (out / "a").iterdir()} == before  # restored, not recomputed
    assert _lines(out) == records
    assert not moved_aside.exists() and not half_written.exists()


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(tmp_path, tiny_checkpoint, fast_args, run_torchrun):
    jobs = _slow_jobs(tmp_path)
    argv = _batch(tmp_path, jobs, tmp_path / "two", tiny_checkpoint, fast_args)
    done = run_torchrun(2, ["pipeline.cli.batch", *argv])
    assert done.returncode == 0, done.stderr[-3000:]
    records = _lines(tmp_path / "two")
    assert sorted(r["id"] for r in records) == ["j0", "j1", "j2", "j3"]  # every job exactly once
    assert {r["rank"] for r in records} == {0, 1} and all(r["attempts"] == 1 for r in records)
    assert not list((tmp_path / "two").glob("results.rank*.jsonl"))  # merged by rank 0

    assert main(_batch(tmp_path, jobs, tmp_path / "one", tiny_checkpoint, fast_args)) == EXIT_OK
    for record in records:
        _assert_same_folder(tmp_path / "two" / record["id"], tmp_path / "one" / record["id"])


def test_results_reader_ignores_a_line_cut_by_a_kill(tmp_path):
    (tmp_path / RESULTS).write_text(json.dumps({"id": "a", "status": "ok"}) + "\n" + '{"id": "b", "sta')
    assert list(read_results(tmp_path)) == ["a"]
