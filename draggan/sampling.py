"""Evaluating a low-resolution feature map at image-pixel positions.

The official DragGAN code (`viz/renderer.py`) upsamples the whole feature map to
the image resolution with `F.interpolate(feat, [R, R], mode='bilinear')`
(align_corners=False) every step and then reads it at integer pixels (tracking) or
bilinearly between pixels (`grid_sample(..., align_corners=True)`, motion
supervision, with grid_sample's default zero padding beyond the image).
`sample_upsampled` gives the same values for the few points that are needed,
without building the R x R map (268 MB at 512 px, 256 channels).

The map may be given whole, (1, C, h, h), or as per-handle crops (N, C, s, s) of an
h x h map with known origins (see `stylegan.local`); crops must cover the pixels the
points need, which `stylegan.local` guarantees.

Convention: points are (x, y) in image pixels, x right, y down, pixel centres at
integer coordinates, so the image spans [-0.5, R - 0.5]. A feature map of size h
covers the same extent; an image point p maps to feature coordinates
`(p + 0.5) * h / R - 0.5` (align_corners=False).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["grid_sample_backward_available", "image_to_feature", "sample_features", "sample_upsampled"]


def image_to_feature(points_img: torch.Tensor, img_resolution: int, feature_res: int) -> torch.Tensor:
    """Maps image-pixel coordinates to feature-pixel coordinates (pixel-centre convention).

    Args:
        points_img: (..., 2) float (x, y) in pixels of the R x R image.
        img_resolution: R.
        feature_res: side of the feature map.

    Returns:
        (..., 2) float (x, y) in feature pixels: (p + 0.5) * feature_res / R - 0.5.
    """
    return (points_img + 0.5) * (feature_res / img_resolution) - 0.5


def grid_sample_backward_available(device: torch.device) -> bool:
    """Whether `F.grid_sample` (and its backward) can sample features on `device`.

    MPS lacks `grid_sampler_2d_backward` in most torch releases, and some raise "MPS:
    Unsupported Border padding mode" on the forward too, so on MPS the features are read with
    an explicit 4-tap gather (`_gather_bilinear`) instead; so they are on CUDA with
    deterministic algorithms on (`common.device.deterministic`), where grid_sample's backward
    is not repeatable. Every other case uses grid_sample.
    """
    device = torch.device(device)
    if device.type == "mps":
        return False
    # grid_sample's CUDA backward accumulates with atomics: not repeatable; the gather path is.
    return not (device.type == "cuda" and torch.are_deterministic_algorithms_enabled())


def sample_features(feat: torch.Tensor, points_feat: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of a feature map at feature-pixel positions, clamped at the border.

    Convention: align_corners=False with the coordinates clamped to the map's pixel centres
    ([0, w-1] x [0, h-1]), which equals what `F.interpolate(..., mode='bilinear',
    align_corners=False)` computes at the same positions (it clamps source coordinates to the
    map as well). The clamp is explicit, so grid_sample runs with its default 'zeros' padding
    (available on every device; 'border' is not on some MPS builds) and gives the same values.

    Args:
        feat: (B, C, h, w) float feature maps.
        points_feat: (B, ..., 2) float (x, y) in feature pixels, one set per map
            (B = 1: any leading shape).

    Returns:
        (B, ..., C) samples in feat's dtype, differentiable w.r.t. feat.
    """
    batch, channels, height, width = feat.shape
    lead = points_feat.shape[:-1]
    pts = points_feat.reshape(batch, 1, -1, 2).to(feat.dtype)
    limit = torch.tensor([width - 1, height - 1], dtype=feat.dtype, device=feat.device)
    pts = torch.minimum(pts.clamp(min=0), limit)
    if grid_sample_backward_available(feat.device):
        scale = torch.tensor([2.0 / width, 2.0 / height], dtype=feat.dtype, device=feat.device)
        grid = (pts + 0.5) * scale - 1.0
        out = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, :, 0]
    else:
        out = _gather_bilinear(feat, pts[:, 0])
    return out.transpose(1, 2).reshape(*lead, channels)


