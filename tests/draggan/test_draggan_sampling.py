"""`draggan.sampling`: lazy evaluation of the upsampled feature map."""

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
