"""Pieces an interactive front end (the `editor` package) needs beyond `edit_photo`'s stages.

`edit_photo` runs align -> invert -> drag -> paste in one call; an editor runs them one at
a time, drags several times from the current latent and starts from a seed as well as a
photo. The helpers here keep those steps identical to the command line's: the same
inversion-cache identity of the weights (`pipeline.runner` uses it too), and a seed start
wrapped so that `pipeline.write_results` writes it as it writes a photo edit.
"""

from __future__ import annotations

import numpy as np
import torch

from align import align_center
from hub.registry import ResolvedCheckpoint
from inversion import InversionResult
from pipeline.cache import InversionCache, file_sha256, generator_sha256
from pipeline.config import PipelineConfig
from pipeline.frames import render

__all__ = ["generator_identity", "seed_inversion", "seed_start"]


def generator_identity(resolved: ResolvedCheckpoint, G, config: PipelineConfig) -> str | None:
    """The weights' identity in the inversion-cache key ('file:<sha256>' or 'builtin:<name>:<sha256>').

    Returns:
        The identity string, or None when `config.use_cache` is off (no key is needed).
    """
    if not config.use_cache:
        return None
    if resolved.path is not None:
        return "file:" + file_sha256(resolved.path, InversionCache(config.cache_dir).memo_file)
    return f"builtin:{resolved.name}:" + generator_sha256(G)


def seed_start(G, seed: int, truncation_psi: float = 0.7) -> tuple[np.ndarray, torch.Tensor]:
    """A generated starting image, as DragGAN's demos start: z ~ N(0, I) from `seed`, truncated.

    Args:
        G: the generator.
        seed: seeds z (numpy RandomState, like NVlabs' generate.py, so a seed means the same image).
        truncation_psi: 1 = no truncation, 0 = the average face (w_avg).

    Returns:
        (image, ws): uint8 (R, R, 3) RGB and (1, num_ws, w_dim) float32 CPU.
    """
    device = next(G.parameters()).device
    z = torch.from_numpy(np.random.RandomState(int(seed)).randn(1, G.z_dim)).to(device=device, dtype=torch.float32)
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=float(truncation_psi)).detach().cpu()
    return render(G, ws), ws


def seed_inversion(G, image: np.ndarray, ws: torch.Tensor, config: PipelineConfig):
    """Wrap a generated start as (`Alignment`, `InversionResult`) so a seed edit writes like a photo edit.

    The "photo" is the generated image itself: an identity crop (align_center on an R x R
    image) whose reconstruction is exact.

    Returns:
        (alignment, inversion) with inversion.method 'seed' and G the caller's generator.
    """
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
    return alignment, inversion
