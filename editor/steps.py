"""What an `editor.session.Session` keeps and streams: its history's entries and a running drag's updates."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

import pipeline as pl

__all__ = ["DragUpdate", "Step"]


@dataclass(frozen=True, eq=False)
class Step:
    """One entry of the latent history: the inverted original, then one per drag.

    Attributes:
        ws: (1, num_ws, w_dim) float32 CPU latent.
        image: uint8 (R, R, 3) its image.
        drag: the `draggan.DragResult` that produced it (None for the original).
        handles_crop, targets_crop: (N, 2) the points of that drag (None for the original).
        mask_crop: (R, R) mask of that drag or None.
        mask_photo: bool (H, W) the photo mask it came from (True = may move), or None.
        config: the `pipeline.PipelineConfig` of that drag (its drag settings may differ from
            the inversion's); None for the original.
    """

    ws: torch.Tensor
    image: np.ndarray
    drag: object | None = None
    handles_crop: np.ndarray | None = None
    targets_crop: np.ndarray | None = None
    mask_crop: np.ndarray | None = None
    config: pl.PipelineConfig | None = None
    mask_photo: np.ndarray | None = None


@dataclass(frozen=True)
class DragUpdate:
    """One streamed update of a running drag.

    Attributes:
        image: uint8 (R, R, 3) the latest rendered frame.
        handles_crop: (N, 2) tracked handles at `step`.
        step: optimiser steps done.
        max_distance: largest handle-to-target distance, generator px.
        done: the drag has finished (converged, step cap or Stop).
        message: a one-line status.
        composite: () -> the photo with `image` composited (read it as `photo`), or None: the
            frame is not composited (`editor.preview`: over the time budget, or the final
            update of a closed tab).
    """

    image: np.ndarray
    handles_crop: np.ndarray
    step: int
    max_distance: float
    done: bool = False
    message: str = ""
    composite: Callable[[], np.ndarray | None] | None = field(default=None, repr=False)

    @functools.cached_property
    def photo(self) -> np.ndarray | None:
        """uint8 (H, W, 3) the photo with `image` composited, computed on first use (in the reader's thread)."""
        return None if self.composite is None else self.composite()
