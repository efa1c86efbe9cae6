"""What every format module shares: the internal error, the parsed form, key helpers.

A format module turns the object loaded from a file into a `Parsed`: tensors under
NVlabs names plus the hints that shapes cannot give; `stylegan.checkpoints`
validates it and builds the Generator. Problems are raised as `Problem` (no path
known yet) and turned into one-line `CheckpointError`s by the dispatcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stylegan import _keymaps as km

FIX = "re-download the file or re-export it with stylegan.save_generator"


class Problem(Exception):
    """Internal: what is wrong with a checkpoint, before the path is known."""

    def __init__(self, problem: str, key: str | None = None, fix: str = FIX):
        super().__init__(problem)
        self.problem, self.key, self.fix = problem, key, fix


@dataclass
class Parsed:
    """A checkpoint converted to NVlabs names, ready for validation."""

    fmt: str
    state_dict: dict[str, torch.Tensor]
    hints: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None  # native only: the stored Generator kwargs
    origin: dict[str, str] = field(default_factory=dict)  # NVlabs key -> key in the file
    fill_w_avg: bool = False  # compute mapping.w_avg from mapped samples
    fill_noise_seed: int | None = None  # create noise_const buffers with this seed
    fill_resample_filters: bool = False  # the format does not store NVlabs' resample_filter buffers
    metadata: dict[str, Any] = field(default_factory=dict)  # native only: becomes G.metadata


class FormatProblem(Exception):
    """Internal: a Problem once the format is known."""

    def __init__(self, fmt: str, problem: Problem):
        super().__init__(problem.problem)
        self.fmt, self.problem, self.key, self.fix = fmt, problem.problem, problem.key, problem.fix


def unwrap_state_dict(obj: Any) -> Any:
    """Follows {'state_dict': ...} wrappers (mmengine checkpoints, ad-hoc exports)."""
    while isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    return obj


def tensor_dict(d: Any, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(d, dict):
        raise Problem(f"{what} is a {type(d).__name__}, not a dict of tensors")
    out = {}
    for k, v in d.items():
        if not isinstance(k, str):
            raise Problem(f"{what} has a non-string key {k!r}")
        if not isinstance(v, torch.Tensor):
            raise Problem(f"{what} holds a {type(v).__name__} instead of a tensor", key=k)
        out[k] = v
    return out


def strip_prefix(sd: dict[str, torch.Tensor], marker_suffix: str, preferred: tuple[str, ...]) -> dict:
    """Selects one generator out of a multi-model state dict by key prefix.

    Prefers the prefixes in `preferred` order (EMA copies first); otherwise the
    prefix of the first key ending with `marker_suffix`.
    """
    prefixes = []
    for k in sd:
        if k == marker_suffix:
            prefixes.append("")
        elif k.endswith("." + marker_suffix):
            prefixes.append(k[: -len(marker_suffix)])
    if not prefixes:
        raise Problem("no generator found", key=marker_suffix)
    chosen = next((p for p in preferred if p in prefixes), prefixes[0])
    return {k[len(chosen) :]: v for k, v in sd.items() if k.startswith(chosen)}


def apply_rules(
    sd: dict[str, torch.Tensor], rules: list[km.KeyRule], ignored: re.Pattern, optional: set[str] = frozenset()
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Maps foreign keys to NVlabs names; the first missing / unexpected / mis-shaped key is an error."""
    out, origin = {}, {}
    for rule in rules:
        if rule.foreign not in sd:
            if rule.foreign in optional:
                continue
            raise Problem("missing tensor", key=rule.foreign)
        try:
            out[rule.nvlabs] = km.to_nvlabs_tensor(sd[rule.foreign], rule.kind, rule.foreign)
        except km.KeyMapError as exc:
            raise Problem(f"mis-shaped tensor ({exc.problem})", key=exc.key) from None
        origin[rule.nvlabs] = rule.foreign
    known = {r.foreign for r in rules}
    for k in sd:
        if k not in known and not ignored.fullmatch(k):
            raise Problem("unexpected tensor (not part of a StyleGAN2 skip generator)", key=k)
    return out, origin


def tensor_dict_loose(sd: Any) -> dict[str, torch.Tensor]:
    """Keeps the tensor entries of a multi-model state dict (mmagic files also hold e.g. EMA step counters)."""
    if not isinstance(sd, dict):
        raise Problem(f"expected a state dict, found a {type(sd).__name__}")
    return {k: v for k, v in sd.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def as_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    return None
