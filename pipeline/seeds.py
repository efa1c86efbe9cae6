"""Pieces an interactive front end (the `editor` package) needs beyond `edit_photo`'s stages.

`edit_photo` runs align -> invert -> drag -> paste in one call; an editor runs them one at
a time, drags several times from the current latent and starts from a seed as well as a
photo. The helpers here keep those steps identical to the command line's: the same
inversion-cache identity of the weights (`pipeline.runner` uses it too), and a seed start
wrapped so that `pipeline.write_results` writes it as it writes a photo edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from align import Alignment, align_center
from common.hashing import file_sha256, generator_sha256
from hub.registry import ResolvedCheckpoint
from inversion import InversionResult
from pipeline.cache import InversionCache
from pipeline.config import PipelineConfig
from stylegan.generate import uint8_from_ws
from stylegan.networks import Generator

__all__ = ["SeedStart", "SeedInversion", "generator_identity", "seed_inversion", "seed_start"]


@dataclass(frozen=True, eq=False)
class SeedStart:
    """What `seed_start` returns: a generated starting image and its latent."""

    image: np.ndarray  # uint8 (R, R, 3) RGB, the generator's image of `ws`
    ws: torch.Tensor  # (1, num_ws, w_dim) float32 on the CPU


@dataclass(frozen=True, eq=False)
class SeedInversion:
    """What `seed_inversion` returns: a seed start dressed as an aligned, inverted photo."""

    alignment: Alignment  # identity crop of the generated image
    inversion: InversionResult  # method 'seed', the exact latent, G the caller's generator


def generator_identity(resolved: ResolvedCheckpoint, G: Generator, config: PipelineConfig) -> str | None:
    """The weights' identity in the inversion-cache key ('file:<sha256>' or 'builtin:<name>:<sha256>').

    Returns:
        The identity string, or None when `config.use_cache` is off (no key is needed).
    """
    if not config.use_cache:
        return None
    if resolved.path is not None:
        return "file:" + file_sha256(resolved.path, InversionCache(config.cache_dir).memo_file)
    return f"builtin:{resolved.name}:" + generator_sha256(G)


def seed_start(G: Generator, seed: int, truncation_psi: float = 0.7) -> SeedStart:
    """A generated starting image, as DragGAN's demos start: z ~ N(0, I) from `seed`, truncated.

    Args:
        G: the generator.
        seed: seeds z (numpy RandomState, like NVlabs' generate.py, so a seed means the same image).
        truncation_psi: 1 = no truncation, 0 = the average face (w_avg).

    Returns:
        `SeedStart` (image: uint8 (R, R, 3) RGB, ws: (1, num_ws, w_dim) float32 CPU).
    """
    device = next(G.parameters()).device
    z = torch.from_numpy(np.random.RandomState(int(seed)).randn(1, G.z_dim)).to(device=device, dtype=torch.float32)
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=float(truncation_psi)).detach().cpu()
    return SeedStart(uint8_from_ws(G, ws)[0], ws)


def seed_inversion(G: Generator, start: SeedStart, config: PipelineConfig) -> SeedInversion:
    """Wrap a generated start as an `Alignment` and an `InversionResult` so a seed edit writes like a photo edit.

    The "photo" is the generated image itself: an identity crop (align_center on an R x R
    image) whose reconstruction is exact.

    Args:
        G: the generator that made `start`.
        start: from `seed_start`.
        config: `align` and `inversion` are recorded.

    Returns:
        `SeedInversion` with inversion.method 'seed' and G the caller's generator.
    """
    image, ws = start.image, start.ws
    alignment = align_center(image, int(G.img_resolution), config=config.align)
    inversion = InversionResult(
        method="seed",
        ws=ws.detach().cpu().to(torch.float32),
        G=G,
        reconstruction=image,
        losses={},
        timings={},
        config=config.inversion,
        tuned=False,
        base_sha256=generator_sha256(G),
    )
    return SeedInversion(alignment, inversion)
