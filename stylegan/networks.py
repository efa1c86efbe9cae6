"""The StyleGAN2 generator (config-f, skip architecture) in pure PyTorch.

Architecture, parameter and buffer names follow NVlabs stylegan2-ada-pytorch
`training/networks.py` (the generator DragGAN uses), so an NVlabs state dict
loads with `strict=True`: `mapping.fc0.weight`, `mapping.w_avg`,
`synthesis.b4.const`, `synthesis.b64.conv0.affine.weight`,
`synthesis.b64.conv0.noise_const`, `synthesis.b64.torgb.weight`, ...
Weights are stored unscaled and the equalised-learning-rate gains are applied
at run time, as there. The mapping network (and `FullyConnectedLayer`) is in
`stylegan.mapping`; this module holds the synthesis network and the `Generator`.

Differences from the reference, none of which changes the output:
  * no CUDA extension (see `stylegan.ops`);
  * `synthesis.features(ws, until_res)` stops after the requested block;
  * modulated convolutions default to the unfused path, whose backward pass
    needs no per-sample weight gradients;
  * fp16 blocks only run in fp16 on CUDA (elsewhere they fall back to fp32,
    unless `reduced_precision` asks for fp16 / bf16 there, e.g. in tests).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from common.device import autocast_off
from stylegan.mapping import FullyConnectedLayer, MappingNetwork
from stylegan.ops import bias_act, modulated_conv2d, setup_filter, upsample2d

NOISE_MODES = ("const", "random", "none")
RESAMPLE_TAPS = (1, 3, 3, 1)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + noise + bias + lrelu, optionally 2x upsampling."""

    def __init__(
        self,
        in_channels: int,  # Number of input channels.
        out_channels: int,  # Number of output channels.
        w_dim: int,  # Intermediate latent (W) dimensionality.
        resolution: int,  # Output resolution of this layer.
        kernel_size: int = 3,  # Convolution kernel size.
        up: int = 1,  # Upsampling factor, 1 or 2.
        use_noise: bool = True,  # Add per-pixel noise?
        activation: str = "lrelu",  # Activation function.
        conv_clamp: float | None = None,  # Clamp the output to +-X, None = no clamping.
    ):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_TAPS))
        self.padding = kernel_size // 2
        self.act_gain = math.sqrt(2.0) if activation == "lrelu" else 1.0
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def styles(self, w: torch.Tensor) -> torch.Tensor:
        """(B, in_channels) float32 styles `affine(w)`, with autocast switched off.

        NVlabs computes the styles in fp32 even in fp16 blocks; they scale every input
        channel and feed the demodulation (`stylegan.ops.demodulation_coefficients`), so
        they are kept out of autocast's bf16 / fp16 matrix products.
        """
        with autocast_off(w.device.type):
            return self.affine(w.float())

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "const",
        fused_modconv: bool = False,
        gain: float = 1.0,
    ) -> torch.Tensor:
        """(B, I, R/up, R/up), w (B, w_dim) -> (B, O, R, R)."""
        styles = self.styles(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = (
                torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
            )
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            fused_modconv=fused_modconv,
        )
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to RGB, without demodulation."""

    def __init__(
        self,
        in_channels: int,  # Number of input channels.
        out_channels: int,  # Number of image channels.
        w_dim: int,  # Intermediate latent (W) dimensionality.
        kernel_size: int = 1,  # Convolution kernel size.
        conv_clamp: float | None = None,  # Clamp the output to +-X, None = no clamping.
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def styles(self, w: torch.Tensor) -> torch.Tensor:
        """(B, in_channels) float32 styles without the weight gain (see `SynthesisLayer.styles`)."""
        with autocast_off(w.device.type):
            return self.affine(w.float())

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = False) -> torch.Tensor:
        """(B, I, R, R), w (B, w_dim) -> (B, img_channels, R, R)."""
        styles = self.styles(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: [conv0 (up)] conv1, toRGB (skip)."""

    def __init__(
        self,
        in_channels: int,  # Input channels, 0 = first block (learned constant).
        out_channels: int,  # Output channels.
        w_dim: int,  # Intermediate latent (W) dimensionality.
        resolution: int,  # Resolution of this block.
        img_channels: int,  # Number of output image channels.
        is_last: bool,  # Is this the last block?
        use_fp16: bool = False,  # Run this block in fp16 (on CUDA only)?
        conv_clamp: float | None = None,  # Clamp conv outputs to +-X, None = no clamping.
    ):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.use_fp16 = use_fp16
        # Set by `reduced_precision`: the dtype of an fp16 block on every device (None = fp16 on CUDA only).
        self.reduced_dtype: torch.dtype | None = None
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_TAPS))
        self.num_conv = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.num_conv += 1
        # Skip architecture: every block has a toRGB.
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_torgb = 1

    def block_dtype(self, device: torch.device, force_fp32: bool) -> torch.dtype:
        """fp16 for fp16 blocks on CUDA; fp32 otherwise, unless `reduced_precision` says else."""
        if not self.use_fp16 or force_fp32:
            return torch.float32
        if self.reduced_dtype is not None:
            return self.reduced_dtype
        return torch.float16 if device.type == "cuda" else torch.float32

    def forward_features(
        self,
        x: torch.Tensor | None,
        ws: torch.Tensor,
        batch: int,
        noise_mode: str,
        force_fp32: bool,
        fused_modconv: bool,
    ) -> torch.Tensor:
        """Runs the convolutions only.

        Args:
            x: (B, in_channels, R/2, R/2) or None for the first block.
            ws: (B, num_conv [+ num_torgb], w_dim); only the first num_conv rows are used.

        Returns:
            (B, out_channels, R, R) in the block's dtype.
        """
        device = ws.device
        dtype = self.block_dtype(device, force_fp32)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([batch, 1, 1, 1])
            return self.conv1(x, ws[:, 0], noise_mode=noise_mode, fused_modconv=fused_modconv)
        x = x.to(dtype)
        x = self.conv0(x, ws[:, 0], noise_mode=noise_mode, fused_modconv=fused_modconv)
        return self.conv1(x, ws[:, 1], noise_mode=noise_mode, fused_modconv=fused_modconv)

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
        fused_modconv: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (features (B, C, R, R), image (B, img_channels, R, R) float32)."""
        x = self.forward_features(x, ws, ws.shape[0], noise_mode, force_fp32, fused_modconv)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, ws[:, self.num_conv], fused_modconv=fused_modconv).to(torch.float32)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws -> image, through blocks b4, b8, ..., b{img_resolution}."""

    def __init__(
        self,
        w_dim: int,  # Intermediate latent (W) dimensionality.
        img_resolution: int,  # Output resolution, a power of two >= 4.
        img_channels: int,  # Number of output colour channels.
        channel_base: int = 32768,  # Overall multiplier for the number of channels.
        channel_max: int = 512,  # Maximum number of channels in any layer.
        num_fp16_res: int = 0,  # Use fp16 for the N highest resolutions (CUDA only).
        conv_clamp: float | None = None,  # Clamp conv outputs to +-X, None = no clamping.
    ):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.channels = channels
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        self.ws_offsets: dict[int, int] = {}
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(
                in_channels,
                channels[res],
                w_dim,
                res,
                img_channels,
                is_last=(res == img_resolution),
                use_fp16=(res >= fp16_resolution),
                conv_clamp=conv_clamp,
            )
            self.ws_offsets[res] = self.num_ws
            self.num_ws += block.num_conv
            if block.is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def _check(self, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        return ws.to(torch.float32)

    def _block_ws(self, ws: torch.Tensor, res: int) -> torch.Tensor:
        block = getattr(self, f"b{res}")
        return ws.narrow(1, self.ws_offsets[res], block.num_conv + block.num_torgb)

    def forward(
        self, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False, fused_modconv: bool = False
    ) -> torch.Tensor:
        """Synthesises images.

        Args:
            ws: (B, num_ws, w_dim) latents.
            noise_mode: 'const' (the stored noise_const buffers), 'random' or 'none'.
            force_fp32: never use fp16, even in fp16 blocks on CUDA.
            fused_modconv: use grouped convolutions with per-sample weights.

        Returns:
            img (B, img_channels, R, R) float32 in about [-1, 1].
        """
        return self.image_and_features(ws, noise_mode, force_fp32, fused_modconv)[0]

    def image_and_features(
        self, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False, fused_modconv: bool = False
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Synthesises images and returns every block's output as well (arguments as `forward`).

        Returns:
            (img (B, img_channels, R, R) float32 in about [-1, 1],
             {res: (B, C_res, res, res) in the block's dtype}) with one feature entry per
            block, in block order (DragGAN uses res 128 = index 5).
        """
        ws = self._check(ws, noise_mode)
        x = img = None
        features: dict[int, torch.Tensor] = {}
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(
                x,
                img,
                self._block_ws(ws, res),
                noise_mode=noise_mode,
                force_fp32=force_fp32,
                fused_modconv=fused_modconv,
            )
            features[res] = x
        return img, features

    def features(
        self,
        ws: torch.Tensor,
        until_res: int = 128,
        noise_mode: str = "const",
        force_fp32: bool = False,
        fused_modconv: bool = False,
    ) -> torch.Tensor:
        """Output of block `b{until_res}`, computing no block above it and no toRGB.

        Args:
            ws: (B, num_ws, w_dim) latents (rows of higher blocks are ignored).
            until_res: resolution of the block whose output is wanted.

        Returns:
            (B, C, until_res, until_res) float32 feature map, equal to
            `image_and_features(ws)[1][until_res]`.
        """
        ws = self._check(ws, noise_mode)
        if until_res not in self.block_resolutions:
            raise ValueError(f"until_res must be one of {self.block_resolutions}, got {until_res}")
        x = None
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x = block.forward_features(x, self._block_ws(ws, res), ws.shape[0], noise_mode, force_fp32, fused_modconv)
            if res == until_res:
                break
        return x.to(torch.float32)


@contextmanager
def reduced_precision(G: nn.Module, dtype: torch.dtype = torch.float16) -> Iterator[None]:
    """Runs G's fp16 blocks (the `num_fp16_res` highest resolutions) in `dtype` on any device.

    Outside this context those blocks use fp16 on CUDA only, as NVlabs' code does.
    It exists so that the reduced-precision path, conv_clamp included, can be run and
    tested on a CPU: fp16 convolutions where this PyTorch supports them on the
    device, or bf16 as a stand-in (same width of mantissa trade-off, fp32's range).
    `force_fp32=True` still wins. G is restored on exit.

    Args:
        G: a `Generator` (or its `synthesis`).
        dtype: torch.float16 or torch.bfloat16.
    """
    if dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float16 or torch.bfloat16, got {dtype}")
    blocks = [m for m in G.modules() if isinstance(m, SynthesisBlock)]
    saved = [b.reduced_dtype for b in blocks]
    for b in blocks:
        b.reduced_dtype = dtype
    try:
        yield
    finally:
        for b, old in zip(blocks, saved):
            b.reduced_dtype = old


class Generator(nn.Module):
    """StyleGAN2 generator: `mapping` (z -> ws) followed by `synthesis` (ws -> image)."""

    def __init__(
        self,
        z_dim: int = 512,  # Input latent (Z) dimensionality.
        c_dim: int = 0,  # Conditioning label (C) dimensionality, 0 = unconditional.
        w_dim: int = 512,  # Intermediate latent (W) dimensionality.
        img_resolution: int = 1024,  # Output resolution.
        img_channels: int = 3,  # Number of output colour channels.
        channel_base: int = 32768,  # Overall multiplier for the number of channels.
        channel_max: int = 512,  # Maximum number of channels in any layer.
        num_fp16_res: int = 0,  # fp16 in the N highest-resolution blocks (CUDA only).
        conv_clamp: float | None = None,  # Clamp conv outputs to +-X, None = no clamping.
        mapping_layers: int = 8,  # Number of mapping-network layers.
        mapping_lr_multiplier: float = 0.01,  # Learning-rate multiplier of the mapping network.
        w_avg_beta: float = 0.995,  # Decay of the running w average (truncation centre).
    ):
        super().__init__()
        self.init_kwargs: dict[str, Any] = dict(
            z_dim=z_dim,
            c_dim=c_dim,
            w_dim=w_dim,
            img_resolution=img_resolution,
            img_channels=img_channels,
            channel_base=channel_base,
            channel_max=channel_max,
            num_fp16_res=num_fp16_res,
            conv_clamp=conv_clamp,
            mapping_layers=mapping_layers,
            mapping_lr_multiplier=mapping_lr_multiplier,
            w_avg_beta=w_avg_beta,
        )
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(
            w_dim,
            img_resolution,
            img_channels,
            channel_base=channel_base,
            channel_max=channel_max,
            num_fp16_res=num_fp16_res,
            conv_clamp=conv_clamp,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim,
            c_dim,
            w_dim,
            self.num_ws,
            num_layers=mapping_layers,
            lr_multiplier=mapping_lr_multiplier,
            w_avg_beta=w_avg_beta,
        )
        # What the native checkpoint format records beside the weights (plain str/int/float/bool values),
        # e.g. {'face_preset': 'utkface'}: the alignment framing of the training images.
        self.metadata: dict[str, Any] = {}

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        **synthesis_kwargs,
    ) -> torch.Tensor:
        """z (B, z_dim) -> image (B, img_channels, R, R) float32 in about [-1, 1]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)

    @property
    def device(self) -> torch.device:
        """Device of the generator's parameters."""
        return self.synthesis.b4.const.device

    @torch.no_grad()
    def mean_w(self, num_samples: int = 10000, seed: int = 0, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimates the mean and std of W from mapped random z (as NVlabs' projector).

        Returns:
            (w_mean (1, w_dim), w_std scalar tensor) on the generator's device,
            w_std = sqrt(mean squared distance to the mean).
        """
        gen = torch.Generator(device="cpu").manual_seed(seed)
        acc = []
        for start in range(0, num_samples, batch):
            n = min(batch, num_samples - start)
            z = torch.randn([n, self.z_dim], generator=gen).to(self.device)
            c = torch.zeros([n, self.c_dim], device=self.device) if self.c_dim else None
            acc.append(self.mapping(z, c)[:, 0])
        w = torch.cat(acc)
        w_mean = w.mean(dim=0, keepdim=True)
        w_std = ((w - w_mean).square().sum() / len(w)).sqrt()
        return w_mean, w_std
