"""SHA-256 fingerprints of files and generators: the one way the project identifies weights.

Used to verify downloads, to key the inversion cache and to check that an inversion
file is loaded with the generator it was made with.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

__all__ = ["file_sha256", "generator_sha256"]

_CHUNK = 1 << 22  # 4 MiB reads: checkpoints are hundreds of MB


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as 64 lowercase hex characters."""
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
