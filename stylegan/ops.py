"""Resampling, bias+activation and modulated convolution in plain PyTorch.

These replace the CUDA extensions of NVlabs stylegan2-ada-pytorch
(`torch_utils/ops/upfirdn2d.py`, `bias_act.py`, `conv2d_resample.py`) with
ordinary PyTorch operators, so nothing has to be compiled and every op runs
on cpu, cuda and mps. The arithmetic follows the reference implementations
of those files (read for facts, not copied) so that outputs agree to float32
rounding.

Convention: tensors are NCHW; filters are 2-D and applied as convolutions
(flipped, as NVlabs' `upfirdn2d` does by default); StyleGAN's are normalised to
sum 1 and symmetric.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from common.device import autocast_off

# Gains that keep unit variance through each activation (NVlabs bias_act.py).
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0)}
LRELU_SLOPE = 0.2


def setup_filter(taps: list[float] | tuple[float, ...]) -> torch.Tensor:
    """Builds the 2-D low-pass filter used for up/down-sampling.

    Args:
        taps: 1-D filter taps, e.g. (1, 3, 3, 1) as in StyleGAN2.

    Returns:
        float32 tensor (K, K), the outer product of `taps` with itself,
        normalised to sum to 1.
    """
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
    flip_filter: bool = False,
) -> torch.Tensor:
    """Upsample by zero insertion, pad, apply FIR filter, downsample.

    The filter is applied as a true convolution (NVlabs `upfirdn2d`'s default,
    `flip_filter=False`): out[i, j] = sum_{a, b} f[a, b] * padded[i + Kh-1-a, j + Kw-1-b].
    For the symmetric filters StyleGAN uses, convolution and correlation agree.

    Args:
        x: (B, C, H, W) float tensor.
        f: (Kh, Kw) filter, any (also asymmetric or non-square).
        up: integer upsampling factor.
        down: integer downsampling factor.
        padding: (left, right, top, bottom); negative values crop.
        gain: overall gain applied to the filter.
        flip_filter: apply `f` as a correlation instead (no flip), as NVlabs' flag.

    Returns:
        (B, C, H', W') with H' = (H * up + top + bottom - Kh) // down + 1.
    """
    if f.ndim != 2:
        raise ValueError(f"upfirdn2d needs a 2-D (Kh, Kw) filter, got shape {tuple(f.shape)}")
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    left, right, top, bottom = padding
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    x = x[:, :, max(-top, 0) : x.shape[2] - max(-bottom, 0), max(-left, 0) : x.shape[3] - max(-right, 0)]
    if not flip_filter:
        f = f.flip([0, 1])  # F.conv2d correlates; flipping makes it a convolution
    weight = (f * gain).to(x.dtype)[None, None].repeat(channels, 1, 1, 1)
    x = F.conv2d(x, weight, groups=channels)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsamples (B, C, H, W) to (B, C, H*up, W*up) with the FIR filter `f` (K, K)."""
    k = f.shape[-1]
    p0, p1 = (k + up - 1) // 2, (k - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    act: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Adds a per-channel bias, applies the activation, scales and clamps.

    Args:
        x: (B, C, ...) tensor; the bias runs along dim 1.
        b: (C,) bias or None.
        act: 'linear' or 'lrelu' (slope 0.2).
        gain: output scale; None means the activation's default gain.
        clamp: clamp the output to [-clamp, clamp]; None disables.

    Returns:
        Tensor of x's shape and dtype.
    """
    if b is not None:
        x = x + b.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}; use 'linear' or 'lrelu'")
    gain = ACTIVATION_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def conv2d_resample(
    x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, padding: int = 0, groups: int = 1
) -> torch.Tensor:
    """2-D convolution, optionally preceded by a 2x FIR upsampling.

    With up == 2 this is a stride-2 transposed convolution followed by the FIR
    filter, which is how StyleGAN2 upsamples (weights are *not* flipped, as in
    NVlabs' `flip_weight=False` for the up path).

    Args:
        x: (B, I*groups, H, W) input.
        w: (O*groups... , I, k, k) weights, as for `F.conv2d` with `groups`.
        f: (K, K) FIR filter, required when up > 1.
        up: 1 or 2.
        padding: symmetric padding of the convolution.
        groups: convolution groups.

    Returns:
        (B, O, H*up, W*up) when padding = k // 2.
    """
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    assert f is not None and up == 2
    out_total, in_per_group, kh, kw = w.shape
    # Transposed convolution wants (groups * in, out / groups, k, k).
    w = w.reshape(groups, out_total // groups, in_per_group, kh, kw)
    w = w.transpose(1, 2).reshape(groups * in_per_group, out_total // groups, kh, kw)
    x = F.conv_transpose2d(x, w, stride=up, groups=groups)
    fk = f.shape[-1]
    p0 = padding + (fk + up - 1) // 2 - (kw - 1)
    p1 = padding + (fk - up) // 2 - (kw - up)
    return upfirdn2d(x, f, padding=(p0, p1, p0, p1), gain=up * up)


def demodulation_coefficients(weight: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """StyleGAN2's demodulation factors 1 / ||w_o * s||, always computed in float32.

    The sum of squares runs over I * k * k terms (4608 for a 512-channel 3x3 layer);
    in bf16 / fp16, which autocast would pick for the matrix product, its rounding
    error (about 2^-8 relative in bf16) scales every output channel of every layer
    differently. It is computed with autocast switched off and fp32 inputs instead,
    as the statistics of activations are (NVlabs runs the same computation in fp32
    whenever the block itself is in fp32).

    Args:
        weight: (O, I, k, k) weight, any float dtype.
        styles: (B, I) styles, any float dtype.
        eps: added to the sum of squares (NVlabs: 1e-8).

    Returns:
        (B, O) float32 coefficients.
    """
    with autocast_off(styles.device.type):
        # sum over (I, k, k) of (w * s)^2 = sum_i s_i^2 * sum_k w_oik^2
        wsq = weight.float().square().sum(dim=[2, 3])  # (O, I)
        return (styles.float().square() @ wsq.t() + eps).rsqrt()  # (B, O)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    fused_modconv: bool = False,
) -> torch.Tensor:
    """StyleGAN2 modulated (and optionally demodulated) convolution.

    Two mathematically equal paths:
      * unfused (default): the style scales the *activations*, the shared
        weight is convolved once and demodulation scales the output. Its
        backward needs no per-sample weight gradient, which makes DragGAN's
        latent optimisation with a frozen generator cheap.
      * fused: per-sample weights in a grouped convolution (NVlabs' inference
        path).

    Args:
        x: (B, I, H, W) input activations.
        weight: (O, I, k, k) shared weight.
        styles: (B, I) per-sample styles.
        noise: broadcastable to (B, O, H', W') or None; added after
            demodulation, before the bias.
        up: 1 or 2.
        padding: convolution padding.
        resample_filter: (K, K) filter for up == 2.
        demodulate: normalise each output channel's weight norm to 1.
        fused_modconv: use the grouped-convolution path.

    Returns:
        (B, O, H*up, W*up) tensor in x's dtype.
    """
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Pre-normalise to avoid fp16 overflow; demodulation cancels the scale.
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    dcoefs = demodulation_coefficients(weight, styles) if demodulate else None
    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if dcoefs is not None:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw).to(x.dtype)
    x = conv2d_resample(x, w, f=resample_filter, up=up, padding=padding, groups=batch)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scales x so its mean square along `dim` is 1 (StyleGAN's pixel norm)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
