"""Configuration of the drag stage and the resolution-dependent constants derived from it.

`DragConfig` is a frozen dataclass validated in `__post_init__`; vary it with
`dataclasses.replace(config, field=value)`. Radii and distances are given in pixels
of a 512-px image, as in the paper, and scaled to the generator's resolution by the
helpers below (the official code does the same: `round(r / 512 * h)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from draggan.errors import DragError

__all__ = ["DragConfig", "scaled_radius", "resolve_feature_res", "resolve_stop_distance"]

_W_SPACES = ("w+", "w")
_AUTOCAST = (None, "bfloat16", "float16")
REFERENCE_RESOLUTION = 512  # the paper's radii are in pixels of a 512-px image


@dataclass(frozen=True)
class DragConfig:
    """How `drag` optimises the latent (DragGAN, Pan et al., SIGGRAPH 2023)."""

    lr: float = 2e-3  # Adam step size (paper's implementation details, FFHQ; official GUI: 1e-3)
    max_steps: int = 300  # optimiser steps at most (the paper's evaluation cap)
    r1: float = 3.0  # motion-supervision disc radius, px of a 512-px image (paper: r1 = 3)
    r2: float = 12.0  # tracking half-window, px of a 512-px image (paper: r2 = 12)
    lambda_mask: float = 20.0  # weight of the fixed-region term (paper: lambda = 20, Eq. 1)
    feature_res: int | None = None  # resolution of the supervising block; None = 128 (block b128, the 6th,
    # as the paper) for generators of >= 256 px, else img_resolution // 2
    optimize_rows: int = 6  # rows of ws that are optimised; the rest stay at ws0 (paper, Sec. 3.2)
    stop_distance: float | None = None  # stop when every handle is this close to its target (image px);
    # None = max(2, 2 * R / 512) (official renderer)
    w_space: str = "w+"  # 'w+': optimise each of the first rows; 'w': one w repeated into them
    frame_every: int = 0  # render a full image every k steps (the callback's live preview), 0 = never
    latent_every: int = 0  # keep a CPU copy of ws at step 0, every k steps and the last step, 0 = never;
    # cheap (no synthesis): the drag video is rendered from them afterwards
    subpixel_tracking: bool = False  # refine tracked points by a quadratic fit of the feature distance;
    # False = integer-pixel steps, as the official code
    official_disc_grid: bool = True  # the official renderer's disc grid (linspace(0, h, h): up to 1 px off-centre
    # toward the top-left), so trajectories match the official code exactly
    # (0.000 px over 20 steps, 7 cases); False = the paper's centred disc
    # (within 1.4 px of official at 256 px, transiently 3 px at 512 px)
    local_features: bool = True  # without a mask, run the high-resolution blocks only on crops around the
    # handles (same features, far less work); False = always the whole map
    autocast: str | None = None  # None (float32), 'bfloat16' (cpu/cuda) or 'float16' (cuda/mps)
    seed: int = 0  # seed of a forked RNG (nothing random runs; kept for reproducibility)

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise DragError(f"DragConfig.lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.max_steps, int) and self.max_steps >= 0):
            raise DragError(f"DragConfig.max_steps must be an int >= 0, got {self.max_steps!r}")
        for name in ("r1", "r2"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise DragError(f"DragConfig.{name} must be a positive number of 512-px pixels, got {value!r}")
        if not (
            isinstance(self.lambda_mask, (int, float)) and math.isfinite(self.lambda_mask) and self.lambda_mask >= 0
        ):
            raise DragError(f"DragConfig.lambda_mask must be a number >= 0, got {self.lambda_mask!r}")
        if self.feature_res is not None and not (
            isinstance(self.feature_res, int)
            and self.feature_res >= 4
            and self.feature_res & (self.feature_res - 1) == 0
        ):
            raise DragError(f"DragConfig.feature_res must be None or a power of two >= 4, got {self.feature_res!r}")
        if not (isinstance(self.optimize_rows, int) and self.optimize_rows >= 1):
            raise DragError(f"DragConfig.optimize_rows must be an int >= 1, got {self.optimize_rows!r}")
        if self.stop_distance is not None and not (
            isinstance(self.stop_distance, (int, float))
            and math.isfinite(self.stop_distance)
            and self.stop_distance >= 0
        ):
            raise DragError(
                f"DragConfig.stop_distance must be None or a number >= 0 (image px), got {self.stop_distance!r}"
            )
        if self.w_space not in _W_SPACES:
            raise DragError(f"DragConfig.w_space must be one of {_W_SPACES}, got {self.w_space!r}")
        if not (isinstance(self.frame_every, int) and self.frame_every >= 0):
            raise DragError(f"DragConfig.frame_every must be an int >= 0 (0 = no frames), got {self.frame_every!r}")
        if not (isinstance(self.latent_every, int) and self.latent_every >= 0):
            raise DragError(
                f"DragConfig.latent_every must be an int >= 0 (0 = no latent snapshots), got {self.latent_every!r}"
            )
        if not isinstance(self.subpixel_tracking, bool):
            raise DragError(f"DragConfig.subpixel_tracking must be a bool, got {self.subpixel_tracking!r}")
        if not isinstance(self.official_disc_grid, bool):
            raise DragError(f"DragConfig.official_disc_grid must be a bool, got {self.official_disc_grid!r}")
        if not isinstance(self.local_features, bool):
            raise DragError(f"DragConfig.local_features must be a bool, got {self.local_features!r}")
        if self.autocast not in _AUTOCAST:
            raise DragError(f"DragConfig.autocast must be one of {_AUTOCAST}, got {self.autocast!r}")
        if not isinstance(self.seed, int):
            raise DragError(f"DragConfig.seed must be an int, got {self.seed!r}")


def scaled_radius(radius_512: float, img_resolution: int) -> int:
    """Scales a radius given in pixels of a 512-px image to the generator's resolution.

    Args:
        radius_512: radius in pixels of a 512-px image (e.g. r1 = 3, r2 = 12).
        img_resolution: the generator's output resolution R.

    Returns:
        round(radius_512 * R / 512) as the official renderer computes it (Python's
        round), but at least 1 so that small generators still get a disc / window.
    """
    return max(1, round(radius_512 * img_resolution / REFERENCE_RESOLUTION))


def resolve_feature_res(config: DragConfig, img_resolution: int) -> int:
    """The resolution of the synthesis block whose output supervises the drag.

    Returns:
        config.feature_res if set, else 128 (block b128, the 6th block, which the paper
        uses) for generators of 256 px or more and img_resolution // 2 below that.

    Raises:
        DragError: the requested resolution is not a block of this generator.
    """
    res = config.feature_res
    if res is None:
        res = 128 if img_resolution >= 256 else img_resolution // 2
    if not 4 <= res <= img_resolution:
        raise DragError(
            f"DragConfig.feature_res = {res} is not a block of this {img_resolution}-px generator; "
            f"use a power of two in [4, {img_resolution}] or None"
        )
    return res


def resolve_stop_distance(config: DragConfig, img_resolution: int) -> float:
    """Distance to the target (image px) below which a handle counts as arrived.

    Returns:
        config.stop_distance if set, else max(2, 2 * R / 512) (official renderer:
        `norm(direction) > max(2 / 512 * h, 2)` keeps dragging).
    """
    if config.stop_distance is not None:
        return float(config.stop_distance)
    return max(2.0, 2.0 * img_resolution / REFERENCE_RESOLUTION)
