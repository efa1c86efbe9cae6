"""rosinality stylegan2-pytorch checkpoints ({'g_ema': state_dict, 'latent_avg': ...}), in and out."""

from __future__ import annotations

from typing import Any

import torch

from stylegan import _keymaps as km
from stylegan.formats._base import Parsed, Problem, apply_rules, tensor_dict, unwrap_state_dict
from stylegan.formats.ids import FORMAT_ROSINALITY
from stylegan.networks import Generator


def parse_rosinality(obj: dict) -> Parsed:
    """A rosinality checkpoint (g_ema and latent_avg) converted to NVlabs names."""
    latent_avg = None
    if "g_ema" in obj and isinstance(obj["g_ema"], dict):
        sd, latent_avg = obj["g_ema"], obj.get("latent_avg")
    else:
        sd = unwrap_state_dict(obj)
        latent_avg = sd.get("latent_avg") if isinstance(sd, dict) else None
        sd = {k: v for k, v in sd.items() if k != "latent_avg"}
    sd = tensor_dict(sd, "'g_ema'")
    num_mapping, img_resolution = km.rosinality_structure(sd)
    if num_mapping == 0:
        raise Problem("missing tensor", key="style.1.weight")
    nv, origin = apply_rules(sd, km.rosinality_rules(num_mapping, img_resolution), km.ROSINALITY_IGNORED)
    fill_w_avg = latent_avg is None
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor):
            raise Problem(f"'latent_avg' is a {type(latent_avg).__name__}, not a tensor", key="latent_avg")
        nv["mapping.w_avg"] = latent_avg.reshape(-1)
        origin["mapping.w_avg"] = "latent_avg"
    hints = {"conv_clamp": None, "mapping_lr_multiplier": 0.01}
    return Parsed(FORMAT_ROSINALITY, nv, hints, origin=origin, fill_w_avg=fill_w_avg, fill_resample_filters=True)


def export_rosinality_checkpoint(G: Generator) -> dict[str, Any]:
    """G's weights as a rosinality checkpoint {'g_ema': state_dict, 'latent_avg': (w_dim,)}."""
    if G.c_dim:
        raise ValueError("rosinality export supports unconditional generators only (c_dim == 0)")
    sd = G.state_dict()
    rules = km.rosinality_rules(G.init_kwargs["mapping_layers"], G.img_resolution)
    g_ema = {r.foreign: km.from_nvlabs_tensor(sd[r.nvlabs].detach().cpu(), r.kind).clone() for r in rules}
    return {"g_ema": g_ema, "latent_avg": sd["mapping.w_avg"].detach().cpu().clone()}
