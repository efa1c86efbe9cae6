"""Training state's random generators: saved with their device type, restored only on the same type."""

from __future__ import annotations

import torch

from training.trainer import restore_rng_state, rng_state


def _fake_devices(monkeypatch):
    log = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=None: torch.tensor([1], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device=None: log.append(("cuda", int(state[0]))))
    monkeypatch.setattr(torch.mps, "get_rng_state", lambda: torch.tensor([2], dtype=torch.uint8))
    monkeypatch.setattr(torch.mps, "set_rng_state", lambda state: log.append(("mps", int(state[0]))))
    return log


def test_state_records_the_device_type(monkeypatch):
    _fake_devices(monkeypatch)
    assert rng_state(torch.device("cpu"))["device_type"] == "cpu" and rng_state(torch.device("cpu"))["device"] is None
    cuda = rng_state(torch.device("cuda:0"))
    assert cuda["device_type"] == "cuda" and int(cuda["device"][0]) == 1
    assert rng_state(torch.device("mps"))["device_type"] == "mps"


def test_resume_on_another_device_type_restores_only_the_cpu_state(monkeypatch):
    log = _fake_devices(monkeypatch)
    torch.manual_seed(9)
    saved = rng_state(torch.device("cuda:0"))
    expected = torch.rand(3)
    restore_rng_state(saved, torch.device("mps"))  # CUDA state on MPS: left out, no failure
    restore_rng_state(saved, torch.device("cpu"))
    assert log == [] and torch.equal(torch.rand(3), expected)
    restore_rng_state(saved, torch.device("cuda:0"))
    restore_rng_state(rng_state(torch.device("mps")), torch.device("mps"))
    assert log == [("cuda", 1), ("mps", 2)]


def test_states_written_before_the_type_was_recorded_resume_as_before(monkeypatch):
    log = _fake_devices(monkeypatch)
    old_cuda = {"cpu": torch.get_rng_state(), "device": torch.tensor([7], dtype=torch.uint8)}
    restore_rng_state(old_cuda, torch.device("mps"))
    restore_rng_state(old_cuda, torch.device("cuda:0"))
    restore_rng_state({"cpu": torch.get_rng_state(), "device": None}, torch.device("cuda:0"))
    assert log == [("cuda", 7)]
