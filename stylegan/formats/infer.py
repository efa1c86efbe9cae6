"""Generator kwargs from the shapes of an NVlabs-named state dict (plus the format's hints)."""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from stylegan.formats._base import Problem


def _infer_channel_base(channels: dict[int, int], hints: dict[str, Any]) -> tuple[int, int]:
    """(channel_base, channel_max) such that channels[res] == min(channel_base // res, channel_max)."""

    def reproduces(base: int, cmax: int) -> bool:
        return all(min(base // r, cmax) == c for r, c in channels.items())

    cmax = max(channels.values())
    hinted = (hints.get("channel_base"), hints.get("channel_max"))
    if all(isinstance(v, int) and v > 0 for v in hinted) and reproduces(*hinted):
        return hinted
    lo, hi = 1, math.inf
    for r, c in channels.items():
        if c < cmax:  # base // r == c  <=>  c * r <= base < (c + 1) * r
            lo, hi = max(lo, c * r), min(hi, (c + 1) * r - 1)
        else:  # base // r >= cmax
            lo = max(lo, cmax * r)
    for base in (32768, 16384, lo):  # prefer the NVlabs values when they fit
        if lo <= base <= hi and reproduces(base, cmax):
            return base, cmax
    res = sorted(channels)
    raise Problem(
        f"the channel counts {[channels[r] for r in res]} at resolutions {res} do not follow "
        "min(channel_base // res, channel_max)",
        key=f"synthesis.b{res[-1]}.conv1.weight",
    )


def infer_config(sd: dict[str, torch.Tensor], hints: dict[str, Any]) -> dict[str, Any]:
    """Generator kwargs from NVlabs-named tensors' shapes plus `hints`; raises Problem (public: checkpoints)."""

    def shape(key: str, ndim: int) -> tuple[int, ...]:
        if key not in sd:
            raise Problem("missing tensor", key=key)
        s = tuple(sd[key].shape)
        if len(s) != ndim:
            raise Problem(f"mis-shaped tensor (expected {ndim} dims, got shape {list(s)})", key=key)
        return s

    if any(k.startswith("synthesis.input.") for k in sd):
        raise Problem(
            "StyleGAN3 (alias-free) generators are not supported",
            fix="use a StyleGAN2 checkpoint (e.g. stylegan2-*.pkl)",
        )
    num_mapping = 0
    while f"mapping.fc{num_mapping}.weight" in sd:
        num_mapping += 1
    if num_mapping == 0:
        raise Problem("missing tensor", key="mapping.fc0.weight")
    w_dim = shape(f"mapping.fc{num_mapping - 1}.weight", 2)[0]
    fc0_in = shape("mapping.fc0.weight", 2)[1]
    c_dim = 0
    z_dim = fc0_in
    if "mapping.embed.weight" in sd:
        embed_features, c_dim = shape("mapping.embed.weight", 2)
        z_dim = fc0_in - embed_features
    found = {int(m.group(1)) for k in sd if (m := re.match(r"synthesis\.b(\d+)\.", k))}
    if 4 not in found:
        raise Problem("missing tensor", key="synthesis.b4.const")
    img_resolution = max(found)
    if img_resolution & (img_resolution - 1):
        raise Problem(
            f"block resolution {img_resolution} is not a power of two", key=f"synthesis.b{img_resolution}.conv1.weight"
        )
    resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
    for res in resolutions:
        if res not in found:
            raise Problem("missing tensor", key=f"synthesis.b{res}.conv1.weight")
    for res in found - set(resolutions):
        raise Problem("unexpected tensor", key=next(k for k in sd if k.startswith(f"synthesis.b{res}.")))
    channels = {res: shape(f"synthesis.b{res}.conv1.weight", 4)[0] for res in resolutions}
    img_channels = shape("synthesis.b4.torgb.weight", 4)[0]
    channel_base, channel_max = _infer_channel_base(channels, hints)
    w_avg_beta = hints.get("w_avg_beta")
    lr = hints.get("mapping_lr_multiplier")
    return dict(
        z_dim=z_dim,
        c_dim=c_dim,
        w_dim=w_dim,
        img_resolution=img_resolution,
        img_channels=img_channels,
        channel_base=channel_base,
        channel_max=channel_max,
        num_fp16_res=int(hints.get("num_fp16_res") or 0),
        conv_clamp=hints.get("conv_clamp"),
        mapping_layers=num_mapping,
        mapping_lr_multiplier=0.01 if lr is None else lr,
        w_avg_beta=0.995 if w_avg_beta is None else w_avg_beta,
    )
