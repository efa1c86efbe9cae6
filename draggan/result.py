"""The result of a drag and the image conversion used at the API edge."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from common.images import uint8_from_network
from draggan.errors import DragError

__all__ = ["DragResult", "to_uint8_image", "render_image"]


@dataclass(frozen=True)
class DragResult:
    """What `drag` returns. Points are (x, y) image pixels of the generator's R x R output."""

    ws: torch.Tensor  # (1, num_ws, w_dim) float32 final latent, detached, on the CPU
    handles: np.ndarray  # (N, 2) float64 final (tracked) handle positions
    history: np.ndarray  # (steps + 1, N, 2) float64 handle positions, history[0] = the input handles
    steps: int  # optimiser steps taken
    converged: bool  # every handle ended within the stop distance of its target
    image: np.ndarray  # (R, R, 3) uint8 RGB image of the final ws
    frames: list[np.ndarray] = field(default_factory=list)  # (R, R, 3) uint8 progress frames (frame_every > 0)
    frame_steps: list[int] = field(default_factory=list)  # the step of each frame (0 = the initial image)
    frame_latents: list[torch.Tensor] = field(default_factory=list)  # (1, num_ws, w_dim) float32 CPU copies of ws
    # (latent_every > 0); `render_image(G, frame_latents[i])` is the image the loop would render at that step
    latent_steps: list[int] = field(default_factory=list)  # the step of each latent (0, every k, the last)
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (steps,) float64 loss of each step
    stopped_by_callback: bool = False  # the callback asked to stop


def to_uint8_image(img: torch.Tensor) -> np.ndarray:
    """Converts one generator image to an RGB array (`common.images.uint8_from_network`, NVlabs' rounding).

    Args:
        img: (1, 3, R, R) or (3, R, R) float image in about [-1, 1].

    Returns:
        (R, R, 3) uint8: clamp(img * 127.5 + 128, 0, 255), truncated.
    """
    if img.ndim == 4:
        if img.shape[0] != 1:
            raise DragError(f"to_uint8_image converts one image, got a batch of shape {tuple(img.shape)}")
        img = img[0]
    if img.ndim != 3 or img.shape[0] != 3:
        raise DragError(f"img must have shape (1, 3, H, W) or (3, H, W), got {tuple(img.shape)}")
    return uint8_from_network(img)


def render_image(G: torch.nn.Module, ws: torch.Tensor) -> np.ndarray:
    """The full image of `ws` as `drag` renders it (noise_mode 'const', no autocast, float32).

    Args:
        G: the generator (its parameters' device is used).
        ws: (1, num_ws, w_dim) float latent, any device.

    Returns:
        (R, R, 3) uint8 RGB.
    """
    device = next(G.parameters()).device
    with torch.no_grad():
        return to_uint8_image(G.synthesis(ws.to(device=device, dtype=torch.float32), noise_mode="const"))
