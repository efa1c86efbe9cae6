"""`draggan.sampling`: lazy evaluation of the upsampled feature map."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from draggan.sampling import image_to_feature, sample_features, sample_upsampled


@pytest.fixture
def feat():
    return torch.randn(1, 5, 8, 8, generator=torch.Generator().manual_seed(0))


def test_image_to_feature_pixel_centres():
    pts = torch.tensor([[-0.5, -0.5], [31.5, 31.5], [1.5, 5.5]])
    out = image_to_feature(pts, 32, 8)
    # The image edges map to the feature-map edges; the centre of image pixels 0..3 to feature pixel 0.
    assert torch.allclose(out, torch.tensor([[-0.5, -0.5], [7.5, 7.5], [0.0, 1.0]]))


@pytest.mark.parametrize("res", [8, 32])
def test_integer_points_equal_interpolate(feat, res):
    """At every image pixel, including the borders, the value is that of F.interpolate (align_corners=False)."""
    up = F.interpolate(feat, [res, res], mode="bilinear", align_corners=False)
    ys, xs = torch.meshgrid(torch.arange(res.__int__()), torch.arange(res), indexing="ij")
    pts = torch.stack([xs, ys], dim=-1).float()  # (res, res, 2) as (x, y)
    got = sample_upsampled(feat, pts, res)  # (res, res, C)
    assert torch.allclose(got.permute(2, 0, 1), up[0], atol=1e-5)


def test_subpixel_points_match_official_formula(feat):
    """Between pixels: grid_sample(align_corners=True) on the map upsampled to the image (official renderer)."""
    res = 32
    up = F.interpolate(feat, [res, res], mode="bilinear", align_corners=False)
    pts = torch.rand(50, 2, generator=torch.Generator().manual_seed(1)) * (res - 1)
    grid = (pts / (res - 1) * 2 - 1).reshape(1, 1, -1, 2)
    want = F.grid_sample(up, grid, mode="bilinear", align_corners=True)[0, :, 0].t()
    assert torch.allclose(sample_upsampled(feat, pts, res), want, atol=1e-5)


def test_sample_features_matches_interpolate_and_has_grad(feat):
    feat = feat.clone().requires_grad_(True)
    pts_img = torch.tensor([[3.0, 7.0], [0.0, 0.0], [15.0, 15.0]])
    up = F.interpolate(feat, [16, 16], mode="bilinear", align_corners=False)
    got = sample_features(feat, image_to_feature(pts_img, 16, 8))
    want = torch.stack([up[0, :, 7, 3], up[0, :, 0, 0], up[0, :, 15, 15]])
    assert torch.allclose(got, want, atol=1e-5)
    got.sum().backward()
    assert feat.grad is not None and feat.grad.abs().sum() > 0


def test_leading_shape_is_kept(feat):
    pts = torch.zeros(2, 3, 4, 2)
    assert sample_upsampled(feat, pts, 16).shape == (2, 3, 4, 5)


@pytest.mark.parametrize("crops", [False, True])
def test_points_beyond_the_border_read_zeros_like_the_official_grid_sample(feat, crops):
    """The official motion supervision samples q + d with grid_sample's default zero padding, so a point
    half a pixel outside the image gets half the border value; far outside, zero."""
    res = 32
    up = F.interpolate(feat, [res, res], mode="bilinear", align_corners=False)
    pts = torch.tensor(
        [
            [-0.5, 10.0],
            [31.5, 4.25],
            [12.0, -0.3],
            [7.7, 31.9],
            [-0.6, -0.6],
            [-3.0, 5.0],
            [40.0, 40.0],
            [0.0, 0.0],
            [31.0, 31.0],
            [30.2, 15.6],
        ]
    )
    grid = (pts / (res - 1) * 2 - 1).reshape(1, 1, -1, 2)
    want = F.grid_sample(up, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0, :, 0].t()
    if crops:  # one crop per point: the whole 8x8 map with a zero frame, first pixel at (-1, -1)
        n = len(pts)
        padded = F.pad(feat, (1, 1, 1, 1)).expand(n, -1, -1, -1)
        got = sample_upsampled(padded, pts[:, None], res, torch.full((n, 2), -1.0), feature_res=8)[:, 0]
    else:
        got = sample_upsampled(feat, pts, res)
    assert torch.allclose(got, want, atol=1e-5)
    torch.testing.assert_close(got[0], 0.5 * up[0, :, 10, 0])
    assert torch.equal(got[5], torch.zeros(5)) and torch.equal(got[6], torch.zeros(5))


def _border_padding(monkeypatch):
    """The sampler as it was before MPS support: grid_sample with padding_mode='border'."""
    import draggan.sampling as sampling

    real = F.grid_sample

    def border(*args, **kwargs):
        return real(*args, **{**kwargs, "padding_mode": "border"})

    monkeypatch.setattr(sampling.F, "grid_sample", border)


def test_grid_sample_is_avoided_only_on_mps():
    from draggan.sampling import grid_sample_backward_available

    assert grid_sample_backward_available(torch.device("cpu"))
    assert grid_sample_backward_available(torch.device("cuda", 1))
    assert not grid_sample_backward_available(torch.device("mps"))


@pytest.mark.parametrize("crops", [False, True])
def test_clamped_zero_padding_equals_border_padding_bit_for_bit(feat, crops, monkeypatch):
    """'zeros' after the explicit clamp (what MPS supports) reads exactly what 'border' read, beyond the edge too."""
    pts = torch.tensor([[-3.0, 0.0], [0.0, -0.4], [31.0, 31.0], [31.7, 12.2], [40.0, -9.0], [6.3, 17.8]])
    origin = torch.tensor([[-2, -2], [4, 4]]) if crops else None
    maps = torch.stack([feat[0], feat[0].flip(-1)]) if crops else feat
    batch = pts.reshape(2, 3, 2) if crops else pts
    zeros = sample_upsampled(maps, batch, 32, origin, 8 if crops else None)
    _border_padding(monkeypatch)
    border = sample_upsampled(maps, batch, 32, origin, 8 if crops else None)
    assert torch.equal(zeros, border)


def test_gather_path_matches_grid_sample_values_and_gradients(feat, monkeypatch):
    """The MPS path (4-tap gather) against grid_sample on the CPU: same samples, same gradient."""
    import draggan.sampling as sampling

    pts = torch.tensor([[-1.0, 3.2], [7.0, 7.0], [2.25, 5.5], [7.9, -0.3], [0.0, 0.0]])
    a = feat.clone().requires_grad_(True)
    want = sample_features(a, pts)
    want.square().sum().backward()
    monkeypatch.setattr(sampling, "grid_sample_backward_available", lambda device: False)
    b = feat.clone().requires_grad_(True)
    got = sample_features(b, pts)
    got.square().sum().backward()
    assert torch.allclose(got, want, atol=1e-6) and torch.allclose(b.grad, a.grad, atol=1e-5)


def test_drag_with_handles_at_the_border_is_unchanged_by_the_padding_mode(tiny_generator_factory, monkeypatch):
    """Trajectories bit-identical with 'zeros' (every device) and 'border' (the former CPU path)."""
    from draggan import DragConfig, drag

    G = tiny_generator_factory(img_resolution=32, seed=5)
    with torch.no_grad():
        ws0 = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), truncation_psi=0.7)
    config = DragConfig(lr=0.02, r1=48.0, r2=96.0, max_steps=6, stop_distance=0.0)
    handles, targets = [[0, 0], [31, 16], [12, 31]], [[6, 4], [25, 16], [12, 24]]
    zeros = drag(G, ws0, handles, targets, config=config)
    _border_padding(monkeypatch)
    border = drag(G, ws0, handles, targets, config=config)
    assert np.array_equal(zeros.history, border.history) and torch.equal(zeros.ws, border.ws)


def test_sampler_never_asks_for_border_padding(feat, monkeypatch):
    """Some MPS builds raise 'Unsupported Border padding mode': the sampler must not need it."""
    import draggan.sampling as sampling

    real = F.grid_sample

    def like_mps(*args, **kwargs):
        if kwargs.get("padding_mode", "zeros") == "border":
            raise RuntimeError("MPS: Unsupported Border padding mode")
        return real(*args, **kwargs)

    monkeypatch.setattr(sampling.F, "grid_sample", like_mps)
    pts = torch.tensor([[-2.0, 0.0], [31.0, 31.0], [15.5, 3.25]])
    assert sample_upsampled(feat, pts, 32).shape == (3, 5)


def test_deterministic_mode_reads_cuda_features_without_grid_sample():
    """grid_sample's CUDA backward adds with atomics; in deterministic mode the 1-D gather path is used."""
    from common.device import deterministic
    from draggan.sampling import grid_sample_backward_available

    assert grid_sample_backward_available(torch.device("cuda"))
    with deterministic(True):
        assert not grid_sample_backward_available(torch.device("cuda"))
        assert grid_sample_backward_available(torch.device("cpu"))  # deterministic on the CPU already
