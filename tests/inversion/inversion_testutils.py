"""Helpers shared by the inversion tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np
import torch


def make_inrange_generator(factory, **kwargs):
    """A tiny random generator whose images stay in about [-1, 1], as a trained one's do.

    The raw random generator saturates a third of its pixels, so the uint8
    target (clamped) is not reachable exactly; scaling every toRGB weight and
    bias (the image is linear in them) by 0.4 fixes that.
    """
    G = factory(**kwargs)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith((".torgb.weight", ".torgb.bias")):
                p.mul_(0.4)
    return G


def synthesize_target(G, seed: int = 5, truncation_psi: float = 1.0):
    """(ws_true (1, num_ws, w_dim), uint8 (R, R, 3) image of G at ws_true)."""
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ws = G.mapping(z, truncation_psi=truncation_psi)
        img = G.synthesis(ws, noise_mode="const")
    target = (img[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return ws, np.ascontiguousarray(target)


def state_dict_copy(G) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in G.state_dict().items()}


def assert_state_dict_equal(G, reference: dict[str, torch.Tensor]) -> None:
    current = G.state_dict()
    assert current.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(current[key], value), f"{key} changed"
