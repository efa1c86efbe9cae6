"""Errors raised by the inversion package (all rooted at `stylegan.errors.DragPipelineError`)."""

from __future__ import annotations

from stylegan.errors import DragPipelineError, MissingWeightsError


class InversionError(DragPipelineError, ValueError):
    """Bad input to an inversion: wrong target image, bad config, unusable saved result."""


__all__ = ["InversionError", "MissingWeightsError"]
