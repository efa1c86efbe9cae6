"""Package boundaries: `training` may import align/ and stylegan/; nothing imports `training`."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_TRAINING = ("stylegan", "align", "inversion", "draggan", "pipeline", "editor")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))  # importlib.import_module("training....")
    return names


def test_no_package_but_training_imports_training():
    offenders = []
    files = [p for package in NOT_TRAINING for p in (REPO / package).rglob("*.py")] + [REPO / "run_pipeline.py"]
    assert len(files) > 30  # the scan really sees the packages
    for path in files:
        for name in _imported_modules(path):
            if name == "training" or name.startswith("training."):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


# The measuring tools run the whole edit (inversion, drag) through the pipeline, as a user would.
MEASURING_TOOLS = ("report.py", "heldout.py", "tune_defaults.py")


def test_training_imports_only_align_and_stylegan_of_the_project():
    project = set(NOT_TRAINING) | {"training"}
    for path in (REPO / "training").rglob("*.py"):
        if path.name in MEASURING_TOOLS:
            continue
        for name in _imported_modules(path):
            top = name.split(".")[0]
            if top in project:
                assert top in ("training", "align", "stylegan"), f"{path.relative_to(REPO)} imports {name}"


def test_the_scan_finds_an_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\nfrom training.train import train\nimport importlib\nimportlib.import_module('training')\n"
    )
    assert {"training.train", "training", "os"} <= _imported_modules(probe)
