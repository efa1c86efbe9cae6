"""The errors of `training`, one module for the package (rooted in `common.errors.DragPipelineError`).

Every class is bad input (exit code 2, `common.errors.EXIT_BAD_INPUT`) and a `ValueError`,
so a caller that only knows Python's built-ins can still catch it.
"""

from __future__ import annotations

from common.errors import DragPipelineError

__all__ = ["TrainingError", "TrainError", "DatasetError", "AugmentError", "PrepareError"]


class TrainingError(DragPipelineError, ValueError):
    """Base class of the errors of `training`."""


class TrainError(TrainingError):
    """Bad training configuration, data or resume state."""


class DatasetError(TrainingError):
    """A training-image folder is missing, empty, unreadable or of the wrong layout."""


class AugmentError(TrainingError):
    """An augmentation policy or its input is invalid."""


class PrepareError(TrainingError):
    """Bad input to dataset preparation (folders, preset, output format)."""
