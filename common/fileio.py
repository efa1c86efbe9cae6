"""Atomic file writes: a temporary file in the destination folder, then a rename.

An interrupted or failed write never leaves a truncated file at the destination
(`os.replace` is atomic on one file system), and nothing but the temporary file
is ever removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_save", "atomic_write", "atomic_write_text"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Calls `write(f)` on a temporary binary file beside `path`, then renames it to `path`.

    Args:
        path: destination file; its folder is created if needed.
        write: writes the content to the open binary file it is given.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes UTF-8 `text` to `path` atomically (see `atomic_write`)."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save(obj)` to `path` atomically (see `atomic_write`)."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))
