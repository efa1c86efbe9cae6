"""Seeding a block of code without touching the caller's random state on any device.

    from common.random import seeded
    with seeded(0):
        model = build()          # torch's global generators seeded with 0 inside the block
    # every generator (CPU, each CUDA device, MPS) is back where the caller left it

`torch.manual_seed` seeds the CPU generator and every CUDA and MPS generator at once, while
`torch.random.fork_rng(devices=[])` saves only the CPU one (and `devices=[d]` one CUDA device),
so a seeded block inside a fork would reseed the caller's GPU streams for good. `seeded` saves
and restores all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["seeded", "rng_states", "set_rng_states"]


def _cuda_started() -> bool:
    """CUDA is available and already set up in this process (its generators exist)."""
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def rng_states() -> dict[str, object]:
    """Every global generator's state: 'cpu', 'cuda' (a list, one per device, where CUDA is set up), 'mps'."""
    states: dict[str, object] = {"cpu": torch.get_rng_state()}
    if _cuda_started():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if _mps_available():
        states["mps"] = torch.mps.get_rng_state()
    return states


def set_rng_states(states: dict[str, object]) -> None:
    """Restores what `rng_states` returned."""
    torch.set_rng_state(states["cpu"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])
    if "mps" in states:
        torch.mps.set_rng_state(states["mps"])


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Runs the block with torch's global generators seeded, then restores every device's state.

    Seeds the CPU generator, every CUDA device's (where CUDA is already set up: torch's own
    `manual_seed` would queue a seed for a CUDA that starts later, past the block) and MPS's.

    Args:
        seed: the seed.
    """
    saved = rng_states()
    try:
        torch.random.default_generator.manual_seed(seed)
        if "cuda" in saved:
            torch.cuda.manual_seed_all(seed)
        if "mps" in saved:
            torch.mps.manual_seed(seed)
        yield
    finally:
        set_rng_states(saved)
