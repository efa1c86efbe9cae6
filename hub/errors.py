"""Errors raised by `hub`, rooted at the project's `DragPipelineError` (`common.errors`).

Every message names the problem and the fix on one line. Missing weights that cannot be
downloaded raise `common.errors.MissingWeightsError` (exit code 3); a checkpoint value that
is neither a file nor a registered name is bad input (exit code 2).
"""

from __future__ import annotations

from common.errors import DragPipelineError

__all__ = ["HubError", "UnknownCheckpointError"]


class HubError(DragPipelineError, ValueError):
    """Bad input to the hub: a checkpoint name or path it cannot use."""


class UnknownCheckpointError(HubError):
    """`--checkpoint` is neither an existing file nor a registered name."""
