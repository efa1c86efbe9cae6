"""`common.random.seeded`: the block is seeded, the caller's generators on every device are left as they were."""

from __future__ import annotations

import torch

from common.random import seeded


def test_block_is_seeded_and_the_cpu_state_is_restored():
    torch.manual_seed(123)
    torch.rand(3)  # the caller is somewhere in its stream
    before = torch.get_rng_state()
    with seeded(7):
        inside = torch.rand(4)
    assert torch.equal(torch.get_rng_state(), before)
    with seeded(7):
        assert torch.equal(torch.rand(4), inside)  # same seed, same numbers


class _FakeDeviceRng:
    """A stand-in for torch.cuda / torch.mps generator functions: a state per device, seeding recorded."""

    def __init__(self, count):
        self.states = [torch.tensor([10 + i]) for i in range(count)]
        self.seeds = []

    def get_all(self):
        return [s.clone() for s in self.states]

    def set_all(self, states):
        self.states = [s.clone() for s in states]

    def seed_all(self, seed):
        self.seeds.append(seed)
        self.states = [torch.tensor([seed]) for _ in self.states]


def test_every_cuda_device_and_mps_get_their_state_back(monkeypatch):
    cuda, mps = _FakeDeviceRng(2), _FakeDeviceRng(1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", cuda.get_all)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", cuda.set_all)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", cuda.seed_all)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.mps, "get_rng_state", lambda: mps.get_all()[0])
    monkeypatch.setattr(torch.mps, "set_rng_state", lambda state: mps.set_all([state]))
    monkeypatch.setattr(torch.mps, "manual_seed", mps.seed_all)
    with seeded(5):
        assert [int(s) for s in cuda.states] == [5, 5] and [int(s) for s in mps.states] == [5]
    assert cuda.seeds == [5] and mps.seeds == [5]
    assert [int(s) for s in cuda.states] == [10, 11] and [int(s) for s in mps.states] == [10]


def test_a_cuda_not_yet_started_is_not_seeded_for_later(monkeypatch):
    seeds = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", seeds.append)
    with seeded(3):
        pass
    assert seeds == []  # torch.manual_seed would have queued this seed for whenever CUDA starts
