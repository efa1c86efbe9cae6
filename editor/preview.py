"""The live preview's composite: a running drag's frames carried onto the photo, within a time budget.

Each preview frame the page shows is composited into the photo with `pipeline.paste_edit`, the
composite `run_pipeline.py` writes edited.png with, in the page's thread while the drag goes on.
At photo resolution one composite costs ~0.01 s (64-px crop) to several times that (a large face
in a large photo), and on a busy machine the page's thread takes that time from the drag's; so a
frame is offered for compositing only while the compositing done so far stays under
`PREVIEW_COMPOSITE_SHARE` of the drag's time (the other frames update the crop view only).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy as np

import pipeline as pl

__all__ = ["PREVIEW_COMPOSITE_SHARE", "PreviewCompositor"]

# At most this share of a drag's wall time goes to compositing its previews (python -m
# benchmarks.editor: the editor stays within 1.10x of the plain drag with a 512-px photo).
PREVIEW_COMPOSITE_SHARE = 0.03


class PreviewCompositor:
    """Composites a drag's preview frames into the photo, as `Session.edit_result` will write it.

    Args:
        photo: uint8 (H, W, 3) the photo (not modified).
        alignment: its `align.Alignment` (from `pipeline.align_photo`).
        reconstruction: uint8 (R, R, 3) the inverted original (the history's first image).
        config: the `pipeline.PipelineConfig` (`paste` is used).
        starts, ends: the earlier drags' handles and tracked ends, one (N_i, 2) crop-px array each.
        handles_crop: (N, 2) this drag's handles (crop px).
        mask_crop: (R, R) this drag's mask (1 = may move), or None.
        mask_photo: bool (H, W) the photo mask it came from (True = may move; the composite keeps
            the photo's bytes elsewhere), or None.
        share: the budget, a share of the drag's wall time since this object was made.
    """

    def __init__(
        self,
        photo: np.ndarray,
        alignment,
        reconstruction: np.ndarray,
        config: pl.PipelineConfig,
        starts: list[np.ndarray],
        ends: list[np.ndarray],
        handles_crop: np.ndarray,
        mask_crop: np.ndarray | None,
        mask_photo: np.ndarray | None = None,
        share: float = PREVIEW_COMPOSITE_SHARE,
    ):
        self.photo, self.alignment, self.reconstruction, self.config = photo, alignment, reconstruction, config
        self.starts_crop = np.concatenate([*starts, handles_crop])
        self.ends, self.mask_crop, self.mask_photo, self.share = list(ends), mask_crop, mask_photo, share
        self.started = time.perf_counter()
        self.spent = 0.0  # seconds spent compositing so far
        self.count = 0  # frames composited

    def composite(self, frame: np.ndarray, tracked_crop: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3): the photo with `frame` (R, R, 3) composited, this drag's handles at `tracked_crop`."""
        t = time.perf_counter()
        try:
            ends_crop = np.concatenate([*self.ends, tracked_crop])
            return pl.paste_edit(
                self.photo,
                self.alignment,
                frame,
                self.reconstruction,
                self.config,
                self.starts_crop,
                ends_crop,
                self.mask_crop,
                self.mask_photo,
            )
        finally:
            self.spent += time.perf_counter() - t
            self.count += 1

    def offer(self, frame: np.ndarray, tracked_crop: np.ndarray) -> Callable[[], np.ndarray] | None:
        """A deferred `composite` of this frame while within budget, else None (show the crop only)."""
        if self.spent > self.share * (time.perf_counter() - self.started):
            return None
        return functools.partial(self.composite, frame, tracked_crop)
