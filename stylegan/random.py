"""Seeded, randomly initialised generators: the one builder for untrained models.

The `random-64` checkpoint of the registry, the tiny generators of the tests and the
random stand-ins of the benchmarks all come from `random_generator`. It draws every
weight from its own seed inside `common.random.seeded`, so the caller's global RNG state
(CPU, CUDA, MPS) is the same after the call as before it, and the same arguments give
bit-identical weights.
"""

from __future__ import annotations

from typing import Any

import torch

from common.random import seeded
from stylegan.networks import Generator

__all__ = ["random_generator"]


def random_generator(
    img_resolution: int,
    seed: int = 0,
    *,
    noise_strength: float = 0.0,
    w_avg_samples: int | None = 1000,
    output_std: float | None = None,
    device: torch.device | str = "cpu",
    **generator_kwargs: Any,
) -> Generator:
    """A seeded StyleGAN2 generator with random (untrained) weights, built on the CPU.

    Every parameter is drawn as `Generator.__init__` draws it, right after seeding with
    `seed`; then each layer's `noise_const` is redrawn, in `named_buffers` order, from a
    CPU `torch.Generator` seeded with `seed + 1` (so the constant noise does not depend on
    how many weights come before it); `mapping.w_avg` is the mean of `w_avg_samples` mapped
    z (seed `seed`), so truncation behaves as on a trained model. The global RNG is left as
    it was on every device (`common.random.seeded`).

    Args:
        img_resolution: output resolution R (a power of two >= 4).
        seed: seed of the weights (the noise uses `seed + 1`, w_avg uses `seed`).
        noise_strength: value of every layer's `noise_strength` (the Generator's init: 0,
            which makes the output independent of the noise).
        w_avg_samples: number of z mapped for `mapping.w_avg`; None leaves w_avg at its
            initial zeros.
        output_std: scale the toRGB layers (the image is linear in them) so that the images of
            8 random z (seed `seed`) have this standard deviation: 0.5 keeps them in about
            [-1, 1] like a trained model's, for inversion tests and benchmarks. None = as drawn.
        device: where the generator is moved after it is built.
        **generator_kwargs: the other `Generator` constructor arguments (z_dim, w_dim,
            channel_base, channel_max, mapping_layers, num_fp16_res, conv_clamp, ...).

    Returns:
        Generator in eval mode with requires_grad False, on `device`; its images are float
        (B, 3, R, R), roughly zero-mean noise-like patterns.
    """
    with seeded(seed), torch.no_grad():
        G = Generator(img_resolution=img_resolution, **generator_kwargs)
        noise_gen = torch.Generator().manual_seed(seed + 1)
        for name, buf in G.named_buffers():
            if name.endswith("noise_const"):
                buf.copy_(torch.randn(buf.shape, generator=noise_gen))
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(noise_strength)
        if w_avg_samples:
            G.mapping.w_avg.copy_(G.mean_w(num_samples=w_avg_samples, seed=seed)[0][0])
        if output_std is not None:
            std = float(G(torch.randn([8, G.z_dim], generator=torch.Generator().manual_seed(seed))).std())
            for name, p in G.named_parameters():
                if name.endswith((".torgb.weight", ".torgb.bias")):
                    p.mul_(output_std / std)
    return G.eval().requires_grad_(False).to(device)
