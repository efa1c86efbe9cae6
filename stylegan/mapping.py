"""The mapping network of the StyleGAN2 generator: z (and a label) -> w, and its linear layer.

Parameter and buffer names follow NVlabs stylegan2-ada-pytorch `training/networks.py`
(`mapping.fc0.weight`, `mapping.embed.bias`, `mapping.w_avg`), so their state dicts load
with `strict=True`. `FullyConnectedLayer` is also the discriminator's (`training`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stylegan.ops import bias_act, normalize_2nd_moment

__all__ = ["FullyConnectedLayer", "MappingNetwork"]


class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer with a fused bias and activation."""

    def __init__(
        self,
        in_features: int,  # Number of input features.
        out_features: int,  # Number of output features.
        bias: bool = True,  # Learn a bias?
        activation: str = "linear",  # 'linear' or 'lrelu'.
        lr_multiplier: float = 1.0,  # Learning-rate multiplier of weight and bias.
        bias_init: float = 0.0,  # Initial value of the bias.
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_features) -> (B, out_features)."""
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    """z (and optional class label c) -> w, broadcast to `num_ws` rows."""

    def __init__(
        self,
        z_dim: int,  # Input latent (Z) dimensionality, 0 = no latent.
        c_dim: int,  # Conditioning label (C) dimensionality, 0 = no label.
        w_dim: int,  # Intermediate latent (W) dimensionality.
        num_ws: int | None,  # Number of ws to output, None = do not broadcast.
        num_layers: int = 8,  # Number of mapping layers.
        embed_features: int | None = None,  # Label embedding size, None = same as w_dim.
        layer_features: int | None = None,  # Hidden layer width, None = same as w_dim.
        activation: str = "lrelu",  # Activation of the hidden layers.
        lr_multiplier: float = 0.01,  # Learning-rate multiplier of the mapping layers.
        w_avg_beta: float | None = 0.995,  # Decay of the running w average, None = no tracking.
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(
                features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        """Maps latents to W.

        Args:
            z: (B, z_dim) float latents.
            c: (B, c_dim) labels, or None when c_dim == 0.
            truncation_psi: 1 = no truncation; 0 = every w is w_avg.
            truncation_cutoff: truncate only the first this many rows, None = all.
            update_emas: update the running `w_avg` (training only).

        Returns:
            ws (B, num_ws, w_dim) float32, or w (B, w_dim) when num_ws is None.
        """
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must have shape (B, {self.z_dim}), got {None if z is None else tuple(z.shape)}")
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"this generator is class-conditional: pass c of shape (B, {self.c_dim})")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x
