"""Pivotal Tuning: reaches the target, loss below the pivot's, caller's G untouched, early stop, locality."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from inversion_testutils import assert_state_dict_equal, state_dict_copy

from inversion import invert, target_to_tensor
from inversion.lpips_loss import LPIPSLoss
from inversion.metrics import psnr
from inversion.project import synthesize
from inversion.pti import locality_latents, pivotal_tuning


def _lpips(config):
    return LPIPSLoss.build(config.pti_lpips_net, config.lpips_backbone, max_resolution=None)


def test_pti_reaches_30_db_and_leaves_the_callers_G_bit_identical(known_target, fast_config):
    G, _, target = known_target
    before = state_dict_copy(G)
    config = dataclasses.replace(fast_config, w_steps=30, pti_steps=50, pti_lr=2e-3)
    result = invert(G, target, "pti", config)
    assert_state_dict_equal(G, before)
    assert psnr(target, result.reconstruction) >= 30
    losses = result.losses["pti"]
    assert len(losses) == 51 and losses[-1] < 0.5 * losses[0]  # losses[0]: the untuned G at the pivot.
    assert result.G is not G and result.tuned
    assert not result.G.training and not any(p.requires_grad for p in result.G.parameters())
    assert torch.equal(result.ws, result.ws[:, :1].expand_as(result.ws))  # The pivot is the W projection.
    # Tuning changed the synthesis weights but not the mapping.
    tuned = result.G.state_dict()
    assert not torch.equal(tuned["synthesis.b32.conv1.weight"], before["synthesis.b32.conv1.weight"])
    assert torch.equal(tuned["mapping.fc0.weight"], before["mapping.fc0.weight"])
    assert set(result.timings) >= {"w", "pti", "total"}


def test_pti_stops_early_when_lpips_is_below_the_threshold(known_target, fast_config):
    G, ws, target = known_target
    config = dataclasses.replace(fast_config, pti_lpips_threshold=10.0)
    out = pivotal_tuning(G, ws, target_to_tensor(target, G), _lpips(config), config)
    assert out.stopped_early and len(out.losses) == 1
    assert all(torch.equal(a, b) for a, b in zip(out.G.state_dict().values(), G.state_dict().values()))


def test_pti_writes_projected_noise_into_the_copy(known_target, fast_config):
    G, ws, target = known_target
    noise = {"b8.conv0.noise_const": torch.full((8, 8), 0.5)}
    before = G.synthesis.b8.conv0.noise_const.clone()
    out = pivotal_tuning(
        G,
        ws,
        target_to_tensor(target, G),
        _lpips(fast_config),
        dataclasses.replace(fast_config, pti_steps=1),
        noise=noise,
    )
    assert torch.equal(out.G.synthesis.b8.conv0.noise_const, noise["b8.conv0.noise_const"])
    assert torch.equal(G.synthesis.b8.conv0.noise_const, before)


def test_pivot_shape_is_checked(known_target, fast_config):
    G, ws, target = known_target
    with pytest.raises(ValueError, match="num_ws"):
        pivotal_tuning(G, ws[:, :1], target_to_tensor(target, G), _lpips(fast_config), fast_config)


def test_locality_latents_lie_at_distance_alpha(inrange_G):
    pivot = inrange_G.mapping.w_avg.reshape(1, 1, -1).repeat(1, inrange_G.num_ws, 1)
    ws = locality_latents(inrange_G, pivot, 3, 30.0, 0.5, torch.Generator().manual_seed(0))
    assert ws.shape == (3, inrange_G.num_ws, inrange_G.w_dim)
    torch.testing.assert_close((ws - pivot).flatten(1).norm(dim=1), torch.full((3,), 30.0))


def test_locality_regularization_keeps_G_closer_away_from_the_pivot(known_target, fast_config):
    G, _, target = known_target
    img = target_to_tensor(target, G)
    ws = G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1)  # A poor pivot: tuning must change G a lot.
    base = dataclasses.replace(fast_config, pti_steps=25, pti_lr=3e-3, locality_alpha=3.0, locality_num_samples=2)
    probe = locality_latents(G, ws, 4, 3.0, 0.5, torch.Generator().manual_seed(123))
    with torch.no_grad():
        reference = synthesize(G, probe, noise_mode="none")
    drift = {}
    for on in (False, True):
        config = dataclasses.replace(base, locality_regularization=on, locality_l2_weight=10.0)
        out = pivotal_tuning(G, ws, img, _lpips(config), config)
        assert bool(out.locality) == on
        with torch.no_grad():
            drift[on] = float((synthesize(out.G, probe, noise_mode="none") - reference).square().mean())
    assert drift[True] < 0.3 * drift[False]
