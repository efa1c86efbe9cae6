"""SHA-256 fingerprints of files and generators: the one way the project identifies weights.

Used to verify downloads, to key the inversion cache and to check that an inversion
file is loaded with the generator it was made with.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from common.fileio import atomic_write_text

__all__ = ["file_sha256", "generator_sha256"]

_CHUNK = 1 << 22  # 4 MiB reads: checkpoints are hundreds of MB


def file_sha256(path: str | os.PathLike, memo_file: str | os.PathLike | None = None) -> str:
    """SHA-256 of a file's bytes, optionally memoised by (absolute path, size, mtime_ns).

    Checkpoints are hundreds of MB; the memo (a small JSON file, e.g. in the inversion cache
    folder) makes a re-run cost a stat instead of a full read. A file whose size or
    modification time changed is hashed again, and its old memo entry replaced.

    Args:
        path: the file.
        memo_file: JSON file of known hashes (read, and updated atomically), or None = always
            hash. An unreadable or corrupt memo is ignored; one that cannot be written is
            left as it was (the memo is an optimisation only).

    Returns:
        64 lowercase hex characters.

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path).resolve()
    if memo_file is None:
        return _hash_file(path)
    st = path.stat()
    stamp = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    memo_file = Path(memo_file)
    try:
        table = json.loads(memo_file.read_text())
        if not isinstance(table, dict):
            table = {}
    except (OSError, ValueError):
        table = {}
    if stamp in table:
        return str(table[stamp])
    digest = _hash_file(path)
    try:
        table = {k: v for k, v in table.items() if not k.startswith(f"{path}|")}
        table[stamp] = digest
        atomic_write_text(memo_file, json.dumps(table, indent=0))
    except OSError:
        pass  # the memo is an optimisation only
    return digest


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def generator_sha256(G: Any) -> str:
    """SHA-256 of a generator's constructor arguments and every parameter and buffer, bit for bit.

    Equal for the same weights on any device (tensors are hashed from CPU copies);
    any change to a single weight, dtype or shape changes it.

    Returns:
        64 lowercase hex characters.
    """
    import torch  # here, so that file hashing works without importing torch

    h = hashlib.sha256()
    h.update(json.dumps(getattr(G, "init_kwargs", {}), sort_keys=True, default=str).encode())
    for name, tensor in sorted(G.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
