"""The one exception hierarchy shared by every package of the project.

Every error the project raises on purpose derives from `DragPipelineError`, so a
caller (the CLI above all) can tell "bad input, with a message that says what to
fix" from a programming error.
"""


class DragPipelineError(Exception):
    """Base class of every error the project raises on purpose.

    The message names the problem and the fix, on one line.
    """


class CheckpointError(DragPipelineError):
    """A checkpoint file is missing, unreadable, unsafe, corrupt or of an unknown format."""


class MissingWeightsError(DragPipelineError):
    """Weights that must be downloaded are absent and cannot be fetched (e.g. offline)."""


class DeviceError(DragPipelineError, ValueError):
    """The requested compute device is unknown or not available on this machine."""
