"""`draggan.motion`: the motion-supervision and fixed-region terms."""

import pytest
import torch

from draggan.motion import disc_offsets, fixed_weight, mask_loss, motion_loss
from draggan.sampling import sample_upsampled


def _blob_feat(center, size=32, channels=3, sigma=3.0):
    """Gaussian blobs (different widths per channel) centred at `center` (x, y)."""
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    d2 = (xs - center[0]) ** 2 + (ys - center[1]) ** 2
    return torch.stack([torch.exp(-d2 / (2 * (sigma * (1 + 0.3 * c)) ** 2)) for c in range(channels)])[None]


@pytest.mark.parametrize("radius,count", [(1, 1), (2, 9), (3, 25), (4, 45)])
def test_disc_offsets_strictly_inside(radius, count):
    """Pixels at distance < r (paper: 'less than r1'); r1 = 3 at 512 px gives 25 pixels."""
    off = disc_offsets(radius)
    assert off.shape == (count, 2)
    assert (off.square().sum(dim=1) < radius**2).all()
    assert [0.0, 0.0] in off.tolist()


def test_zero_when_handle_at_target():
    feat = torch.randn(1, 4, 16, 16).requires_grad_(True)
    handles = torch.tensor([[5.0, 6.0], [10.0, 3.0]])
    for targets in (handles.clone(), handles + torch.tensor([[0.6, -0.7], [1.0, 0.0]])):  # within 1 px
        loss = motion_loss(feat, handles, targets, 16, 3)
        assert loss.item() == 0.0
        loss.backward()
        assert feat.grad.abs().max() == 0


def test_gradient_moves_features_toward_target():
    """One descent step on the map makes F(q + d) more like F(q): the content moves along d."""
    handle = torch.tensor([[14.0, 16.0]])
    target = torch.tensor([[24.0, 16.0]])
    feat = _blob_feat((14.0, 16.0)).requires_grad_(True)
    loss = motion_loss(feat, handle, target, 32, 3)
    assert loss.item() > 0
    loss.backward()
    offsets = disc_offsets(3)
    q = handle + offsets
    direction = torch.tensor([1.0, 0.0])
    with torch.no_grad():
        before = (sample_upsampled(feat, q + direction, 32) - sample_upsampled(feat, q, 32)).abs().sum()
        moved = feat - 0.1 * feat.grad / feat.grad.abs().max()  # change each value by at most 0.1
        after = (sample_upsampled(moved, q + direction, 32) - sample_upsampled(feat, q, 32)).abs().sum()
        assert after < 0.9 * before
        # The blob's centre of mass moves toward the target, hardly sideways.
        ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
        mass0, mass1 = feat[0, 0], moved[0, 0]
        cx0, cx1 = (mass0 * xs).sum() / mass0.sum(), (mass1 * xs).sum() / mass1.sum()
        cy0, cy1 = (mass0 * ys).sum() / mass0.sum(), (mass1 * ys).sum() / mass1.sum()
        assert cx1 - cx0 > 0.03
        assert abs(cy1 - cy0) < 0.1 * (cx1 - cx0)


def test_vectorised_equals_sum_of_single_handles():
    feat = torch.randn(1, 6, 16, 16, generator=torch.Generator().manual_seed(0))
    handles = torch.tensor([[20.0, 30.0], [40.0, 10.0], [5.0, 60.0]])
    targets = torch.tensor([[30.0, 30.0], [40.5, 10.2], [0.0, 50.0]])  # the second is within 1 px: no term
    total = motion_loss(feat, handles, targets, 64, 3)
    parts = sum(motion_loss(feat, handles[i : i + 1], targets[i : i + 1], 64, 3) for i in range(3))
    assert torch.allclose(total, parts)
    assert motion_loss(feat, handles[1:2], targets[1:2], 64, 3).item() == 0.0


def test_disc_pixels_outside_image_are_left_out():
    feat = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    corner = torch.tensor([[0.0, 0.0]])
    loss = motion_loss(feat, corner, torch.tensor([[10.0, 10.0]]), 16, 3)
    assert torch.isfinite(loss) and loss > 0


def test_fixed_weight_and_mask_loss():
    mask = torch.zeros(32, 32)
    mask[:, :16] = 1  # left half may move
    weight = fixed_weight(mask, 8)
    assert weight.shape == (1, 1, 8, 8)
    assert torch.equal(weight[0, 0, :, :4], torch.zeros(8, 4)) and torch.equal(weight[0, 0, :, 4:], torch.ones(8, 4))
    feat0 = torch.randn(1, 3, 8, 8)
    changed_left = feat0.clone()
    changed_left[..., :4] += 1
    changed_right = feat0.clone()
    changed_right[..., 4:] += 1
    assert mask_loss(changed_left, feat0, weight).item() == 0.0
    assert mask_loss(changed_right, feat0, weight).item() == pytest.approx(0.5)


@pytest.mark.parametrize("res,radius", [(64, 2), (256, 2), (512, 3)])
def test_official_disc_pixels_match_official_grid(res, radius):
    """The pixels the official renderer picks: grid = linspace(0, h, h), |grid - p| < r (rows, cols)."""
    from draggan.motion import official_disc_pixels

    handles = torch.tensor([[3.0, 5.0], [res / 2, res / 3], [res - 2.0, res - 1.0]])
    pixels, selected = official_disc_pixels(handles, radius, res)
    lin = torch.linspace(0, res, res)
    rows, cols = torch.meshgrid(lin, lin, indexing="ij")
    for i, (x, y) in enumerate(handles.tolist()):
        keep = ((rows - y) ** 2 + (cols - x) ** 2) ** 0.5 < radius
        ys, xs = torch.where(keep)
        want = sorted(zip(xs.tolist(), ys.tolist()))
        got = sorted(
            tuple(map(int, p)) for p in pixels[i][selected[i]].tolist() if 0 <= min(p) and max(p) <= res - 1
        )  # motion_loss drops pixels off the image
        assert got == want


def test_official_disc_grid_changes_only_the_pixel_set():
    feat = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    handles, targets = torch.tensor([[2.0, 3.0]]), torch.tensor([[20.0, 3.0]])
    # Near the origin the official grid is almost the paper's disc.
    a = motion_loss(feat, handles, targets, 128, 3)
    b = motion_loss(feat, handles, targets, 128, 3, official_disc_grid=True)
    assert torch.allclose(a, b)
    far = torch.tensor([[120.0, 120.0]])
    assert not torch.allclose(
        motion_loss(feat, far, far - 20, 128, 3), motion_loss(feat, far, far - 20, 128, 3, official_disc_grid=True)
    )
