"""Fixtures for the inversion tests: in-range tiny generators, known targets, fast configs, no downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from inversion_testutils import make_inrange_generator, synthesize_target

from inversion import InversionConfig


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Any attempt to download weights fails the test (tests must never download)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to download {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def inrange_G(tiny_generator_factory):
    """32-px tiny generator (num_ws 8, w_dim 32) with in-range outputs."""
    return make_inrange_generator(tiny_generator_factory)


@pytest.fixture
def known_target(inrange_G):
    """(G, ws_true, target uint8) with target = G.synthesis(ws_true)."""
    ws, target = synthesize_target(inrange_G)
    return inrange_G, ws, target


@pytest.fixture
def fast_config() -> InversionConfig:
    """Few steps, the random LPIPS-squeeze (tests only), NVlabs' 0.1 peak rate (the tiny W has std ~5)."""
    return InversionConfig(
        w_steps=20,
        wplus_steps=20,
        pti_steps=20,
        w_lr=0.1,
        wplus_lr=0.1,
        w_avg_samples=1000,
        lpips_net="squeeze",
        pti_lpips_net="squeeze",
        lpips_backbone="random",
        pti_lpips_threshold=0.0,
    )


@pytest.fixture
def squeeze_backbone(shared_squeeze_backbone) -> Path:
    """The real ImageNet SqueezeNet-1.1 features from ../shared; skips when absent."""
    return shared_squeeze_backbone
