"""`stylegan.local`: features on crops around the handles equal the full map's."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from draggan import DragConfig, drag
from draggan.motion import motion_loss
from draggan.tracking import track_points
from stylegan.local import crop_features, plan_crops, supports_crops


@pytest.fixture
def G128(tiny_generator_factory):
    # Non-zero noise strength so that misplaced noise crops would show.
    return tiny_generator_factory(img_resolution=128, seed=1, noise_strength=0.5)


def _ws(G, seed=0):
    with torch.no_grad():
        return G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)))


def _crop_of(dense, origin, size, pad=64):
    padded = F.pad(dense, (pad,) * 4)
    out = []
    for ox, oy in origin.long().tolist():
        out.append(padded[0, :, oy + pad : oy + pad + size, ox + pad : ox + pad + size])
    return torch.stack(out)


def test_supports_our_generator(G128):
    assert supports_crops(G128)
    assert not supports_crops(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("reach", [5.0, 17.0])
def test_crops_equal_full_map_including_borders(G128, reach):
    ws = _ws(G128)
    plan = plan_crops(G128, 64, 128, reach, 3)
    assert plan is not None and plan.local_res[-1] == 64
    centers = np.array([[0.0, 0.0], [64.3, 40.0], [127.0, 125.5]])  # corners included
    with torch.no_grad():
        dense = G128.synthesis.features(ws, until_res=64)
        crops, origin = crop_features(G128, ws, centers, plan, 128, 64, reach)
    assert crops.shape == (3, dense.shape[1], plan.out_size, plan.out_size)
    want = _crop_of(dense, origin, plan.out_size)
    # Pixels off the map are zero in the crops (and in the zero-padded reference).
    assert torch.allclose(crops, want, atol=1e-5 * dense.abs().max())


def test_loss_and_gradient_equal_full_map(G128):
    """Motion loss, its gradient w.r.t. the latent, and tracking agree between crops and the full map."""
    ws0 = _ws(G128)
    handles = torch.tensor([[30.0, 50.0], [100.0, 20.0]])
    targets = torch.tensor([[50.0, 50.0], [90.0, 40.0]])
    r1, r2 = 2, 4
    reach = r2 + r1 + 2
    plan = plan_crops(G128, 64, 128, reach, 2)
    assert plan is not None
    grads, losses, tracked = [], [], []
    for local in (False, True):
        ws = ws0.clone().requires_grad_(True)
        if local:
            feat, origin = crop_features(G128, ws, handles.numpy(), plan, 128, 64, reach)
        else:
            feat, origin = G128.synthesis.features(ws, until_res=64), None
        loss = motion_loss(feat, handles, targets, 128, r1, origin, 64)
        loss.backward()
        losses.append(loss.detach())
        grads.append(ws.grad)
        refs = torch.randn(2, feat.shape[1], generator=torch.Generator().manual_seed(0))
        tracked.append(track_points(feat.detach(), handles, refs, 128, r2, origin=origin, feature_res=64))
    assert torch.allclose(losses[0], losses[1], rtol=1e-5)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6 * grads[0].abs().max())
    assert torch.equal(tracked[0], tracked[1])


def test_plan_prefers_full_map_when_crops_are_large(tiny_G):
    assert plan_crops(tiny_G, 16, 32, 17.0, 1) is None


def test_drag_same_trajectory_with_and_without_crops(G128):
    ws0 = _ws(G128, seed=2)
    config = DragConfig(lr=0.02, max_steps=8, r1=8.0, r2=32.0)  # 2 px and 8 px at 128 px
    handles, targets = [[40, 60], [90, 30]], [[60, 60], [80, 50]]
    local = drag(G128, ws0, handles, targets, config=config)
    full = drag(G128, ws0, handles, targets, config=dataclasses.replace(config, local_features=False))
    assert np.array_equal(local.history, full.history)
    assert torch.allclose(local.ws, full.ws, atol=1e-4)
    assert np.abs(local.history[-1] - local.history[0]).max() >= 2
