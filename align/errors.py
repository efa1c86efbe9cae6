"""Errors raised by `align`, all rooted at the project's `DragPipelineError`.

Import them from `align` (they are re-exported there). Every message names the
problem and the fix on one line.
"""

from __future__ import annotations

# Imported from the module, not the package: `stylegan/__init__` may import torch,
# and `import align` must stay light.
from common.errors import DragPipelineError, ImageFileError, MissingWeightsError

__all__ = ["AlignError", "NoFaceFoundError", "PhotoError", "FaceModelError"]


class AlignError(DragPipelineError, ValueError):
    """Bad input to the alignment or paste-back stage (configuration, boxes, crops, points)."""


class NoFaceFoundError(AlignError):
    """The face detector found no face in the photo (use `align_box` or `align_center` instead)."""


class PhotoError(AlignError, ImageFileError):
    """A photo is missing, unreadable, of an unsupported layout, or larger than the configured limit."""


class FaceModelError(AlignError, MissingWeightsError):
    """dlib or the `face_recognition_models` package (its detector/predictor files) is not installed."""

    exit_code = MissingWeightsError.exit_code  # missing weights (3), not bad input (2)
