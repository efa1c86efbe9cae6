"""Helpers shared by the command-line tests: the output names, points files and in-process CLI runs."""

from __future__ import annotations

import errno
import json
import os
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


def refuse_to_move(monkeypatch, folder: Path) -> list:
    """Make `os.replace` refuse to move `folder` (EPERM), as for a folder that cannot be renamed.

    Root may rename anything (chmod 555 does not stop it), so the file system's refusal is
    simulated at the one call that moves folders. Returns the list of refused moves.
    """
    real_replace = os.replace
    refused = []

    def replace(src, dst, *args, **kwargs):
        if Path(src).absolute() == Path(folder).absolute():
            refused.append((Path(src), Path(dst)))
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), str(src), str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return refused
