"""Differentiable augmentation for GAN training on small data sets (DiffAugment).

Zhao, Liu, Lin, Zhu, Han: "Differentiable Augmentation for Data-Efficient GAN
Training", NeurIPS 2020. The same random transformation family is applied to real
and generated images before the discriminator, in every phase (G and D), and every
operation is differentiable with respect to the image, so the generator receives
gradients through it and R1 can be taken with respect to the un-augmented reals.

The policy 'color,translation,cutout' and its constants are the paper's (Sec. 3 and
the reference implementation): brightness +-0.5, saturation x[0, 2], contrast
x[0.5, 1.5], translation by up to 1/8 of the image with zero padding, one cutout
square of half the image side.

Randomness comes from torch's global generator on the image's device (or the one
passed in), so a seeded training run is reproducible and resumable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.errors import AugmentError

__all__ = [
    "AUGMENT_OPS",
    "DEFAULT_POLICY",
    "parse_policy",
    "diff_augment",
    "rand_brightness",
    "rand_saturation",
    "rand_contrast",
    "rand_translation",
    "rand_cutout",
]

DEFAULT_POLICY = "color,translation,cutout"
TRANSLATION_RATIO = 0.125  # DiffAugment: shift by up to 1/8 of the image side
CUTOUT_RATIO = 0.5  # DiffAugment: one square of half the image side


def _rand(batch: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # (B, 1, 1, 1) uniform [0, 1) in x's dtype.
    return torch.rand([batch, 1, 1, 1], device=x.device, generator=generator).to(x.dtype)


def rand_brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Adds one random offset in [-0.5, 0.5) per image.

    Args:
        x: (B, C, H, W) float images in about [-1, 1].
        generator: random generator on x's device, None = torch's global one.

    Returns:
        (B, C, H, W) tensor, a new tensor (x is not modified).
    """
    return x + (_rand(x.shape[0], x, generator) - 0.5)


def rand_saturation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scales each pixel's deviation from its channel mean by a random factor in [0, 2).

    Args:
        x: (B, C, H, W) float images.
        generator: random generator on x's device, None = torch's global one.

    Returns:
        (B, C, H, W) tensor.
    """
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x.shape[0], x, generator) * 2) + mean


def rand_contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scales each image's deviation from its global mean by a random factor in [0.5, 1.5).

    Args:
        x: (B, C, H, W) float images.
        generator: random generator on x's device, None = torch's global one.

    Returns:
        (B, C, H, W) tensor.
    """
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x.shape[0], x, generator) + 0.5) + mean


def rand_translation(
    x: torch.Tensor, ratio: float = TRANSLATION_RATIO, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Shifts each image by a random whole number of pixels, filling with zeros.

    *Convention*: x right, y down; output pixel (i, j) = input (i - dy, j - dx), or 0
    where that lies outside the image. Zero is mid-grey for images in [-1, 1].

    Args:
        x: (B, C, H, W) float images.
        ratio: the largest shift as a fraction of the side, rounded to whole pixels.
        generator: random generator on x's device, None = torch's global one.

    Returns:
        (B, C, H, W) tensor, differentiable with respect to x.
    """
    batch, channels, height, width = x.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, [batch, 1], device=x.device, generator=generator)
    dx = torch.randint(-max_dx, max_dx + 1, [batch, 1], device=x.device, generator=generator)
    # Source row/column of every output pixel in the zero-padded image (offset 1);
    # indices outside the image land on the padding.
    rows = (torch.arange(height, device=x.device)[None] - dy + 1).clamp(0, height + 1)  # (B, H)
    cols = (torch.arange(width, device=x.device)[None] - dx + 1).clamp(0, width + 1)  # (B, W)
    padded = F.pad(x, [1, 1, 1, 1])  # (B, C, H+2, W+2)
    out = padded.gather(2, rows[:, None, :, None].expand(batch, channels, height, width + 2))
    return out.gather(3, cols[:, None, None, :].expand(batch, channels, height, width))


def rand_cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zeroes one random square per image (it may be cut by the border).

    Args:
        x: (B, C, H, W) float images.
        ratio: side of the square as a fraction of the image side.
        generator: random generator on x's device, None = torch's global one.

    Returns:
        (B, C, H, W) tensor, x times a {0, 1} mask (differentiable with respect to x).
    """
    batch, _, height, width = x.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    # Square centres in [0, H + (1 - size % 2)), as DiffAugment, so that every pixel
    # is cut with about the same probability.
    cy = torch.randint(0, height + (1 - size_y % 2), [batch, 1, 1], device=x.device, generator=generator)
    cx = torch.randint(0, width + (1 - size_x % 2), [batch, 1, 1], device=x.device, generator=generator)
    ys = torch.arange(height, device=x.device)[None, :, None]
    xs = torch.arange(width, device=x.device)[None, None, :]
    top, left = cy - size_y // 2, cx - size_x // 2
    inside = (ys >= top) & (ys < top + size_y) & (xs >= left) & (xs < left + size_x)  # (B, H, W)
    return x * (~inside).to(x.dtype)[:, None]


AUGMENT_OPS = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """Splits and checks a policy string such as 'color,translation,cutout'.

    Args:
        policy: comma-separated names from AUGMENT_OPS; '' or 'none' = no augmentation.

    Returns:
        The names, in the order given.
    """
    if policy.strip().lower() in ("", "none"):
        return ()
    names = tuple(name.strip() for name in policy.split(","))
    for name in names:
        if name not in AUGMENT_OPS:
            raise AugmentError(
                f"unknown augmentation {name!r} in policy {policy!r}; use a comma-separated "
                f"subset of {sorted(AUGMENT_OPS)} or 'none'"
            )
    return names


def diff_augment(
    x: torch.Tensor,
    policy: str = DEFAULT_POLICY,
    generator: torch.Generator | None = None,
    p: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Applies the DiffAugment policy to a batch (each image gets its own random draw).

    Args:
        x: (B, C, H, W) float images in about [-1, 1]; not modified.
        policy: comma-separated subset of 'color', 'translation', 'cutout', or 'none'.
        generator: random generator on x's device, None = torch's global one.
        p: probability in [0, 1] (a float or a 0-dim tensor) with which each operation is
            applied to each image, as StyleGAN2-ADA's augmentation probability; a float
            1.0 applies every operation to every image and draws no extra random numbers.

    Returns:
        (B, C, H, W) tensor of x's dtype, differentiable with respect to x; x itself
        when the policy is empty.
    """
    if x.ndim != 4:
        raise AugmentError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")
    always = isinstance(p, (int, float)) and p >= 1
    for name in parse_policy(policy):
        for op in AUGMENT_OPS[name]:
            y = op(x, generator=generator)
            x = y if always else torch.where(_rand(x.shape[0], x, generator) < p, y, x)
    return x
