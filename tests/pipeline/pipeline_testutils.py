"""Helpers shared by the command-line tests: points files and in-process CLI runs."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.cli import main


def write_points(path: Path, handles, targets, **extra) -> Path:
    """Write a points JSON (object form) with photo-pixel `handles` and `targets`; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"handles": handles, "targets": targets, **extra}))
    return path


def run_cli(args, capsys) -> tuple[int, str, str]:
    """Run `pipeline.cli.main` in-process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
