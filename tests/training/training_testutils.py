"""Helpers shared by the training tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np


def write_images(folder, count=6, size=20, seed=0, names=None):
    """Writes `count` (or `names`) size x size PNGs of smooth random colour fields into `folder`; returns it."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = names or [f"img{i:02d}.png" for i in range(count)]
    for name in names:
        # Smooth random colour fields (a little structure), saved losslessly.
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        image = np.kron(small, np.ones((size // 4 + 1, size // 4 + 1, 1), dtype=np.uint8))[:size, :size]
        Image.fromarray(image).save(folder / name)
    return folder
