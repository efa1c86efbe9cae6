"""mmagic StyleGANv2Generator state dicts, including the eight DragGAN checkpoints of
mmagic's model table (`generator_ema.module.*` is used), in and out.
"""

from __future__ import annotations

from typing import Any

import torch

from stylegan import _keymaps as km
from stylegan.formats._base import Parsed, Problem, apply_rules, strip_prefix, tensor_dict_loose, unwrap_state_dict
from stylegan.formats.ids import FORMAT_MMAGIC
from stylegan.networks import Generator

# Noise seed of mmagic's NoiseInjection(fixed_noise=True) (stylegan1_modules.py).
MMAGIC_NOISE_SEED = 1024


def parse_mmagic(obj: Any) -> Parsed:
    """An mmagic StyleGANv2Generator state dict (EMA copy preferred) converted to NVlabs names."""
    sd = tensor_dict_loose(unwrap_state_dict(obj))
    sd = strip_prefix(
        sd, "constant_input.input", ("generator_ema.module.", "generator_ema.", "module.", "", "generator.")
    )
    if any(k.startswith("embed.") for k in sd):
        raise Problem("class-conditional mmagic generators are not supported", key="embed.linear.weight_orig")
    num_mapping, img_resolution = km.mmagic_structure(sd)
    if num_mapping == 0:
        raise Problem("missing tensor", key="style_mapping.1.linear.weight_orig")
    has_w_avg = "w_avg" in sd
    nv, origin = apply_rules(sd, km.mmagic_rules(num_mapping, img_resolution, with_w_avg=has_w_avg), km.MMAGIC_IGNORED)
    # mmagic computes its modulation/mapping like NVlabs, without clamping in fp32.
    hints = {"conv_clamp": None, "mapping_lr_multiplier": 0.01, "w_avg_beta": 0.998}
    return Parsed(
        FORMAT_MMAGIC,
        nv,
        hints,
        origin=origin,
        fill_w_avg=not has_w_avg,
        fill_noise_seed=MMAGIC_NOISE_SEED,
        fill_resample_filters=True,
    )


def export_mmagic_state_dict(G: Generator, prefix: str = "generator_ema.module.") -> dict[str, torch.Tensor]:
    """G's weights as an mmagic StyleGANv2Generator state dict (the inverse of the mmagic loader).

    The const noise is not exported (mmagic has no place for it).

    Args:
        G: an unconditional generator with the standard StyleGAN2 layout.
        prefix: prepended to every key ('generator_ema.module.' as in the DragGAN files).
    """
    if G.c_dim:
        raise ValueError("mmagic export supports unconditional generators only (c_dim == 0)")
    sd = G.state_dict()
    rules = km.mmagic_rules(G.init_kwargs["mapping_layers"], G.img_resolution)
    return {prefix + r.foreign: km.from_nvlabs_tensor(sd[r.nvlabs].detach().cpu(), r.kind).clone() for r in rules}
