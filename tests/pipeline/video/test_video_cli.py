"""`run_pipeline.py --image clip.mp4`: the same output whole, killed and rerun, and shared by two ranks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FAST = ["--checkpoint", "face-64", "--device", "cpu", "--no-cache", "--quiet", "--steps", "15", "--pti-steps", "8",
        "--drag-steps", "12", "--frame-steps", "3", "--shot-steps", "6"]  # fmt: skip


@pytest.fixture(scope="module")
def points_file(points, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("points") / "pts.json"
    payload = {"handles": points.handles_photo.tolist(), "targets": points.targets_photo.tolist()}
    path.write_text(json.dumps({**payload, "frame": points.frame}))
    return path


def _command(clip, points_file, out) -> list[str]:
    return [sys.executable, "run_pipeline.py", "--image", str(clip), "--points", str(points_file), "--out", str(out)]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def whole(clip, points_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "edit"
    done = subprocess.run(
        [*_command(clip, points_file, out), *FAST], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "the chosen face in 9, edited in 9" in done.stdout
    return out


def test_the_command_line_writes_the_clip_and_its_report(whole, clip):
    from pipeline.io.clip import probe_clip

    assert sorted(p.name for p in whole.iterdir()) == ["comparison.mp4", "edited.mp4", "keyframe", "report.json"]
    report = json.loads((whole / "report.json").read_text())
    assert report["inputs"]["keyframe"] == 2 and report["clip"]["frame_count"] == probe_clip(clip).frame_count
    assert report["summary"]["frames_with_face"] == 9 and report["summary"]["frames_changed"] == 9


def test_a_killed_run_resumes_to_the_same_clip(whole, clip, points_file, tmp_path):
    out = tmp_path / "edit"
    frames = tmp_path / f".{out.name}.video-work" / "frames"
    proc = subprocess.Popen(
        [*_command(clip, points_file, out), *FAST], cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while len(list(frames.glob("*.png"))) < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = len(list(frames.glob("*.png")))
    assert 4 <= finished < 12 and not out.exists()  # killed mid-clip: no output folder yet
    rerun = subprocess.run(
        [*_command(clip, points_file, out), *FAST], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert (out / "edited.mp4").read_bytes() == (whole / "edited.mp4").read_bytes()
    assert (out / "comparison.mp4").read_bytes() == (whole / "comparison.mp4").read_bytes()


def test_two_ranks_share_the_runs_and_write_the_same_clip(whole, clip, points_file, tmp_path, run_torchrun):
    out = tmp_path / "edit"
    args = ["pipeline.cli.main", "--image", clip, "--points", points_file, "--out", out, *FAST]
    done = run_torchrun(2, args, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "edited.mp4").read_bytes() == (whole / "edited.mp4").read_bytes()


def test_a_clip_is_a_batch_job(whole, clip, points, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    job = {"handles": points.handles_photo.tolist(), "targets": points.targets_photo.tolist(), "frame": points.frame}
    lines = [{"id": "clip", "image": str(clip), **job}, {"id": "late", "image": str(clip), **job, "frame": 12}]
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "batch"
    done = subprocess.run(
        [sys.executable, "run_pipeline.py", "--batch", str(jobs), "--out", str(out), *FAST],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr  # the bad line fails, the clip is edited
    assert "past the clip's last frame (11)" in done.stderr
    records = {r["id"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert records["clip"]["status"] == "ok" and records["clip"]["frames_with_face"] == 9
    assert (out / "clip" / "edited.mp4").read_bytes() == (whole / "edited.mp4").read_bytes()


@pytest.mark.parametrize(
    "frame, extra, message",
    [
        (7, [], 'no face found on the keyframe; choose another keyframe ("frame" in the points file)'),
        (2, ["--align", "center"], "a clip is edited on its tracked face: align mode 'center' applies to photos only"),
        (12, [], '"frame" 12 is past the clip\'s last frame (11)'),
    ],
)
def test_bad_clip_edits_fail_in_one_line_and_leave_nothing(clip, points, tmp_path, capsys, frame, extra, message):
    from pipeline.cli.main import main

    path = tmp_path / "pts.json"
    payload = {"handles": points.handles_photo.tolist(), "targets": points.targets_photo.tolist(), "frame": frame}
    path.write_text(json.dumps(payload))
    out = tmp_path / "edit"
    code = main(["--image", str(clip), "--points", str(path), "--out", str(out), *FAST, *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pts.json"]  # no output, no work folder
