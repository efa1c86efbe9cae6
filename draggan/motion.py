"""Motion supervision (DragGAN, Sec. 3.2, Eq. 1), vectorised over handles and disc pixels.

For each handle p_i with target t_i and unit direction d_i = (t_i - p_i) / |t_i - p_i|,
the features at the pixels q of the disc Omega_1(p_i, r1) are pulled one pixel
along d_i:

    L = sum_i mean_{q in Omega_1, c} | F(q).detach() - F(q + d_i) |
        + lambda * mean | (F - F0) * (1 - M) |

with F evaluated bilinearly on the features as upsampled to the image resolution
(`draggan.sampling.sample_upsampled`), the same values the official renderer reads
from its full-resolution map. M is 1 where the image may change (the official
renderer's mask is the opposite: 1 = fixed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from draggan.sampling import sample_upsampled

__all__ = ["disc_offsets", "official_disc_pixels", "motion_loss", "mask_loss", "fixed_weight", "MIN_MOTION_DISTANCE"]

# A handle within 1 px of its target adds no motion term (official renderer:
# `if torch.linalg.norm(direction) > 1`).
MIN_MOTION_DISTANCE = 1.0


def disc_offsets(radius: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Integer pixel offsets of the disc of radius `radius` (strictly inside, as the paper).

    Args:
        radius: disc radius in image pixels, >= 1 (radius 1 is the centre pixel only;
            radius 3, the official value at 512 px, gives 25 pixels).

    Returns:
        (K, 2) float32 (dx, dy) offsets with dx^2 + dy^2 < radius^2, row-major.
    """
    r = int(radius)
    assert r >= 1, r
    span = torch.arange(-r + 1, r, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(span, span, indexing="ij")
    offsets = torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=1)
    return offsets[offsets.square().sum(dim=1) < r * r]


def official_disc_pixels(handles: torch.Tensor, radius: int, img_resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The disc pixels as the official renderer selects them, which is not quite a disc around p.

    The official code builds its pixel grid with `torch.linspace(0, h, h)`, so pixel i
    sits at i * h / (h - 1), and keeps the pixels with |grid - p| < r: a disc around
    p * (h - 1) / h, shifted towards the origin by up to 1 px. Reproduced only to
    compare trajectories with the official code exactly (`DragConfig.official_disc_grid`).

    Args:
        handles: (n, 2) float (x, y) image pixels.
        radius: r1 in image pixels.
        img_resolution: R.

    Returns:
        (pixels (n, K, 2) float32 integer (x, y) candidates, selected (n, K) bool).
    """
    r = int(radius)
    span = torch.arange(-r - 1, r + 2, dtype=torch.float32, device=handles.device)
    dy, dx = torch.meshgrid(span, span, indexing="ij")
    box = torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=1)
    pixels = handles.to(torch.float32).round()[:, None, :] + box[None]
    grid_pos = pixels * (img_resolution / (img_resolution - 1))
    selected = (grid_pos - handles.to(torch.float32)[:, None, :]).square().sum(dim=-1) < r * r
    return pixels, selected


def motion_loss(
    feat: torch.Tensor,
    handles: torch.Tensor,
    targets: torch.Tensor,
    img_resolution: int,
    radius: int,
    origin: torch.Tensor | None = None,
    feature_res: int | None = None,
    official_disc_grid: bool = False,
) -> torch.Tensor:
    """The motion-supervision term, summed over handles.

    Args:
        feat: (1, C, h, h) float feature map of the current latent (with grad), or
            (N, C, s, s) per-handle crops of it (see `stylegan.local`).
        handles: (N, 2) float (x, y) current handle positions, image pixels.
        targets: (N, 2) float (x, y) targets, image pixels.
        img_resolution: R, the side of the image the points live in.
        radius: r1 in image pixels (already scaled), >= 1.
        origin: with crops, (N, 2) (x, y) full-map position of each crop's first pixel.
        feature_res: with crops, the side h of the full map.
        official_disc_grid: use the official renderer's slightly shifted disc
            (`official_disc_pixels`) instead of the paper's disc around p.

    Returns:
        Scalar float32 loss; exactly 0 (still attached to feat) when every handle is
        within 1 px of its target. Disc pixels outside the image are left out, as
        the official code does.
    """
    delta = (targets - handles).to(torch.float32)
    dist = delta.norm(dim=1)
    active = dist > MIN_MOTION_DISTANCE
    if not bool(active.any()):
        return feat.sum() * 0.0
    # 1e-7 as in the official renderer; active handles are > 1 px away anyway.
    direction = delta[active] / (dist[active, None] + 1e-7)
    if official_disc_grid:
        q, selected = official_disc_pixels(handles[active], radius, img_resolution)  # (n, K, 2), (n, K)
    else:
        q = handles[active].to(torch.float32)[:, None, :] + disc_offsets(radius, device=feat.device)[None]
        selected = torch.ones(q.shape[:2], dtype=torch.bool, device=q.device)
    inside = (selected & ((q >= 0) & (q <= img_resolution - 1)).all(dim=-1)).to(torch.float32)  # (n, K)
    # One sampling call for both ends; the detach makes F(q) a constant target.
    points = torch.cat([q, q + direction[:, None, :]], dim=1)  # (n, 2K, 2)
    feat = feat.to(torch.float32)
    if origin is None:
        values = sample_upsampled(feat, points, img_resolution)
    else:
        values = sample_upsampled(feat[active], points, img_resolution, origin[active], feature_res)
    count = q.shape[1]
    source, moved = values[:, :count].detach(), values[:, count:]  # (n, K, C)
    per_pixel = (moved - source).abs().mean(dim=-1)  # (n, K): mean over channels
    per_handle = (per_pixel * inside).sum(dim=1) / inside.sum(dim=1).clamp(min=1)
    return per_handle.sum()


def fixed_weight(mask: torch.Tensor, feature_res: int) -> torch.Tensor:
    """Downsamples a flexible-region mask to the feature map and flips it to the fixed region.

    Args:
        mask: (R, R) float in [0, 1], 1 = may move.
        feature_res: side h of the feature map (R must be a multiple of it).

    Returns:
        (1, 1, h, h) float32 weight of the fixed-region term, 1 - area-average of mask.
    """
    m = mask.to(torch.float32)[None, None]
    factor = m.shape[-1] // feature_res
    if factor > 1:
        m = F.avg_pool2d(m, factor)
    elif factor < 1:
        m = F.interpolate(m, size=(feature_res, feature_res), mode="nearest")
    return 1.0 - m


def mask_loss(feat: torch.Tensor, feat0: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean L1 change of the features in the fixed region (DragGAN, Eq. 1, second term).

    Computed at the feature resolution; the official code takes the same mean over the
    map upsampled to the image, which weighs the pixels almost identically.

    Args:
        feat: (1, C, h, w) current features (with grad).
        feat0: (1, C, h, w) features of the initial latent.
        weight: (1, 1, h, w) fixed-region weight from `fixed_weight`.

    Returns:
        Scalar float32, mean over channels and pixels (not weighted by the area).
    """
    return ((feat.to(torch.float32) - feat0) * weight).abs().mean()
