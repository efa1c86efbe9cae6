"""Errors raised by `pipeline`, rooted at the project's `DragPipelineError`.

Every message names the problem and the fix on one line. The CLI maps them to exit codes:
`PipelineError` and its subclasses are bad input (2), `MissingWeightsError` is 3.
`UnknownCheckpointError` is the hub's (`hub.errors`), re-exported here for the pipeline's callers.
"""

from __future__ import annotations

from common.errors import CheckpointError, DragPipelineError, MissingWeightsError
from hub.errors import UnknownCheckpointError

__all__ = [
    "PipelineError",
    "PointsError",
    "UnknownCheckpointError",
    "OutputError",
    "ClipError",
    "UsageError",
    "DragPipelineError",
    "MissingWeightsError",
    "CheckpointError",
]


class PipelineError(DragPipelineError, ValueError):
    """Bad input to the pipeline: configuration, options, files."""


class PointsError(PipelineError):
    """Bad drag points or mask: malformed JSON, unequal counts, points outside the photo or crop, mask size."""


class OutputError(PipelineError):
    """The output folder cannot be used (exists and is not empty, would overwrite the input, ...)."""


class ClipError(PipelineError):
    """A video clip is missing, unreadable, has no video stream, or ffmpeg (imageio-ffmpeg) is unavailable."""


class UsageError(PipelineError):
    """A user option or a combination of options is invalid (`pipeline.options.UserOptions`, the command line)."""
