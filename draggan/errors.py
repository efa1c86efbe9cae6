"""Errors raised by `draggan`, rooted at the project's `DragPipelineError`.

Every message names the problem and the fix on one line.
"""

from __future__ import annotations

# From the module, not the package, so that importing the errors stays light.
from common.errors import DragPipelineError

__all__ = ["DragError"]


class DragError(DragPipelineError, ValueError):
    """Bad input to the drag stage: configuration, latents, points or mask."""
