"""`draggan.drag` on tiny random generators."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.images import uint8_from_network
from draggan import DragConfig, DragError, DragResult, drag
from stylegan import uint8_from_ws

# A config whose radii are not rounded away on a 64-px generator (r1 = 3 px, r2 = 6 px there).
# The paper's centred disc: the looped reference below implements the paper, not the official grid.
CFG64 = DragConfig(lr=0.02, r1=24.0, r2=48.0, official_disc_grid=False)


@pytest.fixture
def G64(tiny_generator_factory):
    return tiny_generator_factory(img_resolution=64, seed=3)


def _ws0(G, seed=0):
    with torch.no_grad():
        return G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)), truncation_psi=0.7)


def _reference_drag(G, ws0, handles, targets, config, steps):
    """A plain transcription of the algorithm as the official renderer runs it: the whole feature map
    upsampled to the image, points and disc pixels in Python loops (reference for the vectorised loop)."""
    res = G.img_resolution
    r1 = max(1, round(config.r1 * res / 512))
    r2 = max(1, round(config.r2 * res / 512))
    stop = max(2.0, 2.0 * res / 512)
    ws_param = ws0.clone().requires_grad_(True)
    opt = torch.optim.Adam([ws_param], lr=config.lr)
    points = [[int(x), int(y)] for x, y in handles]
    history = [[list(map(float, p)) for p in points]]
    refs = None
    for k in range(steps + 1):
        ws = torch.cat([ws_param[:, :6], ws0[:, 6:]], dim=1)
        feat = G.synthesis.features(ws, until_res=res // 2, noise_mode="const")
        up = F.interpolate(feat, [res, res], mode="bilinear", align_corners=False)
        if refs is None:
            refs = [up[0, :, y, x].detach() for x, y in points]
        else:
            with torch.no_grad():
                for j, (x, y) in enumerate(points):
                    top, bottom = max(y - r2, 0), min(y + r2 + 1, res)
                    left, right = max(x - r2, 0), min(x + r2 + 1, res)
                    patch = up[0, :, top:bottom, left:right]
                    dist = (patch - refs[j][:, None, None]).norm(dim=0)
                    idx = int(dist.reshape(-1).argmin())
                    points[j] = [idx % (right - left) + left, idx // (right - left) + top]
            history.append([list(map(float, p)) for p in points])
        if all(np.hypot(t[0] - p[0], t[1] - p[1]) <= stop for p, t in zip(points, targets)) or k == steps:
            break
        loss = 0
        for (x, y), (tx, ty) in zip(points, targets):
            d = torch.tensor([tx - x, ty - y], dtype=torch.float32)
            if d.norm() <= 1:
                continue
            d = d / (d.norm() + 1e-7)
            qs = [
                (x + i, y + j)
                for j in range(-r1, r1 + 1)
                for i in range(-r1, r1 + 1)
                if i * i + j * j < r1 * r1 and 0 <= x + i < res and 0 <= y + j < res
            ]
            qx = torch.tensor([q[0] for q in qs])
            qy = torch.tensor([q[1] for q in qs])
            grid = torch.stack([(qx + d[0]) / (res - 1) * 2 - 1, (qy + d[1]) / (res - 1) * 2 - 1], dim=-1)
            moved = F.grid_sample(up, grid[None, None], align_corners=True)[:, :, 0]
            loss = loss + F.l1_loss(up[:, :, qy, qx].detach(), moved)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return np.asarray(history)


def test_result_fields(G64):
    ws0 = _ws0(G64)
    result = drag(G64, ws0, [[20, 30]], [[44, 30]], config=dataclasses.replace(CFG64, max_steps=3))
    assert isinstance(result, DragResult)
    assert result.ws.shape == ws0.shape and result.ws.device.type == "cpu" and not result.ws.requires_grad
    assert result.history.shape == (result.steps + 1, 1, 2) and result.history.dtype == np.float64
    assert np.array_equal(result.history[0], [[20.0, 30.0]])
    assert np.array_equal(result.handles, result.history[-1])
    assert result.image.shape == (64, 64, 3) and result.image.dtype == np.uint8
    assert result.losses.shape == (result.steps,) and (result.losses > 0).all()
    with torch.no_grad():
        assert np.array_equal(result.image, uint8_from_network(G64.synthesis(result.ws, noise_mode="const"))[0])


def test_matches_plain_reference_implementation(G64):
    """Vectorised sampling/tracking give the trajectory of the full-resolution, looped algorithm."""
    ws0 = _ws0(G64)
    handles, targets = [[20, 30], [40, 16]], [[44, 30], [36, 40]]
    ours = drag(G64, ws0, handles, targets, config=dataclasses.replace(CFG64, max_steps=12, lr=0.01))
    ref = _reference_drag(G64, ws0, handles, targets, dataclasses.replace(CFG64, lr=0.01), 12)
    n = min(len(ref), len(ours.history))
    assert n > 5
    dev = np.abs(ours.history[:n] - ref[:n]).max()
    assert dev <= 1.0, f"max deviation {dev} px"
    assert np.abs(ours.history[:n] - ref[:n]).sum(axis=-1).mean() < 0.5  # almost always identical
    assert np.abs(ours.history[-1] - ours.history[0]).max() >= 2  # and the handles did move


def test_rows_above_optimized_never_change(G64):
    ws0 = _ws0(G64)
    result = drag(G64, ws0, [[20, 30]], [[44, 30]], config=dataclasses.replace(CFG64, max_steps=4))
    assert torch.equal(result.ws[:, 6:], ws0[:, 6:])
    assert not torch.equal(result.ws[:, :6], ws0[:, :6])


def test_w_mode_repeats_one_w(G64):
    ws0 = _ws0(G64)
    result = drag(G64, ws0, [[20, 30]], [[44, 30]], config=dataclasses.replace(CFG64, max_steps=4, w_space="w"))
    assert torch.equal(result.ws[:, 6:], ws0[:, 6:])
    assert all(torch.equal(result.ws[:, i], result.ws[:, 0]) for i in range(6))
    assert not torch.equal(result.ws[:, 0], ws0[:, 0])


def test_stops_at_stop_distance(G64):
    ws0 = _ws0(G64)
    config = dataclasses.replace(CFG64, max_steps=60)
    result = drag(G64, ws0, [[20, 30]], [[32, 30]], config=config)
    dist = np.linalg.norm(result.history - np.array([[32.0, 30.0]]), axis=-1)[:, 0]
    assert result.converged and result.steps < config.max_steps
    assert dist[-1] <= 2.0 and (dist[:-1] > 2.0).all()  # stopped at the first step within max(2, 2R/512)


def test_already_within_stop_distance_takes_no_step(G64):
    ws0 = _ws0(G64)
    result = drag(G64, ws0, [[20, 30], [40, 40]], [[21.5, 30], [40, 41]], config=CFG64)
    assert result.converged and result.steps == 0 and torch.equal(result.ws, ws0)


def test_runs_max_steps_when_not_converging(G64):
    ws0 = _ws0(G64)
    result = drag(G64, ws0, [[5, 5]], [[60, 60]], config=dataclasses.replace(CFG64, max_steps=3, lr=1e-5))
    assert not result.converged and result.steps == 3 and len(result.history) == 4


def test_mask_keeps_fixed_region(G64):
    ws0 = _ws0(G64)
    handles, targets = [[20, 30]], [[40, 30]]
    mask = np.zeros((64, 64), dtype=bool)
    mask[14:46, 10:50] = True  # the region around the drag may move
    base = dataclasses.replace(CFG64, max_steps=10, stop_distance=0.0)
    free = drag(G64, ws0, handles, targets, config=base)
    held = drag(G64, ws0, handles, targets, mask=mask, config=base)
    with torch.no_grad():
        f0 = G64.synthesis.features(ws0, until_res=32)
        fixed = torch.from_numpy(~mask[1::2, 1::2])
        change = [
            ((G64.synthesis.features(r.ws, until_res=32) - f0).abs().mean(dim=1)[0][fixed]).mean() for r in (free, held)
        ]
    assert change[1] < 0.7 * change[0]


def test_deterministic_on_cpu(G64):
    ws0 = _ws0(G64)
    config = dataclasses.replace(CFG64, max_steps=5)
    a = drag(G64, ws0, [[20, 30]], [[44, 30]], config=config)
    b = drag(G64, ws0, [[20, 30]], [[44, 30]], config=config)
    assert torch.equal(a.ws, b.ws) and np.array_equal(a.history, b.history) and np.array_equal(a.image, b.image)


def test_generator_and_inputs_untouched(tiny_generator_factory):
    G = tiny_generator_factory(img_resolution=64, seed=3).requires_grad_(True)
    state = {k: v.clone() for k, v in G.state_dict().items()}
    ws0 = _ws0(G)
    ws0_copy = ws0.clone()
    handles = np.array([[20.0, 30.0]])
    drag(G, ws0, handles, [[44, 30]], config=dataclasses.replace(CFG64, max_steps=3))
    assert all(p.requires_grad and p.grad is None for p in G.parameters())
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in state.items())
    assert torch.equal(ws0, ws0_copy) and np.array_equal(handles, [[20.0, 30.0]])


def test_callback_frames_and_early_stop(G64):
    ws0 = _ws0(G64)
    calls = []

    def callback(step, handles, image):
        calls.append((step, handles.copy(), None if image is None else image.shape))
        return step == 3

    config = dataclasses.replace(CFG64, max_steps=20, frame_every=2, lr=1e-4)
    result = drag(G64, ws0, [[5, 5]], [[60, 60]], config=config, callback=callback)
    assert result.steps == 3 and result.stopped_by_callback and not result.converged
    assert [c[0] for c in calls] == [1, 2, 3]
    assert [c[2] for c in calls] == [None, (64, 64, 3), None]
    assert result.frame_steps == [0, 2] and len(result.frames) == 2
    assert np.array_equal(calls[-1][1], result.handles)


def test_latent_snapshots_follow_their_schedule_and_render_the_loops_frames(G64):
    """Snapshots at 0, every k and the last step, apart from the preview schedule; rendering one
    gives exactly the frame the loop rendered at that step (and the final image)."""
    ws0 = _ws0(G64)
    config = dataclasses.replace(CFG64, max_steps=11, stop_distance=0.0, frame_every=2, latent_every=4)
    result = drag(G64, ws0, [[20, 30]], [[40, 30]], config=config)
    assert result.steps == 11
    assert result.latent_steps == [0, 4, 8, 11] and len(result.frame_latents) == 4
    assert result.frame_steps == [0, 2, 4, 6, 8, 10]
    for ws in result.frame_latents:
        assert ws.shape == ws0.shape and ws.device.type == "cpu" and not ws.requires_grad
    torch.testing.assert_close(result.frame_latents[0], ws0, rtol=0, atol=0)
    torch.testing.assert_close(result.frame_latents[-1], result.ws, rtol=0, atol=0)
    frames = dict(zip(result.frame_steps, result.frames))
    for ws, step in zip(result.frame_latents, result.latent_steps):
        expected = frames[step] if step in frames else result.image
        np.testing.assert_array_equal(uint8_from_ws(G64, ws)[0], expected, err_msg=f"step {step}")
    assert not np.array_equal(frames[0], result.image)  # the drag changed the image
    plain = drag(G64, ws0, [[20, 30]], [[40, 30]], config=dataclasses.replace(config, latent_every=0, frame_every=0))
    assert plain.frame_latents == [] and plain.latent_steps == []
    np.testing.assert_array_equal(plain.history, result.history)  # snapshots do not change the drag


def test_tensor_inputs_and_tiny_default_generator(tiny_G):
    ws0 = _ws0(tiny_G)
    result = drag(
        tiny_G, ws0, torch.tensor([[10.0, 12.0]]), torch.tensor([[20.0, 12.0]]), config=DragConfig(max_steps=2)
    )
    assert result.image.shape == (32, 32, 3) and result.steps <= 2


def test_bfloat16_autocast_on_cpu(G64):
    ws0 = _ws0(G64)
    result = drag(G64, ws0, [[20, 30]], [[44, 30]], config=dataclasses.replace(CFG64, max_steps=3, autocast="bfloat16"))
    assert np.isfinite(result.losses).all() and torch.isfinite(result.ws).all()
    assert result.ws.dtype == torch.float32


@pytest.mark.parametrize(
    "handles,targets,match",
    [
        ([[70, 10]], [[10, 10]], "outside the 64x64 image"),
        ([[10, 10]], [[10, -1]], "outside the 64x64 image"),
        ([[10, 10], [20, 20]], [[30, 30]], "2 handles but 1 targets"),
        ([], [], "empty"),
        ([[10, float("nan")]], [[30, 30]], "not finite"),
        ([[10, 10, 3]], [[30, 30, 3]], r"shape \(N, 2\)"),
        ("ab", [[30, 30]], "array"),
    ],
)
def test_invalid_points(G64, handles, targets, match):
    with pytest.raises(DragError, match=match):
        drag(G64, _ws0(G64), handles, targets, config=CFG64)


@pytest.mark.parametrize(
    "mask,match",
    [
        (np.ones((32, 32)), r"shape \(64, 64\)"),
        (np.full((64, 64), 2.0), r"in \[0, 1\]"),
        (np.full((64, 64), np.nan), r"in \[0, 1\]"),
    ],
)
def test_invalid_mask(G64, mask, match):
    with pytest.raises(DragError, match=match):
        drag(G64, _ws0(G64), [[10, 10]], [[30, 30]], mask=mask, config=CFG64)


def test_invalid_latent_and_setup(G64):
    ws0 = _ws0(G64)
    with pytest.raises(DragError, match="shape"):
        drag(G64, ws0[:, 0], [[10, 10]], [[30, 30]])
    with pytest.raises(DragError, match="NaN"):
        drag(G64, torch.full_like(ws0, float("nan")), [[10, 10]], [[30, 30]])
    with pytest.raises(DragError, match="optimize_rows"):
        drag(G64, ws0, [[10, 10]], [[30, 30]], config=DragConfig(optimize_rows=G64.num_ws + 1))
    with pytest.raises(DragError, match="feature_res"):
        drag(G64, ws0, [[10, 10]], [[30, 30]], config=DragConfig(feature_res=128))
    with pytest.raises(DragError, match="float16"):
        drag(G64, ws0, [[10, 10]], [[30, 30]], config=DragConfig(autocast="float16"))
    with pytest.raises(DragError, match="DragConfig"):
        drag(G64, ws0, [[10, 10]], [[30, 30]], config={"lr": 1})
    # Bad input is also a ValueError, and part of the project's hierarchy.
    from stylegan import DragPipelineError

    assert issubclass(DragError, ValueError) and issubclass(DragError, DragPipelineError)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_drag_with_reduced_precision_top_blocks_converges_like_fp32(tiny_generator_factory, dtype):
    # NVlabs pickles run their top blocks in fp16 (num_fp16_res, conv_clamp); here those blocks, including
    # the supervising b32, run in fp16 on the CPU (bf16 as a stand-in where this PyTorch lacks fp16 convs).
    from stylegan.networks import reduced_precision

    if dtype == torch.float16:
        try:
            F.conv2d(torch.ones(1, 1, 3, 3, dtype=torch.float16), torch.ones(1, 1, 3, 3, dtype=torch.float16))
        except RuntimeError:
            pytest.skip("this PyTorch has no fp16 convolutions on the CPU; the bf16 case stands in")
    G = tiny_generator_factory(img_resolution=64, seed=3, num_fp16_res=2, conv_clamp=256)
    config = dataclasses.replace(CFG64, max_steps=40, feature_res=32)
    ws0 = _ws0(G)
    handles, targets = [[20.0, 32.0]], [[28.0, 32.0]]
    ref = drag(G, ws0, handles, targets, config=config)
    with reduced_precision(G, dtype):
        out = drag(G, ws0, handles, targets, config=config)
    assert G.synthesis.b32.block_dtype(torch.device("cpu"), False) == torch.float32  # restored afterwards
    assert ref.converged and out.converged
    assert np.isfinite(out.losses).all() and bool(torch.isfinite(out.ws).all())
    assert np.abs(out.handles - np.asarray(targets)).max() <= 2.0
    assert abs(out.steps - ref.steps) <= max(3, ref.steps // 4)
