"""The result of a drag."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["DragResult"]


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
    # (latent_every > 0); `stylegan.uint8_from_ws(G, frame_latents[i])[0]` is the image the loop renders at that step
    latent_steps: list[int] = field(default_factory=list)  # the step of each latent (0, every k, the last)
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (steps,) float64 loss of each step
    stopped_by_callback: bool = False  # the callback asked to stop