def _gather_bilinear(feat: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Bilinear samples by indexing: (B, C, h, w) map, (B, M, 2) in-map (x, y) pixels -> (B, C, M).

    The same interpolation as grid_sample (align_corners=False) at points already clamped to the
    map, built from gathers and products that autograd differentiates on every device.
    """
    batch, channels, height, width = feat.shape
    x, y = pts[..., 0], pts[..., 1]
    x0, y0 = x.floor(), y.floor()
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=width - 1), (y0 + 1).clamp(max=height - 1)  # weight 0 where clamped
    # A gather from a 1-D tensor: its CUDA backward is deterministic (torch's docs), a 3-D one's is not.
    flat = feat.reshape(-1)
    base = torch.arange(batch, device=feat.device)[:, None] * channels + torch.arange(channels, device=feat.device)
    base = (base * (height * width))[:, :, None]  # (B, C, 1) offset of each map

    def tap(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        index = base + (yy * width + xx)[:, None, :]  # (B, C, M)
        return flat.gather(0, index.reshape(-1)).reshape(index.shape)

    top = tap(y0, x0) * (1 - fx) + tap(y0, x1) * fx
    bottom = tap(y1, x0) * (1 - fx) + tap(y1, x1) * fx
    return top * (1 - fy) + bottom * fy


def sample_upsampled(
    feat: torch.Tensor,
    points_img: torch.Tensor,
    img_resolution: int,
    origin: torch.Tensor | None = None,
    feature_res: int | None = None,
) -> torch.Tensor:
    """Values of the feature map upsampled to the image resolution, at image-pixel positions.

    Equals building `up = F.interpolate(feat, [R, R], mode='bilinear', align_corners=False)`
    and interpolating `up` bilinearly between integer pixels (at integer points:
    `up[..., y, x]` exactly), as the official renderer does, but samples only the
    4 image pixels around each point. Pixels outside the image read as zero, as in
    the official `F.grid_sample(up, grid, align_corners=True)` (padding_mode
    'zeros'): a point half a pixel beyond the border gets half the border value.
    This matters only for motion supervision near the border, where the shifted
    disc q + d_i leaves the image.

    Args:
        feat: (1, C, h, h) float feature map, or (N, C, s, s) crops of an h x h map.
        points_img: (..., 2) float (x, y) image pixels; with crops (N, ..., 2), row i
            sampled from crop i.
        img_resolution: R, the side of the image the points live in (R >= 2).
        origin: None for a whole map, else (N, 2) (x, y) position of each crop's first
            pixel in the full map (may be negative; crops hold zeros off the map).
        feature_res: h, the side of the full map; required with crops.

    Returns:
        (..., C) values in feat's dtype, differentiable w.r.t. feat (one grid_sample call).
    """
    res = img_resolution
    lead = points_img.shape[:-1]
    if origin is None:
        batch, full = 1, feat.shape[-1]
    else:
        assert feature_res is not None and origin.shape == (feat.shape[0], 2), (origin.shape, feat.shape)
        batch, full = feat.shape[0], feature_res
    # Beyond -1 or R every corner is off the image (value 0): clamping there keeps indices small.
    pts = points_img.reshape(batch, -1, 2).to(torch.float32).clamp(-1, res)
    p0 = pts.floor()  # the cell's top-left pixel
    frac = pts - p0
    corners = torch.stack([p0, p0 + pts.new_tensor([1.0, 0.0]), p0 + pts.new_tensor([0.0, 1.0]), p0 + 1.0], dim=1)
    fx, fy = frac[..., 0], frac[..., 1]
    weights = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], dim=1)  # (B, 4, M)
    # Off-image pixels read as zero: grid_sample's default padding_mode='zeros' in the official renderer.
    weights = weights * ((corners >= 0) & (corners <= res - 1)).all(dim=-1)
    # The border clamp of F.interpolate, applied in full-map coordinates so that crops agree with it.
    where = image_to_feature(corners.clamp(0, res - 1), res, full).clamp(0, full - 1)
    if origin is not None:
        where = where - origin.to(where.dtype)[:, None, None, :]
    values = sample_features(feat, where)  # (B, 4, M, C)
    out = (values * weights.unsqueeze(-1).to(values.dtype)).sum(dim=1)  # (B, M, C)
    return out.reshape(*lead, feat.shape[1])
