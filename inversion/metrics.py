"""Reconstruction metrics between a target and its reconstruction, both uint8 (H, W, 3) RGB.

    psnr(a, b)                 dB, inf for identical images (`psnr_from_mse` for an MSE already measured)
    ssim(a, b)                 scikit-image SSIM over the 3 channels, 1 for identical images
    mse(a, b)                  mean squared error with intensities scaled to [0, 1]
    lpips_distance(a, b, ...)  LPIPS (any backbone available offline), 0 for identical images

The face-identity metric needs dlib, which only `align` imports: it is
`align.identity_similarity`, and `reconstruction_metrics` takes it as an argument.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import torch

from common.images import check_rgb_pair
from inversion.errors import InversionError
from inversion.lpips_loss import LPIPSLoss


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    check_rgb_pair(a, b, "metric", InversionError)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of uint8 (H, W, 3) images, with intensities scaled to [0, 1]."""
    _check_pair(a, b)
    d = (a.astype(np.float64) - b.astype(np.float64)) / 255.0
    return float(np.mean(d * d))


def psnr_from_mse(mean_squared_error: float, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error.

    Args:
        mean_squared_error: measured on intensities that span `data_range`.
        data_range: max - min of the intensities: 1 for [0, 1] (`mse`), 2 for the network's [-1, 1].

    Returns:
        10 log10(data_range^2 / MSE) dB; inf for an MSE of 0.
    """
    if mean_squared_error == 0:
        return math.inf
    return float(-10.0 * math.log10(mean_squared_error / data_range**2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 255) of uint8 (H, W, 3) images; inf when identical."""
    return psnr_from_mse(mse(a, b))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (scikit-image, Gaussian-free 7x7 window, data range 255) of uint8 (H, W, 3) images.

    Returns:
        Mean SSIM over pixels and channels in [-1, 1]; 1 for identical images.
    """
    from skimage.metrics import structural_similarity

    _check_pair(a, b)
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def lpips_distance(
    a: np.ndarray,
    b: np.ndarray,
    net: str = "alex",
    backbone: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    max_resolution: int | None = None,
    min_resolution: int = 64,
) -> float:
    """LPIPS distance of uint8 (H, W, 3) images (0 for identical images).

    Args:
        a, b: the images.
        net: 'alex' (the usual metric), 'vgg' or 'squeeze'.
        backbone: see `inversion.lpips_loss.resolve_backbone` (None = torchvision's cache).
        device: where to compute.
        max_resolution: area-downsample larger images first; None = native size.
        min_resolution: bilinearly upsample smaller images first.

    Raises:
        MissingWeightsError: the backbone is not available offline.
    """
    _check_pair(a, b)
    loss = LPIPSLoss.build(net, backbone, device, max_resolution, min_resolution)
    with torch.no_grad():
        return float(loss(_to_tensor(a, device), _to_tensor(b, device))[0])


def _to_tensor(img: np.ndarray, device: torch.device | str) -> torch.Tensor:
    t = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].to(device, torch.float32)
    return t / 127.5 - 1


def reconstruction_metrics(
    target: np.ndarray,
    reconstruction: np.ndarray,
    lpips_net: str = "alex",
    lpips_backbone: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    identity: Callable[[np.ndarray, np.ndarray], float] | None = None,
) -> dict[str, float]:
    """Every metric at once: {'psnr', 'ssim', 'mse', 'lpips', 'id'}.

    Args:
        target, reconstruction: uint8 (H, W, 3) RGB of the same size.
        lpips_net, lpips_backbone, device: as `lpips_distance`.
        identity: the face-identity metric (`align.identity_similarity`), or None: 'id' is NaN.
    """
    return {
        "psnr": psnr(target, reconstruction),
        "ssim": ssim(target, reconstruction),
        "mse": mse(target, reconstruction),
        "lpips": lpips_distance(target, reconstruction, lpips_net, lpips_backbone, device=device),
        "id": identity(target, reconstruction) if identity is not None else math.nan,
    }
