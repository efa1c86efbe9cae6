"""Synthesis features computed only around the handles, exactly.

Motion supervision and tracking read the b128 features only within
r2 + r1 + 2 image pixels of each handle, and every synthesis layer is a 3x3
convolution (after an optional 2x upsampling), so the features there depend only
on a small neighbourhood of the block outputs below. `crop_features` runs the
low-resolution blocks on the whole map (they are cheap) and the high-resolution
blocks only on per-handle crops, with the margins that make the crop interior
exact: zeros outside the image as the full-map convolutions pad, the stored noise
cut out at the same place. For one handle at 512 px this computes a 22 x 22 crop
of b128 instead of its 128 x 128 map (and small crops of b32 and b64), which turns
a drag step into a small fraction of the full-map one, with the same values (up to
float rounding).

It reads the layers' NVlabs-named parts (`affine`, `weight`, `noise_const`,
`noise_strength`, `bias`, `up`, `padding`, `resample_filter`, `conv_clamp`,
`act_gain`, `activation`) and `stylegan.ops`; `supports_crops` says whether a
generator has them (otherwise the loop uses the whole map).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from stylegan.ops import bias_act, modulated_conv2d

__all__ = ["CropPlan", "plan_crops", "crop_features", "supports_crops"]

# Margins of a crop that are not exact (they would need pixels outside the crop) and are
# cut off after each layer: output o of the up-sampling layer (transposed 3x3 conv with
# stride 2, then the 4-tap FIR; `stylegan.ops.conv2d_resample`) reads inputs
# ceil((o - 3) / 2) .. floor((o + 2) / 2), so of the 2n outputs of an n-pixel crop the
# first 2 and the last 2 are spoilt; a 3x3 layer spoils 1 on each side.
_UP_CUT = 2
_CONV_CUT = 1
_LAYER_ATTRS = (
    "affine",
    "styles",
    "weight",
    "bias",
    "up",
    "padding",
    "resample_filter",
    "conv_clamp",
    "act_gain",
    "activation",
    "use_noise",
)


@dataclass(frozen=True)
class CropPlan:
    """Which blocks run on crops, and the crop sizes."""

    dense_res: int  # blocks up to this resolution run on the whole map
    local_res: tuple[int, ...]  # blocks above it, up to feature_res, run on per-handle crops
    base_size: int  # crop side cut from the dense_res map
    out_size: int  # crop side at feature_res
    need: int  # side of the feature box each handle needs


def supports_crops(G: torch.nn.Module) -> bool:
    """Whether G's synthesis layers expose the parts `crop_features` uses."""
    synthesis = getattr(G, "synthesis", None)
    if synthesis is None or not hasattr(synthesis, "ws_offsets") or not hasattr(synthesis, "block_resolutions"):
        return False
    for res in synthesis.block_resolutions[1:]:
        block = getattr(synthesis, f"b{res}", None)
        if block is None or not hasattr(block, "block_dtype"):
            return False
        for name in ("conv0", "conv1"):
            layer = getattr(block, name, None)
            if layer is None or not all(hasattr(layer, a) for a in _LAYER_ATTRS):
                return False
    return True


def _need(feature_res: int, img_resolution: int, reach: float) -> int:
    # Feature pixels spanned by [p - reach, p + reach + 1] image px, plus the bilinear support.
    return math.ceil((2 * reach + 1) * feature_res / img_resolution) + 3


