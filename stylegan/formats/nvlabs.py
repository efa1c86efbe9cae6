"""NVlabs network pickles (stylegan2-ada-pytorch, stylegan3's StyleGAN2, DragGAN's
download script) and bare NVlabs generator state dicts.

Pickles are read by `stylegan._safe_pickle`, which rebuilds the module tree as
`PersistentRecord`s and executes nothing from the file; the tensors are collected
as `Module.state_dict()` would, and the attributes that shapes cannot tell
(conv_clamp, num_fp16_res, ...) are read from the records.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from stylegan._safe_pickle import PersistentRecord
from stylegan.formats._base import Parsed, Problem, as_float, strip_prefix, tensor_dict, unwrap_state_dict
from stylegan.formats.ids import FORMAT_NVLABS, FORMAT_NVLABS_STATE_DICT


def _iter_records(rec: PersistentRecord, prefix: str = ""):
    yield prefix, rec
    modules = rec.state.get("_modules") or {}
    for name, child in modules.items():
        if isinstance(child, PersistentRecord):
            yield from _iter_records(child, f"{prefix}{name}.")


def _record_state_dict(rec: PersistentRecord, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Collects parameters and persistent buffers as `Module.state_dict()` would."""
    state = rec.state
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        entries = state.get(group) or {}
        if not isinstance(entries, dict):
            raise Problem(f"the record of {prefix or 'the generator'} has a malformed {group}")
        for name, value in entries.items():
            if value is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(value, torch.Tensor):
                raise Problem(f"holds a {type(value).__name__} instead of a tensor", key=prefix + name)
            out[prefix + name] = value
    modules = state.get("_modules") or {}
    for name, child in modules.items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise Problem(
                f"sub-module of type {type(child).__name__} is not a persistent network record", key=prefix + name
            )
        _record_state_dict(child, f"{prefix}{name}.", out)


def parse_nvlabs(obj: Any) -> Parsed:
    """An NVlabs network pickle's G_ema record: its state dict and the attributes shapes cannot tell."""
    rec = obj["G_ema"] if isinstance(obj, dict) else obj
    if rec.class_name != "Generator":
        raise Problem(f"the network is a {rec.class_name!r}, not a Generator")
    records = dict(_iter_records(rec))
    if any(r.class_name == "SynthesisInput" for r in records.values()) or "synthesis.input." in records:
        raise Problem(
            "StyleGAN3 (alias-free) generators are not supported",
            fix="use a StyleGAN2 checkpoint (e.g. stylegan2-*.pkl)",
        )
    sd: dict[str, torch.Tensor] = {}
    _record_state_dict(rec, "", sd)
    if any(k.startswith("synthesis.input.") for k in sd):
        raise Problem(
            "StyleGAN3 (alias-free) generators are not supported",
            fix="use a StyleGAN2 checkpoint (e.g. stylegan2-*.pkl)",
        )

    # What shapes cannot tell: the effective attributes recorded in each module's
    # state first, then the constructor kwargs (stylegan2-ada nests them in
    # synthesis_kwargs / mapping_kwargs, stylegan3's networks_stylegan2 flattens
    # the synthesis ones), then NVlabs defaults.
    kwargs = rec.init_kwargs
    synthesis_kwargs = dict(kwargs.get("synthesis_kwargs") or {})
    for key in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "activation"):
        if key in kwargs and key not in synthesis_kwargs:
            synthesis_kwargs[key] = kwargs[key]
    mapping_kwargs = dict(kwargs.get("mapping_kwargs") or {})

    def state_of(name: str) -> dict:
        r = records.get(name)
        return r.state if r is not None else {}

    hints: dict[str, Any] = {}
    architecture = state_of("synthesis.b4.").get("architecture", synthesis_kwargs.get("architecture", "skip"))
    if architecture != "skip":
        raise Problem(
            f"synthesis architecture {architecture!r} is not supported (only 'skip', as in config-f)",
            fix="use a config-f / stylegan2 'skip' generator",
        )
    for layer_name, default in (
        ("synthesis.b4.conv1.", synthesis_kwargs.get("activation", "lrelu")),
        ("mapping.fc0.", mapping_kwargs.get("activation", "lrelu")),
    ):
        activation = state_of(layer_name).get("activation", default)
        if activation != "lrelu":
            raise Problem(f"activation {activation!r} is not supported (only 'lrelu')", key=layer_name.rstrip("."))
    clamp_state = state_of("synthesis.b4.conv1.")
    hints["conv_clamp"] = as_float(
        clamp_state["conv_clamp"] if "conv_clamp" in clamp_state else synthesis_kwargs.get("conv_clamp")
    )
    fp16_flags = [r.state.get("use_fp16") for name, r in records.items() if re.fullmatch(r"synthesis\.b\d+\.", name)]
    if fp16_flags and all(isinstance(f, bool) for f in fp16_flags):
        hints["num_fp16_res"] = sum(fp16_flags)
    elif "num_fp16_res" in synthesis_kwargs:
        hints["num_fp16_res"] = int(synthesis_kwargs["num_fp16_res"])
    lr = as_float(state_of("mapping.fc0.").get("bias_gain"))
    hints["mapping_lr_multiplier"] = lr if lr is not None else as_float(mapping_kwargs.get("lr_multiplier"))
    mapping_state = state_of("mapping.")
    hints["w_avg_beta"] = as_float(
        mapping_state["w_avg_beta"] if "w_avg_beta" in mapping_state else mapping_kwargs.get("w_avg_beta")
    )
    for key in ("channel_base", "channel_max"):
        if isinstance(synthesis_kwargs.get(key), int):
            hints[key] = synthesis_kwargs[key]
    hints = {k: v for k, v in hints.items() if v is not None or k == "conv_clamp"}
    return Parsed(FORMAT_NVLABS, sd, hints, fill_w_avg="mapping.w_avg" not in sd)


def parse_nvlabs_state_dict(obj: Any) -> Parsed:
    """A bare NVlabs generator state dict (an EMA copy preferred when several generators are stored)."""
    sd = unwrap_state_dict(obj)
    sd = strip_prefix(
        tensor_dict(sd, "the state dict"), "synthesis.b4.const", ("G_ema.", "g_ema.", "generator_ema.", "")
    )
    # conv_clamp is not part of a state dict; NVlabs' stylegan2 default is None.
    return Parsed(FORMAT_NVLABS_STATE_DICT, sd, {}, fill_w_avg="mapping.w_avg" not in sd)
