"""Bad input and faults on the command line, table-driven: exit code, one `error:` line, nothing left behind.

Every row runs `pipeline.cli.main.main` in-process and checks: the exit code (2 bad input, 3 missing
weights), exactly one stderr line starting with `error: ` that contains the expected words, no
traceback, no output folder and no hidden staging folder (`.out.*`), and no parent folder created.
Interrupts are tested on real subprocesses with SIGINT at several moments, imports included.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_testutils import refuse_to_move, run_cli, write_points

from hub.registry import REGISTRY
from pipeline.io.points import MAX_POINTS, MAX_POINTS_FILE_BYTES

REPO = Path(__file__).resolve().parents[2]
LONG = "x" * 300  # longer than the 255 bytes a file name may have on ext4, APFS, NTFS


def _unreadable_file(folder: Path) -> Path | None:
    """A file this process may not read: chmod 000, or as root (which bypasses it) a write-only sysctl."""
    if os.geteuid() != 0:
        path = folder / "secret.png"
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
        path.chmod(0)
        return path
    sysctl = Path("/proc/sys/vm/compact_memory")
    try:
        sysctl.open("rb").close()
    except PermissionError:
        return sysctl
    except OSError:
        pass
    return None


def _bad_cases(tmp_path: Path, photo_file: Path, points_file: Path, tiny_checkpoint: Path) -> dict:
    inputs = photo_file.parent
    not_an_image = inputs / "bad.png"
    not_an_image.write_text("this is not a PNG")
    flat = inputs / "flat.png"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(flat)
    small_mask = inputs / "small_mask.png"
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(small_mask)
    garbage_ckpt = inputs / "garbage.pt"
    garbage_ckpt.write_bytes(b"\x00not a checkpoint" * 10)
    malformed = inputs / "malformed.json"
    malformed.write_text('{\n  "handles": [[40, 30]],\n  "targets": [[44, 30]]\n  "mask": 1\n}')
    deep = inputs / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)  # the decoder recurses once per level
    huge = inputs / "huge.json"
    huge.write_text(" " * (MAX_POINTS_FILE_BYTES + 1) + "[]")
    big_int = inputs / "big_int.json"
    big_int.write_text('{"handles": [[' + "9" * 5000 + ', 1]], "targets": [[1, 1]]}')
    a_file = inputs / "a_file.txt"
    a_file.write_text("x")
    p = lambda name, h, t, **kw: write_points(inputs / name, h, t, **kw)  # noqa: E731
    many = [[40, 30]] * (MAX_POINTS + 1)
    ck = ["--checkpoint", tiny_checkpoint, "--align", "center"]
    ok = ["--image", photo_file, "--points", points_file]
    cases = {
        # --- the photo ---
        "missing image": (["--image", inputs / "nope.png", "--points", points_file, *ck], 2, "photo not found"),
        "not an image": (["--image", not_an_image, "--points", points_file, *ck], 2, "not an image"),
        "image name too long": (["--image", inputs / (LONG + ".png"), "--points", points_file, *ck], 2, "photo '"),
        "image is a folder": (["--image", inputs, "--points", points_file, *ck], 2, "folder, not a file"),
        "image path through a file": (
            ["--image", a_file / "photo.png", "--points", points_file, *ck],
            2,
            "is a file, not a folder",
        ),
        "image empty path": (["--image", "", "--points", points_file, *ck], 2, "--image and --points are required"),
        # --- the points file ---
        "malformed json": (["--image", photo_file, "--points", malformed, *ck], 2, "line 4, column 3"),
        "missing points file": (
            ["--image", photo_file, "--points", inputs / "nope.json", *ck],
            2,
            "points file not found",
        ),
        "points name too long": (
            ["--image", photo_file, "--points", inputs / (LONG + ".json"), *ck],
            2,
            "name is too long",
        ),
        "points is a folder": (["--image", photo_file, "--points", inputs, *ck], 2, "folder, not a file"),
        "deeply nested json": (["--image", photo_file, "--points", deep, *ck], 2, "nested too deeply"),
        "huge points file": (["--image", photo_file, "--points", huge, *ck], 2, "more than the limit"),
        "too many points": (
            ["--image", photo_file, "--points", p("many.json", many, many), *ck],
            2,
            f"more than the limit of {MAX_POINTS}",
        ),
        "integer too long": (["--image", photo_file, "--points", big_int, *ck], 2, "not valid points JSON"),
        "unequal counts": (
            ["--image", photo_file, "--points", p("u.json", [[40, 30], [50, 30]], [[44, 30]]), *ck],
            2,
            "2 handles but 1 targets",
        ),
        "outside the photo": (
            ["--image", photo_file, "--points", p("o.json", [[40, 30]], [[140, 30]]), *ck],
            2,
            "target 0 at (140, 30) is outside the 96x64 photo",
        ),
        "outside the crop": (
            ["--image", photo_file, "--points", p("c.json", [[3, 30]], [[44, 30]]), *ck],
            2,
            "outside the aligned 32x32 crop",
        ),
        # --- the mask ---
        "mask size mismatch": (
            ["--image", photo_file, "--points", p("m.json", [[40, 30]], [[44, 30]], mask="small_mask.png"), *ck],
            2,
            "is 10x10 but the photo is 96x64",
        ),
        "mask is a folder": ([*ok, "--mask", inputs, *ck], 2, "mask"),
        "mask name too long": ([*ok, "--mask", inputs / (LONG + ".png"), *ck], 2, "name is too long"),
        "mask not an image": ([*ok, "--mask", not_an_image, *ck], 2, "mask"),
        # --- the checkpoint ---
        "unknown checkpoint name": (
            [*ok, "--checkpoint", "ffhq-9000", "--align", "center"],
            2,
            "unknown checkpoint name 'ffhq-9000'",
        ),
        "not a checkpoint": ([*ok, "--checkpoint", garbage_ckpt, "--align", "center"], 2, "cannot load"),
        "checkpoint name too long": (
            [*ok, "--checkpoint", inputs / (LONG + ".pt"), "--align", "center"],
            2,
            "name is too long",
        ),
        "checkpoint is a folder": ([*ok, "--checkpoint", inputs, "--align", "center"], 2, "folder, not a file"),
        "missing weights offline": (
            [
                *ok,
                "--checkpoint",
                "ffhq-256",
                "--checkpoints-dir",
                tmp_path / "empty",
                "--offline",
                "--align",
                "center",
            ],
            3,
            REGISTRY["ffhq-256"].url,
        ),
        # --- the output ---
        "out name too long": ([*ok, *ck, "--out", tmp_path / LONG], 2, "--out"),
        "out below a file": ([*ok, *ck, "--out", a_file / "sub" / "out"], 2, "--out"),
        "out is a file": ([*ok, *ck, "--out", a_file], 2, "is a file, not a folder"),
        "cache dir name too long": ([*ok, *ck, "--cache-dir", tmp_path / LONG], 2, "--cache-dir"),
        "lpips backbone name too long": ([*ok, *ck, "--lpips-backbone", tmp_path / LONG], 2, "LPIPS backbone"),
        # --- options ---
        "no face found": (
            [
                "--image",
                flat,
                "--points",
                p("f.json", [[60, 60]], [[64, 60]]),
                "--checkpoint",
                tiny_checkpoint,
                "--align",
                "face",
            ],
            2,
            "no face found",
        ),
        "box without --box": ([*ok, *ck[:2], "--align", "box"], 2, "--align box needs --box"),
        "bad option value": ([*ok, *ck, "--inversion", "z"], 2, "invalid choice"),
    }
    unreadable = _unreadable_file(inputs)
    if unreadable is not None:
        cases["image permission denied"] = (
            ["--image", unreadable, "--points", points_file, *ck],
            2,
            "permission denied",
        )
    return cases


CASES = [
    "missing image",
    "not an image",
    "image name too long",
    "image is a folder",
    "image path through a file",
    "image empty path",
    "malformed json",
    "missing points file",
    "points name too long",
    "points is a folder",
    "deeply nested json",
    "huge points file",
    "too many points",
    "integer too long",
    "unequal counts",
    "outside the photo",
    "outside the crop",
    "mask size mismatch",
    "mask is a folder",
    "mask name too long",
    "mask not an image",
    "unknown checkpoint name",
    "not a checkpoint",
    "checkpoint name too long",
    "checkpoint is a folder",
    "missing weights offline",
    "out name too long",
    "out below a file",
    "out is a file",
    "cache dir name too long",
    "lpips backbone name too long",
    "no face found",
    "box without --box",
    "bad option value",
    "image permission denied",
]


def _leftovers(folder: Path, before: set[str]) -> list[str]:
    # The inversion cache (fast_args: tmp_path/cache) is a store that outlives runs, not output.
    return sorted(set(os.listdir(folder)) - before - {"cache"})


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exit_codes(case, tmp_path, photo_file, points_file, tiny_checkpoint, fast_args, capsys):
    cases = _bad_cases(tmp_path, photo_file, points_file, tiny_checkpoint)
    if case not in cases:
        pytest.skip("no file this process cannot read (root without /proc/sys/vm/compact_memory)")
    args, expected_code, message = cases[case]
    out_given = "--out" in [str(a) for a in args]
    out = tmp_path / "out"
    before = {name: set(os.listdir(name)) for name in (tmp_path, photo_file.parent)}
    code, stdout, stderr = run_cli([*fast_args, *args, *([] if out_given else ["--out", out])], capsys)  # args win
    assert code == expected_code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in stderr and "[Errno" not in stderr  # the OS problem in words, not raw
    assert len(lines[0]) < 700  # a 300-character name is shortened, not echoed whole
    for folder, names in before.items():  # no output, no staging folder, no parent created
        assert _leftovers(folder, names) == [], case


def test_unwritable_output_fails_before_any_work(tmp_path, center_args, capsys, monkeypatch):
    # Root may write anywhere, so the file system's refusal is simulated where the probe is made.
    import common.paths

    locked = tmp_path / "locked"
    locked.mkdir()
    real_mkstemp = common.paths.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if Path(dir) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(locked))
        return real_mkstemp(*args, dir=dir, **kwargs)

    import hub.registry

    def never(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded although the output cannot be written")

    monkeypatch.setattr(common.paths.tempfile, "mkstemp", refuse)
    monkeypatch.setattr(hub.registry, "load_checkpoint", never)
    code, _, stderr = run_cli(
        [*center_args, "--out", locked / "a" / "b"],
        capsys,
    )
    assert code == 2, stderr
    assert (
        stderr.strip() == f"error: --out {str(locked / 'a' / 'b')!r}: cannot write there, permission denied; "
        "choose another --out folder"
    )
    assert list(locked.iterdir()) == []


def test_an_output_folder_that_cannot_be_replaced_fails_before_any_work(tmp_path, center_args, capsys, monkeypatch):
    # An existing empty --out that cannot be renamed (chmod 555 for a user, a sticky or read-only
    # parent): the swap at the end would fail. Root may rename anything, so the refusal is simulated.
    import hub.registry
    import pipeline.stages

    def never(*args, **kwargs):
        raise AssertionError("work started although the output folder cannot be replaced")

    monkeypatch.setattr(hub.registry, "load_checkpoint", never)
    monkeypatch.setattr(pipeline.stages, "invert", never)
    out = tmp_path / "locked"
    out.mkdir()
    before = set(os.listdir(tmp_path))
    refused = refuse_to_move(monkeypatch, out)
    code, stdout, stderr = run_cli([*center_args, "--out", out], capsys)
    assert code == 2, stderr
    assert refused and stdout == ""
    assert stderr.count("\n") == 1 and stderr == (
        f"error: --out {str(out)!r}: the existing folder cannot be replaced with the results, operation not "
        "permitted; make it and its parent folder writable, or choose another --out folder\n"
    )
    assert set(os.listdir(tmp_path)) == before and list(out.iterdir()) == []  # no hidden .locked.* folder


def test_a_failed_write_leaves_no_folder_it_created(tmp_path, center_args, capsys, monkeypatch):
    import pipeline.io.report

    def fail(result, folder, extra=None):
        (Path(folder) / "half.png").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline.io.report, "write_results", fail)
    out = tmp_path / "new" / "deeper" / "out"
    before = set(os.listdir(tmp_path))
    code, _, stderr = run_cli(
        [*center_args, "--inversion", "w", "--no-cache", "--out", out],
        capsys,
    )
    assert code == 1 and stderr.startswith("error: ")
    assert _leftovers(tmp_path, before) == []  # not even tmp_path/new


def test_staging_of_a_killed_run_is_cleaned_up(tmp_path, center_args, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs
    out = tmp_path / "out"
    stale = tmp_path / f".out.{dead.pid}.abc123.partial"
    stale.mkdir()
    (stale / "edited.png").write_bytes(b"half")
    live = tmp_path / f".out.{os.getppid()}.def456.partial"  # a running process: not ours to remove
    live.mkdir()
    code, _, stderr = run_cli(
        [*center_args, "--inversion", "w", "--no-cache", "--out", out],
        capsys,
    )
    assert code == 0, stderr
    assert not stale.exists() and live.is_dir()
    assert (out / "edited.png").is_file()


def test_results_moved_aside_by_a_killed_run_are_restored(tmp_path):
    from pipeline.io.outputs import remove_stale_staging

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trash = tmp_path / f".out.{dead.pid}.x1.old"
    (trash / "old").mkdir(parents=True)
    (trash / "old" / "edited.png").write_bytes(b"previous")
    assert remove_stale_staging(tmp_path / "out") == [trash]
    assert (tmp_path / "out" / "edited.png").read_bytes() == b"previous" and not trash.exists()


def test_existing_output_is_refused_and_kept(tmp_path, center_args, photo_file, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, stderr = run_cli(
        [*center_args, "--out", out],
        capsys,
    )
    assert code == 2 and "--overwrite" in stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # The input folder itself is never a valid output folder, even with --overwrite.
    code, _, stderr = run_cli(
        [*center_args, "--out", photo_file.parent, "--overwrite"],
        capsys,
    )
    assert code == 2 and "contains the input" in stderr
    assert photo_file.is_file()


def test_interrupt_leaves_nothing(tmp_path, center_args, capsys, monkeypatch):
    import pipeline.io.report

    real = pipeline.io.report.write_results

    def write_then_interrupt(result, folder, extra=None):
        real(result, folder, extra)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.io.report, "write_results", write_then_interrupt)
    out = tmp_path / "out"
    code, _, stderr = run_cli(
        [*center_args, "--inversion", "w", "--no-cache", "--out", out],
        capsys,
    )
    assert code == 130 and stderr.strip() == "error: interrupted"
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_debug_prints_the_traceback(tmp_path, points_file, capsys):
    code, _, stderr = run_cli(["--image", tmp_path / "nope.png", "--points", points_file, "--debug"], capsys)
    assert code == 2 and "Traceback" in stderr and stderr.strip().splitlines()[-1].startswith("error: photo not found")


def test_subprocess_exit_codes(tmp_path, points_file):
    env_run = dict(cwd=REPO, capture_output=True, text=True, timeout=120)
    bad = subprocess.run(
        [sys.executable, "run_pipeline.py", "--image", str(tmp_path / "nope.png"), "--points", str(points_file)],
        **env_run,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: photo not found") and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# --- Ctrl-C at any moment: one line, exit 130 -----------------------------------------------------------------

# The two ways a user starts the command line: the script, and the `draggan-edit` entry point
# (pip's wrapper does exactly `from pipeline.cli.main import main; sys.exit(main())`).
ENTRIES = {
    "run_pipeline.py": ["run_pipeline.py"],
    "draggan-edit": ["-c", "import sys; from pipeline.cli.main import main; sys.exit(main())"],
}


def _interpreter_startup_seconds() -> float:
    # Before the interpreter runs any of the project's code nothing can catch SIGINT; the
    # delays below are counted from the end of a bare interpreter's start-up on this machine.
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_interrupt_at_any_moment_is_one_line_and_130(entry, tmp_path, photo_file, points_file, tiny_checkpoint):
    startup = _interpreter_startup_seconds()
    args = [
        sys.executable,
        *ENTRIES[entry],
        "--image",
        str(photo_file),
        "--points",
        str(points_file),
        "--checkpoint",
        str(tiny_checkpoint),
        "--align",
        "center",
        "--device",
        "cpu",
        "--steps",
        "100000",
        "--lpips-net",
        "squeeze",
        "--lpips-backbone",
        "random",
        "--no-cache",
        "--quiet",
        "--out",
        str(tmp_path / "out"),
    ]
    # ~0.05 s: importing; 0.5-2 s: importing torch or loading; 6 s: inverting (100000 steps).
    for delay in (0.05, 0.5, 2.0, 6.0):
        proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(startup + delay)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, (delay, stderr)
        assert stderr.strip() == "error: interrupted", (delay, stderr)
        assert not (tmp_path / "out").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
