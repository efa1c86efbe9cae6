"""Progress bars (common/progress.py): live on a terminal, a line per tenth in a log, tracked by the editor."""

from __future__ import annotations

import io

import pytest
import tqdm.auto

from common.progress import LineBar, is_terminal, progress_bar


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_one_line_per_tenth_and_no_carriage_return():
    log = io.StringIO()
    bar = progress_bar(total=100, desc="drag", unit="step", leave=False, dynamic_ncols=True, file=log)
    assert isinstance(bar, LineBar)
    for step in range(100):
        bar.update(1)
        bar.set_postfix_str(f"max dist {100 - step:.1f}px")
    bar.close()
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and "\x1b" not in text and text.endswith("\n")
    assert len(lines) == 10
    assert [line.split("%")[0] for line in lines] == [f"drag: {p:3d}" for p in range(10, 101, 10)]
    assert lines[-1].startswith("drag: 100% 100/100 [") and "max dist 2.0px" in lines[-1]


def test_a_log_file_bar_over_an_iterable_and_one_stopped_early():
    log = io.StringIO()
    assert list(progress_bar(range(37), desc="project w", file=log)) == list(range(37))
    assert len(log.getvalue().splitlines()) == 10
    log = io.StringIO()
    bar = progress_bar(total=200, desc="pivotal tuning", leave=False, file=log)
    for _ in range(45):
        bar.update()
    bar.write("a message", file=log)  # tqdm's write clears and redraws the bar: nothing extra here
    bar.close()  # the stage stopped early: the last count is written once
    lines = log.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == [
        "pivotal tuning:  10% 20/200",
        "pivotal tuning:  20% 40/200",
        "a message",
        "pivotal tuning:  22% 45/200",
    ]
    assert "\r" not in log.getvalue()


def test_a_resumed_bar_counts_tenths_from_where_it_starts_and_unknown_totals_write_one_line():
    log = io.StringIO()
    with progress_bar(total=1000, initial=450, unit="img", file=log) as bar:
        bar.update(40)  # 49%: still the fourth tenth, where it started
        assert log.getvalue() == ""
        bar.update(10)
    assert [line.split(" [")[0] for line in log.getvalue().splitlines()] == [" 50% 500/1000"]
    log = io.StringIO()
    bar = progress_bar(total=None, desc="images", file=log)
    bar.update(5)
    bar.close()
    # (the unit after the count may differ: gradio's track_tqdm, used by the editor tests, patches tqdm)
    assert log.getvalue().startswith("images: 5") and log.getvalue().count("\n") == 1
    log = io.StringIO()
    bar = progress_bar(total=10, file=log, disable=True)
    bar.update()
    bar.close()
    assert log.getvalue() == ""


def test_a_terminal_gets_tqdm_redrawn_in_place():
    terminal = _Terminal()
    assert is_terminal(terminal) and not is_terminal(io.StringIO()) and not is_terminal(None)
    bar = progress_bar(total=10, desc="drag", file=terminal)
    assert isinstance(bar, tqdm.auto.tqdm) and not isinstance(bar, LineBar)
    for _ in range(10):
        bar.update()
    bar.close()
    assert "\r" in terminal.getvalue()


def test_the_editor_tracks_log_file_bars(monkeypatch):
    # gr.Progress(track_tqdm=True) patches tqdm's methods, which LineBar inherits, so the editor
    # reports progress on a server whose stderr is not a terminal.
    pytest.importorskip("gradio")
    from gradio.context import LocalContext
    from gradio.helpers import Progress

    seen: list[tuple] = []
    monkeypatch.setattr(
        Progress,
        "_progress_callback",
        staticmethod(lambda: lambda iterables: seen.append(tuple((t.desc, t.index, t.length) for t in iterables))),
    )
    progress = Progress(track_tqdm=True)
    token = LocalContext.progress.set(progress)
    try:
        log = io.StringIO()
        bar = progress_bar(total=4, desc="drag", file=log)
        assert isinstance(bar, LineBar)
        for _ in range(4):
            bar.update()
        bar.close()
        assert list(progress_bar(range(3), desc="pivotal tuning", file=log)) == [0, 1, 2]
    finally:
        LocalContext.progress.reset(token)
    shown = {entry for snapshot in seen for entry in snapshot}  # (desc, count, total) the editor showed
    assert {("drag", n, 4) for n in range(5)} <= shown and ("pivotal tuning", 2, 3) in shown
    assert log.getvalue() == ""  # gradio sends tracked bars to os.devnull
