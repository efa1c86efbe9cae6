"""Errors raised by the inversion package (all rooted at `common.errors.DragPipelineError`)."""

from __future__ import annotations

from common.errors import DragPipelineError, MissingWeightsError


class InversionError(DragPipelineError, ValueError):
    """Bad input to an inversion: wrong target image, bad config, unusable saved result."""


__all__ = ["InversionError", "MissingWeightsError"]
