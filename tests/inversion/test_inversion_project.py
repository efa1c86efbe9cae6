"""W / W+ projection: schedules, noise regulariser, loss falls, G untouched, num_ws follows G, PSNR."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from inversion_testutils import assert_state_dict_equal, state_dict_copy, synthesize_target

from inversion import invert, target_to_tensor
from inversion.lpips_loss import LPIPSLoss
from inversion.metrics import psnr
from inversion.project import (
    generator_with_noise,
    initial_noise,
    latent_noise_scale,
    learning_rate,
    noise_buffer_names,
    noise_regularization,
    project_w,
    project_wplus,
    synthesize,
)


def _lpips(config):
    return LPIPSLoss.build(config.lpips_net, config.lpips_backbone, max_resolution=config.lpips_max_resolution)


def test_learning_rate_schedule():
    # NVlabs: linear ramp-up over 5 %, flat, cosine ramp-down over the last 25 %.
    assert learning_rate(0, 100, 0.1) == 0
    assert learning_rate(5, 100, 0.1) == pytest.approx(0.1)
    assert learning_rate(50, 100, 0.1) == pytest.approx(0.1)
    assert learning_rate(87, 100, 0.1) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.52 * math.pi)))
    assert learning_rate(100, 100, 0.1) == pytest.approx(0)


def test_latent_noise_decays_to_zero_at_three_quarters():
    assert latent_noise_scale(0, 100, 2.0) == pytest.approx(0.1)
    assert latent_noise_scale(75, 100, 2.0) == 0
    assert latent_noise_scale(90, 100, 2.0) == 0
    assert 0 < latent_noise_scale(40, 100, 2.0) < 0.1


def test_noise_regularizer_penalises_correlation():
    g = torch.Generator().manual_seed(0)
    white = [torch.randn([64, 64], generator=g), torch.randn([8, 8], generator=g)]
    smooth = [torch.nn.functional.interpolate(torch.randn([1, 1, 8, 8], generator=g), size=64, mode="bilinear")[0, 0]]
    smooth = [(s - s.mean()) / s.std() for s in smooth]
    assert float(noise_regularization(white)) < 0.05 * float(noise_regularization(smooth))


def test_project_w_loss_falls_and_leaves_G_alone(known_target, fast_config):
    G, _, target = known_target
    before = state_dict_copy(G)
    config = dataclasses.replace(fast_config, w_steps=30)
    w_avg, w_std = G.mean_w(num_samples=config.w_avg_samples)
    result = project_w(G, target_to_tensor(target, G), _lpips(config), w_avg, float(w_std), config)
    assert_state_dict_equal(G, before)
    assert result.ws.shape == (1, G.num_ws, G.w_dim)
    assert torch.equal(result.ws, result.ws[:, :1].expand_as(result.ws))  # One w broadcast to every row.
    assert len(result.losses) == 30
    assert np.mean(result.losses[-5:]) < 0.7 * np.mean(result.losses[:5])
    # Optimised noise maps are returned renormalised, for every noise_const buffer.
    assert sorted(result.noise) == sorted(noise_buffer_names(G))
    for value in result.noise.values():
        assert abs(float(value.mean())) < 1e-4 and float(value.square().mean()) == pytest.approx(1, abs=1e-4)


def test_project_wplus_rows_move_independently(known_target, fast_config):
    G, _, target = known_target
    config = dataclasses.replace(fast_config, optimize_noise=False)
    w_avg, w_std = G.mean_w(num_samples=config.w_avg_samples)
    result = project_wplus(G, target_to_tensor(target, G), _lpips(config), w_avg, float(w_std), config)
    assert result.ws.shape == (1, G.num_ws, G.w_dim) and result.noise is None
    assert float((result.ws[0, 0] - result.ws[0, -1]).abs().max()) > 0


def test_pivot_pull_keeps_wplus_near_the_pivot(known_target, fast_config):
    G, _, target = known_target
    w_avg, w_std = G.mean_w(num_samples=fast_config.w_avg_samples)
    img = target_to_tensor(target, G)
    spread = {}
    for weight in (0.0, 100.0):
        config = dataclasses.replace(fast_config, optimize_noise=False, wplus_pivot_weight=weight)
        ws = project_wplus(G, img, _lpips(config), w_avg, float(w_std), config).ws
        spread[weight] = float((ws - w_avg).norm())
    assert spread[100.0] < 0.5 * spread[0.0]


@pytest.mark.parametrize("resolution, num_ws", [(16, 6), (64, 10)])
def test_num_ws_follows_the_generator(tiny_generator_factory, fast_config, resolution, num_ws):
    G = tiny_generator_factory(img_resolution=resolution)
    assert G.num_ws == num_ws
    _, target = synthesize_target(G)
    config = dataclasses.replace(fast_config, w_steps=2, wplus_steps=2)
    for method in ("w", "w+"):
        result = invert(G, target, method, config)
        assert result.ws.shape == (1, num_ws, G.w_dim)
        assert result.reconstruction.shape == (resolution, resolution, 3)


def test_wplus_reaches_30_db_on_a_generated_image(known_target, fast_config):
    G, _, target = known_target
    # An MSE term (default 0, as NVlabs) makes the tiny test converge in few steps.
    config = dataclasses.replace(fast_config, w_steps=60, wplus_steps=60, mse_weight=1.0)
    result = invert(G, target, "w+", config)
    assert psnr(target, result.reconstruction) >= 30
    assert result.losses["w+"][-1] < result.losses["w"][0]
    with torch.no_grad():  # The reconstruction is what the returned G makes at the returned ws.
        again = synthesize(result.G, result.ws)
    assert np.array_equal(
        (again[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy(), result.reconstruction
    )


def test_w_projection_from_the_same_generator(known_target, fast_config):
    G, ws_true, target = known_target
    config = dataclasses.replace(fast_config, w_steps=100, mse_weight=1.0, optimize_noise=False)
    result = invert(G, target, "w", config)
    assert result.G is G and not result.tuned  # Nothing changed in G: edit with the caller's generator.
    assert psnr(target, result.reconstruction) >= 30
    start = float((G.mapping.w_avg - ws_true[0, 0]).norm())
    assert float((result.ws[0, 0] - ws_true[0, 0]).norm()) < 0.3 * start  # Moved most of the way to the known w.


def test_generator_with_noise_writes_the_maps_into_a_copy(tiny_G):
    before = state_dict_copy(tiny_G)
    noise = initial_noise(tiny_G, seed=5)
    G_noise = generator_with_noise(tiny_G, noise)
    assert G_noise is not tiny_G and not G_noise.training
    assert not any(p.requires_grad for p in G_noise.parameters())
    buffers = dict(G_noise.synthesis.named_buffers())
    for name, value in noise.items():
        torch.testing.assert_close(buffers[name], value, rtol=0, atol=0)
    ws = tiny_G.mapping(torch.randn([1, tiny_G.z_dim], generator=torch.Generator().manual_seed(0)), None)
    with torch.no_grad():  # the copy renders what synthesize renders with those maps
        torch.testing.assert_close(synthesize(G_noise, ws), synthesize(tiny_G, ws, noise=noise), rtol=0, atol=1e-6)
    assert_state_dict_equal(tiny_G, before)  # G untouched
    kept = generator_with_noise(tiny_G, None)  # no maps: a plain copy of G
    assert kept is not tiny_G
    assert_state_dict_equal(kept, before)
