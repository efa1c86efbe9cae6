"""Inversion cache: re-running on the same crop, generator and inversion config reuses the result.

The key is a sha256 over
  * the aligned crop's bytes (so the photo, the alignment mode, the box/face choice and the
    alignment config all count, through their effect on the crop),
  * the generator: the checkpoint file's sha256 (memoised per path, size and mtime) or, for
    a generator in memory, a hash of its state dict and constructor arguments,
  * the inversion method and every `InversionConfig` field that changes the result
    (a backbone file enters through its content hash),
  * off the CPU, where the inversion ran and in what precision (`compute_signature`): a GPU
    run never reuses a CPU inversion (nor its timings), and back. CPU keys carry none, so
    the CPU entries written before this field existed still match.
Entries live in `<cache_dir>/<key[:2]>/<key>.pt` and are written atomically, so an
interrupted run never leaves a half-written entry behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from common.fileio import atomic_write_text
from common.hashing import file_sha256

__all__ = [
    "default_cache_dir",
    "crop_sha256",
    "inversion_key",
    "compute_signature",
    "InversionCache",
]

# 2: InversionResult files identify their generator by SHA-256. Bump when the key recipe or the stored format changes.
CACHE_VERSION = 2


def default_cache_dir() -> Path:
    """env DRAGGAN_CACHE_DIR, else `~/.cache/draggan-pipeline/inversions` (XDG_CACHE_HOME honoured)."""
    env = os.environ.get("DRAGGAN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "draggan-pipeline" / "inversions"


def crop_sha256(crop: np.ndarray) -> str:
    """sha256 of a uint8 image's shape and bytes."""
    arr = np.ascontiguousarray(crop)
    h = hashlib.sha256(f"{arr.dtype}|{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _config_for_key(config, memo_file: Path | None) -> dict:
    data = dataclasses.asdict(config)
    backbone = data.get("lpips_backbone")
    if backbone not in (None, "random"):
        path = Path(backbone).expanduser()
        if path.is_file():
            data["lpips_backbone"] = "sha256:" + file_sha256(path, memo_file)
        elif path.is_dir():
            # A folder of backbones: the files it holds decide the result.
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".pth", ".pt"))
            data["lpips_backbone"] = "dir:" + ",".join(f"{p.name}={file_sha256(p, memo_file)}" for p in files)
    return data


def compute_signature(device, fp16_blocks: int = 0, tf32: tuple[bool, bool] | None = None) -> str | None:
    """Where and in what precision an inversion runs, for the cache key; None on the CPU (fp32).

    Args:
        device: the torch.device the generator is on.
        fp16_blocks: the generator's `num_fp16_res` (NVlabs checkpoints: 4); those blocks run in
            fp16 on CUDA only.
        tf32: (matmul, cudnn) TF32 switches; None = torch's current settings.

    Returns:
        e.g. 'cuda|NVIDIA H100|fp16_blocks=4|tf32=0,1', 'mps', or None for the CPU.
    """
    import torch

    device = torch.device(device)
    if device.type == "cpu":
        return None
    if device.type != "cuda":
        return device.type
    if tf32 is None:
        tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    name = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "cuda"
    return f"cuda|{name}|fp16_blocks={int(fp16_blocks)}|tf32={int(tf32[0])},{int(tf32[1])}"


def inversion_key(
    crop: np.ndarray,
    generator_id: str,
    method: str,
    config,
    memo_file: str | os.PathLike | None = None,
    compute: str | None = None,
) -> str:
    """The cache key of one inversion.

    Args:
        crop: uint8 (R, R, 3) aligned crop (the inversion target).
        generator_id: from `file_sha256` / `generator_sha256` (plus any prefix).
        method: 'w', 'w+' or 'pti'.
        config: the `InversionConfig` used.
        memo_file: file-hash memo for a backbone file (see `file_sha256`).
        compute: `compute_signature` of the run (None = the CPU in fp32).

    Returns:
        64 hex characters.
    """
    payload = {
        "version": CACHE_VERSION,
        "crop": crop_sha256(crop),
        "generator": generator_id,
        "method": method,
        "config": _config_for_key(config, None if memo_file is None else Path(memo_file)),
    }
    if compute is not None:
        payload["compute"] = compute
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class InversionCache:
    """Saved `InversionResult`s keyed by `inversion_key`.

    Args:
        root: the cache folder (None = `default_cache_dir()`).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    @property
    def memo_file(self) -> Path:
        """The file-hash memo of this cache (see `file_sha256`)."""
        return self.root / "file_hashes.json"

    def path(self, key: str) -> Path:
        """Where the entry for `key` is (or would be) stored."""
        return self.root / key[:2] / f"{key}.pt"

    def get(self, key: str, G, device="cpu"):
        """The cached `InversionResult` for `key`, or None (also when the entry is unreadable).

        Args:
            key: from `inversion_key`.
            G: the base generator (W / W+ results without optimised noise store no generator).
            device: where a stored (tuned) generator is placed.
        """
        from inversion import InversionResult

        path = self.path(key)
        try:
            if not path.is_file():
                return None
            return InversionResult.load(path, G=G, device=device)
        except Exception as exc:  # noqa: BLE001 - a broken entry is recomputed, never fatal
            warnings.warn(
                f"ignoring unreadable inversion cache entry {path} ({exc}); it will be recomputed",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

    def put(self, key: str, result, meta: dict | None = None) -> Path:
        """Store a result atomically (`InversionResult.save` writes a temporary file and renames it).

        Args:
            key: from `inversion_key`.
            result: an `InversionResult`.
            meta: optional JSON-safe description written next to it (`<key>.json`).

        Returns:
            The entry's path.
        """
        path = self.path(key)
        result.save(path)
        if meta is not None:
            try:
                atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2, default=str))
            except OSError:
                pass
        return path
