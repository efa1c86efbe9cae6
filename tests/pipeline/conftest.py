"""Fixtures of the pipeline tests: a tiny generator saved like a user checkpoint, photos, points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_testutils import center_run, write_points


@pytest.fixture
def lpips_args(squeeze_backbone) -> list[str]:
    """LPIPS options that never download: the shared real squeeze backbone, else a random one."""
    return ["--lpips-net", "squeeze", "--lpips-backbone", squeeze_backbone]


@pytest.fixture
def fast_args(tmp_path, lpips_args) -> list[str]:
    """Options of a seconds-long CPU run: 2 inversion steps per stage, 3 drag steps, private cache."""
    return [
        "--steps",
        "2",
        "--drag-steps",
        "3",
        "--lr",
        "0.05",
        "--device",
        "cpu",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
        *lpips_args,
    ]


def smooth_photo(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth synthetic RGB photo (gradients and a few blobs), uint8 (height, width, 3)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([xs / width, ys / height, 0.5 + 0.5 * np.sin(xs / 7.0) * np.cos(ys / 9.0)], axis=2) * 200
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(5, 15)
        img += 55 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r))[..., None] * rng.uniform(0, 1, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def make_photo():
    """Factory fixture: `make_photo(width=96, height=64, seed=0)` -> smooth synthetic uint8 photo."""
    return smooth_photo


@pytest.fixture
def squeeze_backbone(request) -> str:
    """The shared real LPIPS-squeeze backbone file if present, else 'random' (never downloads)."""
    try:
        return str(request.getfixturevalue("shared_squeeze_backbone"))
    except pytest.skip.Exception:
        return "random"


@pytest.fixture
def photo_file(tmp_path) -> Path:
    """A 96x64 synthetic PNG (the centre crop is the middle 64x64 square, x 16..79)."""
    path = tmp_path / "inputs" / "photo.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_photo()).save(path)
    return path


@pytest.fixture
def points_file(tmp_path) -> Path:
    """Two handle/target pairs inside the centre crop of `photo_file`."""
    return write_points(tmp_path / "inputs" / "points.json", [[40, 30], [56, 36]], [[44, 30], [52, 40]])


@pytest.fixture
def center_args(photo_file, points_file, tiny_checkpoint, fast_args) -> list:
    """CLI options of a fast run on `photo_file` with `points_file` and `tiny_checkpoint`, centre crop."""
    return center_run(photo_file, points_file, tiny_checkpoint, fast_args)
