"""Point tracking by nearest-neighbour feature matching (DragGAN, Sec. 3.3, Eq. 2).

After each optimiser step the handle p_i moves to the position in the
(2 r2 + 1)^2 square of image pixels around it whose feature is nearest (L2) to f_i,
the initial feature at the original handle. Features are read as the official
renderer reads them, from the map upsampled to the image resolution
(`draggan.sampling.sample_upsampled`), but only at the window's positions.
"""

from __future__ import annotations

import torch

from draggan.sampling import sample_upsampled

__all__ = ["window_offsets", "track_points"]


def window_offsets(radius: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Integer offsets of the (2 r + 1)^2 tracking window.

    Args:
        radius: half-width r2 in image pixels, >= 1.

    Returns:
        (K, 2) float32 (dx, dy), row-major (y outer), the order in which the official
        code breaks ties (the first minimum wins).
    """
    span = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(span, span, indexing="ij")
    return torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=1)


def track_points(
    feat: torch.Tensor,
    handles: torch.Tensor,
    feat_refs: torch.Tensor,
    img_resolution: int,
    radius: int,
    subpixel: bool = False,
    origin: torch.Tensor | None = None,
    feature_res: int | None = None,
) -> torch.Tensor:
    """Moves each handle to its best match in the window around it.

    Args:
        feat: (1, C, h, h) float feature map of the current latent, or (N, C, s, s)
            per-handle crops of it (see `stylegan.local`).
        handles: (N, 2) float (x, y) current handle positions, image pixels.
        feat_refs: (N, C) float reference features f_i.
        img_resolution: R, the side of the image.
        radius: r2 in image pixels (already scaled), >= 1.
        subpixel: refine the match by fitting a 2-D quadratic to the squared distances
            around it (at most +-0.5 px per axis). False keeps the official integer
            steps (handles stay on the lattice they started on).
        origin: with crops, (N, 2) (x, y) full-map position of each crop's first pixel.
        feature_res: with crops, the side h of the full map.

    Returns:
        (N, 2) float32 new positions; window positions outside the image are skipped.
    """
    with torch.no_grad():
        feat = feat.detach().to(torch.float32)
        offsets = window_offsets(radius, device=feat.device)  # (K, 2)
        pos = handles.to(torch.float32)[:, None, :] + offsets[None]  # (N, K, 2)
        inside = ((pos >= 0) & (pos <= img_resolution - 1)).all(dim=-1)
        values = sample_upsampled(feat, pos, img_resolution, origin, feature_res)  # (N, K, C)
        dist = (values - feat_refs.to(torch.float32)[:, None, :]).norm(dim=-1)
        dist = dist.masked_fill(~inside, float("inf"))
        best = dist.argmin(dim=1)  # first minimum, as torch.min in the official code
        rows = torch.arange(len(handles), device=feat.device)
        new = pos[rows, best]
        if subpixel:
            new = new + _quadratic_shift(dist.square(), best, 2 * radius + 1)
        return new


def _quadratic_shift(cost: torch.Tensor, best: torch.Tensor, side: int) -> torch.Tensor:
    """Sub-pixel shift (N, 2) of the minimum of `cost` (N, side^2) on a side x side window.

    Fits a 2-D quadratic to the 3 x 3 neighbourhood of the discrete minimum (finite
    differences, as in SIFT's keypoint refinement) and moves to its vertex, at most
    0.5 px per axis; no shift where the neighbourhood leaves the window or the image,
    or where the fit is not convex.
    """
    n = len(cost)
    grid = cost.reshape(n, side, side)  # (N, y, x)
    iy, ix = best // side, best % side
    ok = (ix > 0) & (ix < side - 1) & (iy > 0) & (iy < side - 1)
    rows = torch.arange(n, device=cost.device)[:, None, None]
    span = torch.arange(-1, 2, device=cost.device)
    ys = (iy[:, None, None] + span[None, :, None]).clamp(0, side - 1)
    xs = (ix[:, None, None] + span[None, None, :]).clamp(0, side - 1)
    c = grid[rows, ys, xs]  # (N, 3, 3)
    ok = ok & torch.isfinite(c).flatten(1).all(dim=1)
    c = torch.where(ok[:, None, None], c, torch.zeros_like(c))
    gx = (c[:, 1, 2] - c[:, 1, 0]) / 2
    gy = (c[:, 2, 1] - c[:, 0, 1]) / 2
    hxx = c[:, 1, 2] - 2 * c[:, 1, 1] + c[:, 1, 0]
    hyy = c[:, 2, 1] - 2 * c[:, 1, 1] + c[:, 0, 1]
    hxy = (c[:, 2, 2] - c[:, 2, 0] - c[:, 0, 2] + c[:, 0, 0]) / 4
    det = hxx * hyy - hxy * hxy
    ok = ok & (hxx > 0) & (det > 0)
    det = torch.where(ok, det, torch.ones_like(det))
    shift = torch.stack([-(hyy * gx - hxy * gy) / det, -(hxx * gy - hxy * gx) / det], dim=1)
    return torch.where(ok[:, None], shift, torch.zeros_like(shift)).clamp(-0.5, 0.5)
