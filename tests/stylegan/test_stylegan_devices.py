"""The generator on devices whose torch has no autocast for them (MPS before torch 2.5), checked on the CPU."""

from __future__ import annotations

import torch

import common.device


def test_synthesis_does_not_enter_autocast_where_torch_has_none(tiny_G, monkeypatch):
    """torch < 2.5 raises as soon as `torch.autocast(device_type='mps', enabled=False)` is built."""
    with torch.no_grad():
        want = tiny_G(torch.randn(2, tiny_G.z_dim, generator=torch.Generator().manual_seed(0)))

    def no_autocast(*args, **kwargs):
        raise RuntimeError("User specified an unsupported autocast device_type 'mps'")

    monkeypatch.setattr(torch, "autocast", no_autocast)
    monkeypatch.setattr(common.device, "autocast_supported", lambda device_type, torch_version=None: False)
    with torch.no_grad():
        got = tiny_G(torch.randn(2, tiny_G.z_dim, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(got, want)


def test_drag_asks_for_a_newer_torch_instead_of_failing_inside_autocast(tiny_G, monkeypatch):
    import pytest

    import draggan.loop
    from draggan import DragConfig, DragError, drag

    monkeypatch.setattr(draggan.loop, "autocast_supported", lambda device_type: False)
    ws0 = tiny_G.mapping(torch.randn(1, tiny_G.z_dim, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(DragError, match="needs torch >= 2.5"):
        drag(tiny_G, ws0, [[8, 8]], [[12, 8]], config=DragConfig(autocast="bfloat16", max_steps=1))
