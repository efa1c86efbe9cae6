"""Wall-clock seconds per named stage of a procedure.

timer = StageTimer()
with timer("drag"):
    result = drag(...)
timer.seconds  # {'drag': 2.04}
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StageTimer"]


class StageTimer:
    """Times named stages: `with timer(name): ...` sets `timer.seconds[name]` (seconds, float).

    Stages are recorded in the order they end; a stage that raises is not recorded.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.seconds[stage] = time.perf_counter() - t
