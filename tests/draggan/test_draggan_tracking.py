"""`draggan.tracking`: nearest-neighbour point tracking."""

import math

import pytest
import torch

from draggan.sampling import sample_upsampled
from draggan.tracking import track_points, window_offsets


def _random_feat(channels=16, size=32, seed=0):
    return torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed))


def _smooth_feat(size=64, shift=(0.0, 0.0)):
    """Channels of smooth sinusoids, optionally translated by shift = (dx, dy) pixels."""
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij"
    )
    xs, ys = xs - shift[0], ys - shift[1]
    chans = []
    for fx, fy, ph in [(1, 0, 0), (0, 1, 0.3), (1, 1, 1.0), (1, -1, 2.0), (2, 1, 0.5), (1, 2, 1.5)]:
        chans.append(torch.sin(2 * math.pi * (fx * xs + fy * ys) / 61.0 + ph))
    return torch.stack(chans)[None].to(torch.float32)


def test_window_offsets_row_major():
    off = window_offsets(2)
    assert off.shape == (25, 2)
    assert off[0].tolist() == [-2, -2] and off[1].tolist() == [-1, -2] and off[-1].tolist() == [2, 2]


@pytest.mark.parametrize("factor", [1, 4])
@pytest.mark.parametrize("shift", [(3, -2), (0, 0), (-4, 5), (5, 5)])
def test_tracking_recovers_known_shift_exactly(factor, shift):
    """Features translated by (dx, dy) feature px are found (dx, dy) * R / h image px away."""
    size, res = 32, 32 * factor
    feat0 = _random_feat(size=size)
    dx, dy = shift
    feat1 = torch.roll(feat0, shifts=(dy, dx), dims=(2, 3))
    handles = torch.tensor([[12.0, 14.0], [20.0, 9.0], [16.0, 16.0]]) * factor
    refs = sample_upsampled(feat0, handles, res)
    radius = 5 * factor
    new = track_points(feat1, handles, refs, res, radius)
    assert torch.equal(new, handles + torch.tensor([dx, dy], dtype=torch.float32) * factor)


def test_tracking_skips_positions_outside_image():
    feat0 = _random_feat()
    handles = torch.tensor([[0.0, 0.0], [31.0, 31.0]])
    refs = sample_upsampled(feat0, handles, 32)
    # Unchanged features: each handle stays, although half its window is outside the image.
    assert torch.equal(track_points(feat0, handles, refs, 32, 4), handles)
    # The best match is the window position inside the image that is nearest to the reference.
    shifted = torch.roll(feat0, shifts=(2, 2), dims=(2, 3))
    new = track_points(shifted, handles, refs, 32, 4)
    assert ((new >= 0) & (new <= 31)).all()
    assert new[0].tolist() == [2.0, 2.0]


def test_subpixel_tracking_recovers_fractional_shift():
    true_shift = (1.3, -0.6)
    feat0, feat1 = _smooth_feat(), _smooth_feat(shift=true_shift)
    handles = torch.tensor([[30.0, 30.0], [20.0, 40.0]])
    refs = sample_upsampled(feat0, handles, 64)
    coarse = track_points(feat1, handles, refs, 64, 3)
    fine = track_points(feat1, handles, refs, 64, 3, subpixel=True)
    want = handles + torch.tensor(true_shift)
    assert torch.equal(coarse, coarse.round())  # integer steps by default
    assert (fine - want).abs().max() < 0.15
    assert (fine - want).abs().max() < (coarse - want).abs().max()
