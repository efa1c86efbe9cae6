"""`common.distributed`: the decisions torchrun workers take, checked with a fake process group."""

from __future__ import annotations

import pytest
import torch.distributed

from common.distributed import Distributed, shard
from common.errors import DeviceError


@pytest.fixture
def fake_dist(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "barrier", lambda **kw: calls.append(("barrier", kw)))
    return calls


def test_nccl_barrier_names_the_workers_own_gpu(fake_dist):
    Distributed(rank=5, world_size=8, local_rank=1, enabled=True, backend="nccl").barrier()
    Distributed(rank=1, world_size=2, local_rank=1, enabled=True, backend="gloo").barrier()
    Distributed().barrier()  # a world of one: no process group, no barrier
    assert fake_dist == [("barrier", {"device_ids": [1]}), ("barrier", {})]


@pytest.mark.parametrize("rank", [0, 1])
def test_rank_zero_runs_the_block_before_the_others(fake_dist, rank):
    worker = Distributed(rank=rank, world_size=2, local_rank=rank, enabled=True, backend="gloo")
    with worker.main_first():
        fake_dist.append("body")
    # rank 0: body, then the barrier that releases the others; rank 1: waits at the barrier, then body.
    assert fake_dist == (["body", ("barrier", {})] if rank == 0 else [("barrier", {}), "body"])


def test_one_explicit_gpu_for_every_worker_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(DeviceError, match="--device cuda:0 would put every torchrun worker on one GPU"):
        Distributed.from_env("cuda:0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert Distributed.from_env("cuda:0") == Distributed()  # without torchrun an explicit GPU is fine


def test_shard_deals_items_by_rank():
    items = list(range(7))
    parts = [shard(items, r, 3) for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]] and sorted(sum(parts, [])) == items
