"""`stylegan.ops`: upfirdn2d against a direct definition (asymmetric filters included)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylegan.ops import setup_filter, upfirdn2d, upsample2d


def reference_upfirdn2d(
    x: np.ndarray, f: np.ndarray, up: int, down: int, padding: tuple[int, int, int, int], gain: float
) -> np.ndarray:
    """Loops straight from the definition: zero insertion, pad (negative = crop), true convolution, decimate."""
    left, right, top, bottom = padding
    h, w = x.shape
    u = np.zeros((h * up, w * up))
    u[::up, ::up] = x
    padded = np.zeros((h * up + max(top, 0) + max(bottom, 0), w * up + max(left, 0) + max(right, 0)))
    padded[max(top, 0) : max(top, 0) + h * up, max(left, 0) : max(left, 0) + w * up] = u
    padded = padded[max(-top, 0) : padded.shape[0] - max(-bottom, 0), max(-left, 0) : padded.shape[1] - max(-right, 0)]
    kh, kw = f.shape
    out = np.zeros((padded.shape[0] - kh + 1, padded.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for a in range(kh):
                for b in range(kw):
                    out[i, j] += gain * f[a, b] * padded[i + kh - 1 - a, j + kw - 1 - b]
    return out[::down, ::down]


@pytest.mark.parametrize(
    "up,down,padding",
    [(1, 1, (0, 0, 0, 0)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 2, 0, 1)), (2, 2, (1, 1, 2, 0)), (1, 1, (-1, 2, 1, -1))],
)
def test_upfirdn2d_matches_the_definition_for_an_asymmetric_filter(up, down, padding):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 7, generator=gen, dtype=torch.float64)
    f = torch.rand(3, 4, generator=gen, dtype=torch.float64)  # asymmetric and non-square
    out = upfirdn2d(x, f, up=up, down=down, padding=padding, gain=1.5)
    for b in range(2):
        for c in range(3):
            expected = reference_upfirdn2d(x[b, c].numpy(), f.numpy(), up, down, padding, 1.5)
            np.testing.assert_allclose(out[b, c].numpy(), expected, rtol=1e-12, atol=1e-12)


def test_flip_filter_turns_the_convolution_into_a_correlation():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 5, 5, generator=gen, dtype=torch.float64)
    f = torch.rand(2, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(upfirdn2d(x, f, flip_filter=True), upfirdn2d(x, f.flip([0, 1])), rtol=0, atol=0)
    # A one-tap shift filter moves the image the way a convolution must: [0, 1] delays x by one column.
    shift = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    out = upfirdn2d(x, shift, padding=(1, 0, 0, 0))
    torch.testing.assert_close(out[..., 1:], x[..., :-1], rtol=0, atol=0)


def test_symmetric_stylegan_filter_is_unchanged_by_the_flip():
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    f = setup_filter((1, 3, 3, 1))
    torch.testing.assert_close(
        upfirdn2d(x, f, up=2, padding=(2, 1, 2, 1)),
        upfirdn2d(x, f, up=2, padding=(2, 1, 2, 1), flip_filter=True),
        rtol=0,
        atol=0,
    )
    assert upsample2d(x, f).shape == (1, 4, 16, 16)


def test_upfirdn2d_refuses_a_1d_filter():
    with pytest.raises(ValueError, match="2-D"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), torch.ones(3))