def plan_crops(
    G: torch.nn.Module, feature_res: int, img_resolution: int, reach: float, num_handles: int
) -> CropPlan | None:
    """Chooses the cheapest split between whole-map and per-handle-crop blocks.

    Args:
        G: the generator (only its channel counts are read).
        feature_res: resolution of the supervising block.
        img_resolution: R.
        reach: how far from a handle (image px) features are read.
        num_handles: N, the number of crops.

    Returns:
        A `CropPlan`, or None when the whole map is cheaper (or the generator has no
        crop support).
    """
    if not supports_crops(G):
        return None
    synthesis = G.synthesis
    channels = synthesis.channels
    resolutions = [r for r in synthesis.block_resolutions if r <= feature_res]
    need = _need(feature_res, img_resolution, reach)

    def dense_cost(res: int) -> float:
        c_out = channels[res]
        cost = res * res * c_out * c_out * 9
        if res > resolutions[0]:
            cost += (res // 2) ** 2 * channels[res // 2] * c_out * 9
        return cost

    best, best_cost = None, sum(dense_cost(r) for r in resolutions)
    for i, dense_res in enumerate(resolutions[:-1]):
        local = resolutions[i + 1 :]
        scale = 2 ** len(local)
        base = math.ceil((need + 7 * (scale - 1)) / scale)
        cost = sum(dense_cost(r) for r in resolutions[: i + 1])
        size = base
        for res in local:
            cost += num_handles * (
                size * size * channels[res // 2] * channels[res] * 9 + (2 * size - 4) ** 2 * channels[res] ** 2 * 9
            )
            size = 2 * size - 6
        if size > feature_res + 8:  # crops larger than the map: never worth it
            continue
        if cost < best_cost:
            best, best_cost = CropPlan(dense_res, tuple(local), base, size, need), cost
    return best


def crop_features(
    G: torch.nn.Module,
    ws: torch.Tensor,
    centers: np.ndarray,
    plan: CropPlan,
    img_resolution: int,
    feature_res: int,
    reach: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of block b{feature_res} on a square crop around each handle.

    Convention: crops are of the full feature_res x feature_res map that
    `G.synthesis.features(ws, until_res=feature_res, noise_mode='const')` computes;
    pixels off the map hold zeros. Differentiable w.r.t. ws.

    Args:
        G: the generator.
        ws: (1, num_ws, w_dim) latent.
        centers: (N, 2) float (x, y) image px around which features are needed.
        plan: from `plan_crops` for these sizes.
        img_resolution: R.
        feature_res: h.
        reach: image px around each centre that must be covered (as given to plan_crops).

    Returns:
        (crops (N, C, s, s) float32, origin (N, 2) float32 (x, y) map position of each
        crop's first pixel), with [centre - reach, centre + reach + 1] covered.
    """
    synthesis = G.synthesis
    device = ws.device
    scale = 2 ** len(plan.local_res)
    # First needed feature pixel per handle (x, y), then the crop origin at dense_res.
    first = np.floor((centers - reach + 0.5) * (feature_res / img_resolution) - 0.5).astype(np.int64)
    start = np.floor_divide(first - 3 * (scale - 1), scale)
    x = synthesis.features(ws, until_res=plan.dense_res, noise_mode="const")
    x = _gather(x, start, plan.base_size)
    for res in plan.local_res:
        block = getattr(synthesis, f"b{res}")
        offset = synthesis.ws_offsets[res]
        x = x.to(block.block_dtype(device, False))
        start = 2 * start
        x = _layer(block.conv0, x, ws[:, offset], start, res)
        x = x[:, :, _UP_CUT:-_UP_CUT, _UP_CUT:-_UP_CUT]
        start = start + _UP_CUT
        x = _layer(block.conv1, x, ws[:, offset + 1], start, res)
        x = x[:, :, _CONV_CUT:-_CONV_CUT, _CONV_CUT:-_CONV_CUT]
        start = start + _CONV_CUT
    assert x.shape[-1] == plan.out_size, (x.shape, plan)
    assert (start <= first).all() and (start + plan.out_size >= first + plan.need).all()
    return x.to(torch.float32), torch.as_tensor(start, dtype=torch.float32, device=device)


def _layer(layer: torch.nn.Module, x: torch.Tensor, w: torch.Tensor, origin: np.ndarray, res: int) -> torch.Tensor:
    """SynthesisLayer.forward (noise_mode='const') on crops whose output starts at `origin`."""
    batch = x.shape[0]
    styles = layer.styles(w).expand(batch, -1)
    size = x.shape[-1] * layer.up
    noise = None
    if layer.use_noise:
        noise = _gather(layer.noise_const[None, None], origin, size) * layer.noise_strength
    x = modulated_conv2d(
        x,
        layer.weight,
        styles,
        noise=noise,
        up=layer.up,
        padding=layer.padding,
        resample_filter=layer.resample_filter,
        fused_modconv=False,
    )
    x = bias_act(x, layer.bias, act=layer.activation, gain=layer.act_gain, clamp=layer.conv_clamp)
    if (origin < 0).any() or (origin + size > res).any():
        # The full map is zero-padded at every layer: zero what lies off the map.
        x = x * _inside(origin, size, res, x.device).to(x.dtype)
    return x


def _gather(x: torch.Tensor, start: np.ndarray, size: int) -> torch.Tensor:
    """(1, C, H, W) map -> (N, C, size, size) crops starting at start (N, 2) (x, y), zeros off the map."""
    height = x.shape[-1]
    pad_lo = int(max(0, -start.min()))
    pad_hi = int(max(0, (start + size).max() - height))
    if pad_lo or pad_hi:
        x = F.pad(x, (pad_lo, pad_hi, pad_lo, pad_hi))
    crops = [x[0, :, sy + pad_lo : sy + pad_lo + size, sx + pad_lo : sx + pad_lo + size] for sx, sy in start.tolist()]
    return torch.stack(crops)


def _inside(start: np.ndarray, size: int, res: int, device: torch.device) -> torch.Tensor:
    """(N, 1, size, size) 1 where the crop pixel lies on the res x res map."""
    span = torch.arange(size, device=device)
    st = torch.as_tensor(start, device=device)
    xs = st[:, 0:1] + span  # (N, size)
    ys = st[:, 1:2] + span
    ok_x = (xs >= 0) & (xs < res)
    ok_y = (ys >= 0) & (ys < res)
    return (ok_y[:, :, None] & ok_x[:, None, :])[:, None].to(torch.float32)
