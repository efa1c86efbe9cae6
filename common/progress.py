"""Progress bars: live on a terminal, a few whole lines in a log file.

Every progress bar of the project comes from `progress_bar`. On a terminal (or in a
notebook) it is the usual `tqdm.auto.tqdm`, redrawn in place. When the stream is not a
terminal (`run_pipeline.py ... > log 2>&1`, a batch job under a scheduler) the redraws
would put dozens to hundreds of carriage-return updates into the file, so the bar is a
`LineBar` instead: one whole line at every tenth of the total (and a last one when it
closes early), never a '\\r' or a cursor movement.

`LineBar` is a `tqdm.std.tqdm` that only changes how the bar is shown, so code that tracks
tqdm instances sees it like any other bar: the editor's `gr.Progress(track_tqdm=True)`
patches tqdm's `__init__`, `update`, `close` and `__iter__`, which `LineBar` inherits, and
keeps reporting progress on a server whose stderr is not a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

import tqdm.std

__all__ = ["LINES_PER_BAR", "LineBar", "is_terminal", "progress_bar"]

LINES_PER_BAR = 10  # a line every 10% of the total
_LINE_FORMAT = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def is_terminal(stream: Any) -> bool:
    """Whether `stream` is an interactive terminal (False for files, pipes, closed or odd streams).

    Args:
        stream: a file-like object, e.g. `sys.stderr` (None counts as not a terminal).
    """
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _in_notebook() -> bool:
    """Whether tqdm runs in a Jupyter kernel (where its widget bar is the right one)."""
    import tqdm.autonotebook

    return tqdm.autonotebook.tqdm is not tqdm.std.tqdm


class LineBar(tqdm.std.tqdm):
    """A tqdm bar that writes one whole line per tenth of its total instead of redrawing in place.

    Everything else (counting, `update`, `set_postfix`, `set_postfix_str`, `write`, `close`,
    iteration, use as a context manager) is tqdm's. With an unknown total it writes one line
    when it closes. Use `progress_bar` rather than this class.
    """

    _line_n: float | None = None  # the count the last line showed (None: no line yet)
    _line_tenth: int | None = None  # the tenth of the total the last line was written for (None: not started)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Write a line when the count has reached a new tenth of the total; tqdm's clearing is ignored."""
        if msg is not None:  # tqdm clears the bar with msg='': nothing to clear in a log
            return False
        if not self.total:
            return False
        if self._line_tenth is None:  # a resumed bar (tqdm's `initial`) counts tenths from there
            self._line_tenth = self._tenth(self.initial)
        tenth = self._tenth(self.n)
        if tenth > self._line_tenth:
            self._line_tenth = tenth
            self._write_line()
        return True

    def _tenth(self, n: float) -> int:
        return min(int(LINES_PER_BAR * n / self.total), LINES_PER_BAR)

    def _write_line(self) -> None:
        self._line_n = self.n
        fmt = dict(self.format_dict)
        if fmt["total"]:
            fmt["bar_format"] = _LINE_FORMAT if self.desc else _LINE_FORMAT.removeprefix("{desc}: ")
        self.fp.write(self.format_meter(**fmt).rstrip() + "\n")
        getattr(self.fp, "flush", lambda: None)()

    def clear(self, nolock: bool = False) -> None:
        """Nothing to clear: the lines already written stay (tqdm calls this around `write`)."""

    def moveto(self, n: int) -> None:
        """No cursor movement in a log (tqdm moves between the rows of nested bars)."""

    def close(self) -> None:
        """Write the final count if the last line did not show it (a stage that stopped early), then close."""
        if not self.disable and getattr(self, "fp", None) is not None:
            with self._lock:
                if self._line_n != self.n and self.n != self.initial:
                    self._write_line()
        self.leave = False  # tqdm would otherwise redraw the bar once more and end it with a newline
        super().close()


def progress_bar(iterable: Iterable | None = None, *, file: IO[str] | None = None, **kwargs: Any) -> tqdm.std.tqdm:
    """A progress bar on `file` (default stderr): tqdm on a terminal, a `LineBar` otherwise.

    Takes and returns what `tqdm.tqdm` does (`total`, `desc`, `unit`, `disable`, `leave`,
    `position`, `initial`, `unit_scale`, `dynamic_ncols`, ...; iterate it, or call `update`,
    `set_postfix_str` / `set_postfix`, `write` and `close`; or use it as a context manager).

    Args:
        iterable: what to iterate over (None: count with `update`).
        file: the stream to write to (None: `sys.stderr`, looked up now).
        **kwargs: tqdm's keyword arguments.

    Returns:
        A `tqdm.auto.tqdm` when `file` is a terminal or the code runs in a notebook, else a
        `LineBar` (one line per tenth of the total).
    """
    stream = sys.stderr if file is None else file
    if is_terminal(stream) or _in_notebook():
        import tqdm.auto

        if file is not None:
            kwargs["file"] = file
        return tqdm.auto.tqdm(iterable, **kwargs)
    # Every update is shown to `LineBar.display`, which decides when a tenth is reached.
    kwargs.update(file=stream, mininterval=0, miniters=1, dynamic_ncols=False)
    return LineBar(iterable, **kwargs)
