"""The native format: what `save_generator` writes.

A `torch.save` zip of {'format': 'draggan-pipeline.stylegan2', 'version': 1,
'config': G.init_kwargs, 'dtype': ..., 'state_dict': ..., optional 'metadata': G.metadata},
loadable with `torch.load(weights_only=True)`. 'metadata' holds plain values about the model,
e.g. {'face_preset': 'utkface'}: the framing of its training crops, written by `training.train`.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from stylegan.formats._base import Parsed, Problem, tensor_dict
from stylegan.formats.ids import FORMAT_NATIVE
from stylegan.networks import Generator

NATIVE_FORMAT = "draggan-pipeline.stylegan2"
NATIVE_VERSION = 1


def generator_to_dict(G: Generator, half: bool = False, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The native-format payload of G: format tag, config and CPU state dict.

    It holds only plain types and tensors, so it can be embedded in other
    `torch.save` files (inversion results, edit latents) and read back with
    `torch.load(weights_only=True)` and `generator_from_dict`.

    Args:
        G: the generator (not modified).
        half: store floating-point tensors as float16.
        metadata: plain values stored under 'metadata'; None = `G.metadata`.
    """
    if not isinstance(G, Generator):
        raise TypeError(f"expected a stylegan.Generator, got {type(G).__name__}")
    dtype = torch.float16 if half else torch.float32
    state_dict = {}
    for key, value in G.state_dict().items():
        value = value.detach().to("cpu")
        state_dict[key] = (value.to(dtype) if value.is_floating_point() else value).clone()
    metadata = dict(getattr(G, "metadata", {}) if metadata is None else metadata)
    problem = metadata_problem(metadata)
    if problem:
        raise ValueError(f"generator metadata {problem}; use str, int, float or bool values")
    payload = {
        "format": NATIVE_FORMAT,
        "version": NATIVE_VERSION,
        "config": plain_config(G.init_kwargs),
        "dtype": "float16" if half else "float32",
        "state_dict": state_dict,
    }
    if metadata:
        payload["metadata"] = metadata
    return payload


def metadata_problem(metadata: Any) -> str | None:
    """Why `metadata` cannot be stored in (or was not read from) a native file, or None."""
    if not isinstance(metadata, dict):
        return f"must be a dict, got {type(metadata).__name__}"
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
            return f"entry {key!r}: {type(value).__name__} is not a plain value"
    return None


def parse_native(obj: dict) -> Parsed:
    """A native payload: version and config checked, tensors taken as they are."""
    version = obj.get("version")
    if version != NATIVE_VERSION:
        raise Problem(
            f"native format version {version!r} is not supported (this code reads version {NATIVE_VERSION})",
            fix="upgrade the draggan-pipeline package",
        )
    config = obj.get("config")
    if not isinstance(config, dict):
        raise Problem("the 'config' entry is missing")
    allowed = set(inspect.signature(Generator.__init__).parameters) - {"self"}
    for key in config:
        if key not in allowed:
            raise Problem(f"unknown generator config entry {key!r}", fix="upgrade the draggan-pipeline package")
    metadata = obj.get("metadata", {})
    problem = metadata_problem(metadata)
    if problem:
        raise Problem(f"the 'metadata' entry {problem}")
    return Parsed(
        FORMAT_NATIVE, tensor_dict(obj.get("state_dict"), "'state_dict'"), config=dict(config), metadata=dict(metadata)
    )


def plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """Checks G.init_kwargs holds only JSON-like values (so weights_only loading accepts it)."""

    def plain(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (np.integer, np.floating)):
            return v.item()
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        raise TypeError(f"generator config value {v!r} is not a plain number/string/list/dict")

    return {str(k): plain(v) for k, v in config.items()}
