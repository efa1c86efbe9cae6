"""The README's commands do what the README says (without touching the network or the checkout)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_testutils import OUTPUTS

from pipeline.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if "python run_pipeline.py" in line:
                words = shlex.split(line.split("python run_pipeline.py", 1)[1])
                commands.append(words)
    return commands


def _with_out(words: list[str], out: Path, cache: Path) -> list[str]:
    words = list(words)
    if "--out" in words:
        i = words.index("--out")
        del words[i : i + 2]
    return [*words, "--out", str(out), "--cache-dir", str(cache)]


def _main_in_repo(monkeypatch, args: list[str]) -> int:
    monkeypatch.chdir(REPO)
    return main(args)


def test_readme_has_the_main_and_the_offline_command():
    commands = _readme_commands()
    assert ["--image", "examples/astronaut.png", "--points", "examples/astronaut_points.json"] in commands
    assert any("random-64" in c for c in commands)
    for words in commands:  # every file a README command names ships in examples/
        for key in ("--image", "--points"):
            if key in words and words[words.index(key) + 1].startswith("examples/"):
                assert (REPO / words[words.index(key) + 1]).is_file()


def test_examples_are_small_and_valid():
    for path in (REPO / "examples").iterdir():
        assert path.stat().st_size < 1_000_000, path
    for name in ("astronaut_points.json", "astronaut_points_masked.json"):
        from pipeline.io.points import load_points

        points = load_points(REPO / "examples" / name)
        assert len(points) == 2
    assert json.loads((REPO / "examples" / "astronaut_points_masked.json").read_text())["mask"]


def test_ffhq_offline_fails_with_exit_3_and_says_what_to_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DRAGGAN_OFFLINE", "1")
    monkeypatch.setenv("DRAGGAN_CHECKPOINTS", str(tmp_path / "checkpoints"))
    command = [*_readme_commands()[0], "--checkpoint", "ffhq-512"]
    out = tmp_path / "out"
    assert _main_in_repo(monkeypatch, _with_out(command, out, tmp_path / "cache")) == 3
    err = capsys.readouterr().err
    assert "stylegan2-ffhq-512x512.pkl" in err and "https://api.ngc.nvidia.com/" in err
    assert not out.exists()


# Imported first by the subprocess (sitecustomize): every network connection raises.
_NO_NETWORK = """
import socket

def _blocked(*args, **kwargs):
    raise OSError("network blocked by the test")

socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _blocked
"""


@pytest.mark.slow
def test_main_command_runs_with_the_network_blocked(tmp_path):
    """The README's first command on a machine without network: the shipped face-64 model, shipped LPIPS."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_NO_NETWORK)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(guard), str(REPO)]),
        "TORCH_HOME": str(tmp_path / "torch_home"),  # no torchvision cache
        "DRAGGAN_CHECKPOINTS": str(tmp_path / "checkpoints"),  # no downloaded checkpoints
        "DRAGGAN_CACHE_DIR": str(tmp_path / "cache"),
    }  # no cached inversion
    env.pop("DRAGGAN_OFFLINE", None)  # not told: the run must simply never connect
    out = tmp_path / "out"
    main_command = _readme_commands()[0]
    assert main_command == ["--image", "examples/astronaut.png", "--points", "examples/astronaut_points.json"]
    done = subprocess.run(
        [sys.executable, "run_pipeline.py", *main_command, "--out", str(out), "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert OUTPUTS <= {p.name for p in out.iterdir()}
    report = json.loads((out / "report.json").read_text())
    assert report["checkpoint"]["name"] == "face-64" and report["metrics"]["reconstruction"]["lpips"] is not None
    # The guard really was active in the subprocess.
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "network blocked by the test" in probe.stderr


@pytest.mark.slow
def test_offline_command_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DRAGGAN_OFFLINE", "1")
    command = next(c for c in _readme_commands() if "random-64" in c)
    out = tmp_path / "smoke"
    code = _main_in_repo(monkeypatch, _with_out(command, out, tmp_path / "cache"))
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["alignment"]["mode"] == "face" and report["checkpoint"]["name"] == "random-64"
    assert (out / "edited.png").is_file()
