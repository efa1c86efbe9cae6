"""Helpers shared by the command-line tests: the output names, points files and in-process CLI runs."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.cli.main import main

# The files every run writes (a video adds drag.gif / drag.mp4).
OUTPUTS = frozenset(
    {
        "edited.png",
        "aligned.png",
        "reconstruction.png",
        "edited_crop.png",
        "comparison.png",
        "latents.pt",
        "report.json",
    }
)


def write_points(path: Path, handles, targets, **extra) -> Path:
    """Write a points JSON (object form) with photo-pixel `handles` and `targets`; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"handles": handles, "targets": targets, **extra}))
    return path


def center_run(photo: Path, points: Path, checkpoint: Path, fast_args: list) -> list:
    """CLI options of a fast run: `photo` with `points` on `checkpoint`, centre crop, then `fast_args`."""
    return ["--image", photo, "--points", points, "--checkpoint", checkpoint, "--align", "center", *fast_args]


def run_cli(args, capsys) -> tuple[int, str, str]:
    """Run `pipeline.cli.main.main` in-process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
