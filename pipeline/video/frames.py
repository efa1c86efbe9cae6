"""Per-frame work of a video edit: a fast warm-started inversion and the smoothed composite layers.

    frame crop --(W+ steps from the previous frame's latent, in the keyframe's tuned G)--> ws
    ws + (edited - pivot of the keyframe) --G--> edited crop --composite layers, smoothed--> photo

*Convention*: latents are (1, num_ws, w_dim) float32 CPU tensors between frames; crops are uint8
(R, R, 3) at the generator's resolution.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from inversion import InversionConfig
from inversion.api import lpips_losses, target_to_tensor
from inversion.project import project_wplus
from inversion.pti import pivotal_tuning
from pipeline.video.config import VideoConfig
from stylegan.generate import uint8_from_ws
from stylegan.networks import Generator

__all__ = ["FrameInverter", "FrameEdit", "LayerSmoother"]


@dataclass(frozen=True, eq=False)
class FrameEdit:
    """One frame's latent and generator images.

    Attributes:
        ws: (1, num_ws, w_dim) float32 CPU, the frame's inversion.
        reconstruction: uint8 (R, R, 3), G(ws).
        edited: uint8 (R, R, 3), G(ws + offset).
    """

    ws: torch.Tensor
    reconstruction: np.ndarray
    edited: np.ndarray


class FrameInverter:
    """Inverts frame crops into the keyframe's generator, each warm-started from a given latent.

    Args:
        G: the generator to edit with (the keyframe's PTI-tuned copy), on its device.
        inversion: the run's `InversionConfig` (LPIPS net, backbone, resolutions, seed).
        video: `frame_steps`, `shot_steps`, `frame_lr`, `temporal_weight`.
        offset: (1, num_ws, w_dim) the keyframe's drag as a latent offset (edited - pivot).
    """

    def __init__(self, G: Generator, inversion: InversionConfig, video: VideoConfig, offset: torch.Tensor):
        self.G = G
        self.device = next(G.parameters()).device
        self.video = video
        self.inversion = inversion
        self.pti_lpips = None
        self.offset = offset.detach().to("cpu", torch.float32)
        # No latent noise and no noise-map optimisation: the steps only refine a latent that is
        # already close, and the tuned generator's noise maps stay the keyframe's (no flicker).
        self.config = dataclasses.replace(
            inversion,
            wplus_lr=video.frame_lr,
            optimize_noise=False,
            initial_noise_factor=0.0,
            wplus_pivot_weight=video.temporal_weight,
        )
        self.lpips, _ = lpips_losses(self.config, self.device, pti=False)
        _, w_std = G.mean_w(num_samples=inversion.w_avg_samples, seed=inversion.seed)
        self.w_std = float(w_std)

    def invert(self, crop: np.ndarray, ws_init: torch.Tensor, steps: int, G: Generator | None = None) -> torch.Tensor:
        """(1, num_ws, w_dim) float32 CPU latent of `crop`: `steps` W+ steps from `ws_init` in G (None = self.G)."""
        if steps <= 0:
            return ws_init.detach().to("cpu", torch.float32).clone()
        G = self.G if G is None else G
        target = target_to_tensor(np.array(crop), G)
        config = dataclasses.replace(self.config, wplus_steps=int(steps))
        ws_init = ws_init.detach().to(self.device, torch.float32)
        result = project_wplus(G, target, self.lpips, ws_init, self.w_std, config, pivot=ws_init)
        return result.ws.detach().to("cpu", torch.float32)

    def tune(self, crop: np.ndarray, ws: torch.Tensor) -> Generator:
        """A copy of the keyframe's generator PTI-tuned to reproduce `crop` at `ws` (a new shot's first frame).

        PTI keeps the latent space around the pivot, so the keyframe's offset still edits the same way
        (Roich et al. 2021); STIT tunes one generator on every frame instead (Tzaban et al. 2022).
        """
        if self.pti_lpips is None:
            _, self.pti_lpips = lpips_losses(self.config, self.device, pti=True)
        target = target_to_tensor(np.array(crop), self.G)
        return pivotal_tuning(self.G, ws.to(self.device), target, self.pti_lpips, self.inversion).G

    def edit(self, crop: np.ndarray, ws_init: torch.Tensor, steps: int, G: Generator | None = None) -> FrameEdit:
        """The frame's latent (`invert`) and its reconstruction and edited images, in G (default self.G)."""
        G = self.G if G is None else G
        ws = self.invert(crop, ws_init, steps, G)
        images = uint8_from_ws(G, torch.cat([ws, ws + self.offset]).to(self.device))
        return FrameEdit(ws, images[0], images[1])


class LayerSmoother:
    """Blends each frame's composite field and weight with the previous frame's, inside a run.

    Crops are aligned to temporally smoothed landmarks, so a crop pixel shows about the same
    part of the face in neighbouring frames: an exponential moving average in the crop frame
    removes the per-frame jitter of the optical flow and of the weight's edge.

    Args:
        smoothing: s in [0, 1): result = s * previous + (1 - s) * current; 0 = off.
    """

    def __init__(self, smoothing: float):
        self.smoothing = float(smoothing)
        self.field: np.ndarray | None = None
        self.weight: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (a new run starts)."""
        self.field = self.weight = None

    def restore(self, field: np.ndarray | None, weight: np.ndarray | None) -> None:
        """Continue from a saved state (a resumed run)."""
        self.field, self.weight = field, weight

    def __call__(self, field: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(field float32 (S, S, 2), weight float32 (S, S)) smoothed; the state is updated."""
        s = np.float32(self.smoothing)
        if self.field is not None and s > 0 and self.field.shape == field.shape:
            field = s * self.field + (np.float32(1) - s) * field
            weight = s * self.weight + (np.float32(1) - s) * weight
        self.field, self.weight = field.astype(np.float32), weight.astype(np.float32)
        return self.field, self.weight
