"""The StyleGAN2 discriminator (residual architecture) in pure PyTorch.

Architecture, parameter and buffer names follow NVlabs stylegan2-ada-pytorch
`training/networks.py` (`Discriminator`, `DiscriminatorBlock` with
architecture='resnet', `DiscriminatorEpilogue`), so an unconditional NVlabs
discriminator state dict loads with `strict=True`: `b128.fromrgb.weight`,
`b128.conv0.weight`, `b128.conv1.weight`, `b128.skip.weight`, `b4.conv.weight`,
`b4.fc.weight`, `b4.out.weight`, ... Weights are stored unscaled and the
equalised-learning-rate gains are applied at run time.

Downsampling is StyleGAN2's: low-pass FIR filter (1, 3, 3, 1) with `stylegan.ops.upfirdn2d`,
then a stride-2 convolution (NVlabs `conv2d_resample` with down=2).

Mixed precision: the discriminator has no fp16 switch of its own; the trainer runs it
under `torch.autocast` on CUDA (bf16), and `conv_clamp` bounds activations if wanted.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from stylegan.networks import RESAMPLE_TAPS, FullyConnectedLayer
from stylegan.ops import bias_act, setup_filter, upfirdn2d

__all__ = ["Conv2dLayer", "MinibatchStdLayer", "DiscriminatorBlock", "DiscriminatorEpilogue", "Discriminator"]


def _conv2d_down(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, padding: int, down: int) -> torch.Tensor:
    """Convolution, optionally preceded by the FIR low-pass of a 2x downsampling.

    Same padding arithmetic as NVlabs conv2d_resample (down=2): a K x K filter adds
    (K - down + 1) // 2 before and (K - down) // 2 after, then the convolution runs
    with stride `down`, giving (H / down, W / down) for a `padding` = k // 2 kernel.
    """
    if down == 1:
        return torch.nn.functional.conv2d(x, w, padding=padding)
    fk = f.shape[-1]
    p0 = padding + (fk - down + 1) // 2
    p1 = padding + (fk - down) // 2
    x = upfirdn2d(x, f, padding=(p0, p1, p0, p1))
    return torch.nn.functional.conv2d(x, w, stride=down)


class Conv2dLayer(nn.Module):
    """Equalised-learning-rate convolution + bias + activation, optionally 2x downsampling."""

    def __init__(
        self,
        in_channels: int,  # Number of input channels.
        out_channels: int,  # Number of output channels.
        kernel_size: int,  # Width and height of the kernel.
        bias: bool = True,  # Learn a bias?
        activation: str = "linear",  # 'linear' or 'lrelu'.
        down: int = 1,  # Downsampling factor, 1 or 2.
        conv_clamp: float | None = None,  # Clamp the output to +-X, None = no clamping.
    ):
        super().__init__()
        if down not in (1, 2):
            raise ValueError(f"down must be 1 or 2, got {down}")
        self.activation = activation
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_TAPS))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = math.sqrt(2.0) if activation == "lrelu" else 1.0
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """(B, I, H, W) -> (B, O, H / down, W / down)."""
        w = self.weight * self.weight_gain
        x = _conv2d_down(x, w.to(x.dtype), self.resample_filter, self.padding, self.down)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=act_gain, clamp=act_clamp)


class MinibatchStdLayer(nn.Module):
    """Appends the per-group standard deviation of the features as extra channels.

    As NVlabs `MinibatchStdLayer`: the batch is split into groups of `group_size`
    samples (sample i belongs to group i % (B / group_size)); within a group, the
    std over samples is averaged over (channels / num_channels, H, W) and broadcast
    back to every sample of the group as `num_channels` constant feature maps.
    """

    def __init__(
        self,
        group_size: int,  # Samples per group, None = the whole batch.
        num_channels: int = 1,  # Number of std channels appended.
    ):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C + num_channels, H, W); B must divide into groups."""
        batch, channels, height, width = x.shape
        group = min(self.group_size, batch) if self.group_size is not None else batch
        if batch % group != 0:
            raise ValueError(
                f"batch size {batch} is not a multiple of the minibatch-std group size {group}; "
                f"use a batch that is a multiple of {group}"
            )
        nf = self.num_channels
        y = x.reshape(group, -1, nf, channels // nf, height, width)  # [G, n, F, c, H, W]
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()  # [n, F, c, H, W]
        y = y.mean(dim=[2, 3, 4])  # [n, F]
        y = y.reshape(-1, nf, 1, 1).repeat(group, 1, height, width)  # [B, F, H, W]
        return torch.cat([x, y.to(x.dtype)], dim=1)


class DiscriminatorBlock(nn.Module):
    """One resolution of the residual discriminator: [fromRGB] conv0, conv1 (down) + skip (down)."""

    def __init__(
        self,
        in_channels: int,  # Input channels, 0 = first block (reads the image).
        tmp_channels: int,  # Channels of the intermediate feature map.
        out_channels: int,  # Output channels.
        resolution: int,  # Input resolution of this block.
        img_channels: int,  # Number of image colour channels.
        conv_clamp: float | None = None,  # Clamp conv outputs to +-X, None = no clamping.
    ):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_TAPS))
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(
                img_channels, tmp_channels, kernel_size=1, activation="lrelu", conv_clamp=conv_clamp
            )
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, kernel_size=3, activation="lrelu", down=2, conv_clamp=conv_clamp
        )
        self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> torch.Tensor:
        """(B, in_channels, R, R) features, or the image (B, img_channels, R, R) for the
        first block -> (B, out_channels, R/2, R/2)."""
        if self.in_channels == 0:
            x = self.fromrgb(img)
        # sqrt(0.5) keeps the variance of the residual sum (NVlabs resnet architecture).
        y = self.skip(x, gain=np.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=np.sqrt(0.5))
        return y + x


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: minibatch std, 3x3 conv, fully connected, output logit."""

    def __init__(
        self,
        in_channels: int,  # Number of input channels.
        resolution: int,  # Resolution of this block (4).
        mbstd_group_size: int | None = 4,  # Minibatch-std group size, None = whole batch, 0 = off.
        mbstd_num_channels: int = 1,  # Number of minibatch-std channels, 0 = off.
        conv_clamp: float | None = None,  # Clamp conv outputs to +-X, None = no clamping.
    ):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        use_mbstd = mbstd_num_channels > 0 and mbstd_group_size != 0
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if use_mbstd else None
        extra = mbstd_num_channels if use_mbstd else 0
        self.conv = Conv2dLayer(
            in_channels + extra, in_channels, kernel_size=3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 4, 4) -> (B, 1) float32 logits."""
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x).to(torch.float32)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator: image (B, C, R, R) -> realness logit (B, 1)."""

    def __init__(
        self,
        img_resolution: int,  # Input resolution, a power of two >= 8.
        img_channels: int = 3,  # Number of input colour channels.
        channel_base: int = 32768,  # Overall multiplier for the number of channels.
        channel_max: int = 512,  # Maximum number of channels in any layer.
        mbstd_group_size: int | None = 4,  # Minibatch-std group size, None = whole batch, 0 = off.
        mbstd_num_channels: int = 1,  # Number of minibatch-std channels, 0 = off.
        conv_clamp: float | None = None,  # Clamp conv outputs to +-X, None = no clamping.
    ):
        super().__init__()
        if img_resolution < 8 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
        self.init_kwargs = dict(
            img_resolution=img_resolution,
            img_channels=img_channels,
            channel_base=channel_base,
            channel_max=channel_max,
            mbstd_group_size=mbstd_group_size,
            mbstd_num_channels=mbstd_num_channels,
            conv_clamp=conv_clamp,
        )
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        self.channels = channels
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(
                in_channels, channels[res], channels[res // 2], res, img_channels, conv_clamp=conv_clamp
            )
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(
            channels[4],
            resolution=4,
            mbstd_group_size=mbstd_group_size,
            mbstd_num_channels=mbstd_num_channels,
            conv_clamp=conv_clamp,
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Scores images.

        Args:
            img: (B, img_channels, img_resolution, img_resolution) float images in
                about [-1, 1]; B must be a multiple of the minibatch-std group size
                (or smaller than it).

        Returns:
            (B, 1) float32 logits; larger means "more real".
        """
        r = self.img_resolution
        if img.ndim != 4 or img.shape[1] != self.img_channels or img.shape[2] != r or img.shape[3] != r:
            raise ValueError(f"img must have shape (B, {self.img_channels}, {r}, {r}), got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        return self.b4(x)
