"""Batch mode under torchrun: what rank 0 does before the others (fake process group, no GPU)."""

from __future__ import annotations

import pytest
import torch.distributed

from common.distributed import Distributed


@pytest.fixture
def fake_dist(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.distributed, "barrier", lambda **kw: calls.append(("barrier", kw)))
    return calls


@pytest.mark.parametrize("rank", [0, 1])
def test_batch_rank_zero_fetches_every_model_before_the_others_start(fake_dist, rank):
    from types import SimpleNamespace

    from common.errors import MissingWeightsError
    from pipeline.batch import fetch_weights_first

    class Models:
        def get(self, checkpoint):
            fake_dist.append(("get", checkpoint))
            if checkpoint == "offline-model":
                raise MissingWeightsError("not here")  # left for the job that names it

    jobs = [SimpleNamespace(checkpoint=c) for c in ("face-64", "offline-model", "face-64", "ffhq-512")]
    worker = Distributed(rank=rank, world_size=2, local_rank=rank, enabled=True, backend="gloo")
    fetch_weights_first(jobs, Models(), worker)
    gets = [("get", "face-64"), ("get", "offline-model"), ("get", "ffhq-512")]
    # Rank 0 fetches each named model once, then releases the others; rank 1 only waits (it loads its own later).
    assert fake_dist == (gets + [("barrier", {})] if rank == 0 else [("barrier", {})])
    fake_dist.clear()
    fetch_weights_first(jobs, Models(), Distributed())  # no torchrun: nothing up front
    assert fake_dist == []
