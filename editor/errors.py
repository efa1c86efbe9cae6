"""The editor's errors, rooted at the project's `DragPipelineError`.

The page shows an `EditorError`'s message (one line, saying what to do) and keeps serving
(`editor.handlers`); its exit code is the bad-input one, like every other input error.
"""

from __future__ import annotations

from common.errors import DragPipelineError

__all__ = ["EditorError"]


class EditorError(DragPipelineError, ValueError):
    """A request the editor cannot carry out as asked: a setting, an upload, a click, a step out of order."""
