"""Generate images from any supported checkpoint.

    python -m stylegan.generate --checkpoint ffhq.pkl --seeds 0-3 --out out/ [--trunc 0.7]
        [--trunc-cutoff N] [--class-idx N] [--device auto] [--noise-mode const]

Writes `seed0000.png`, ... (uint8 RGB). Latents follow NVlabs' gen_images.py,
z = np.random.RandomState(seed).randn(1, z_dim), so a seed gives the same
image as the official scripts for the same weights and noise mode.
Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from common.device import resolve_device
from common.errors import DragPipelineError
from common.images import uint8_from_network
from stylegan.checkpoints import load_generator
from stylegan.networks import NOISE_MODES, Generator

EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors on one line (no usage dump) with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _BadInput(f"{message} (see --help)")


class _BadInput(ValueError):
    pass


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11].

    Raises:
        ValueError: malformed list, negative seed or a range whose end is below its start.
    """
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo_text, hi_text = part.split("-", 1)
                lo, hi = int(lo_text), int(hi_text)
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"bad seed list {text!r}; use e.g. '0-3' or '1,5,7-9' (non-negative integers)") from None
    if not seeds or min(seeds) < 0 or max(seeds) >= 2**32:
        raise ValueError(f"bad seed list {text!r}; seeds must be integers in [0, 2**32)")
    return seeds


def seed_to_z(seed: int, z_dim: int) -> torch.Tensor:
    """The NVlabs latent of a seed: (1, z_dim) float32, RandomState(seed).randn."""
    return torch.from_numpy(np.random.RandomState(seed).randn(1, z_dim)).to(torch.float32)


def uint8_from_ws(G: Generator, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False) -> np.ndarray:
    """The generator's images of `ws` as uint8 RGB: the one way from a latent to an image on disk or screen.

    `G.synthesis` without gradients, then `common.images.uint8_from_network` (NVlabs' rounding).
    With the defaults it is the image `draggan.drag` renders (noise_mode 'const', fp16 blocks in
    fp16 on CUDA, as NVlabs); `force_fp32=True` is the inversion's fp32 reconstruction.

    Args:
        G: the generator (not modified; its parameters' device is used).
        ws: (B, num_ws, w_dim) float latents, any device (cast to float32 on G's device).
        noise_mode: 'const' (G's noise maps), 'random' or 'none'.
        force_fp32: never use fp16, even in G's fp16 blocks on CUDA.

    Returns:
        uint8 (B, R, R, 3) RGB on the CPU.
    """
    device = next(G.parameters()).device
    with torch.no_grad():
        img = G.synthesis(ws.to(device=device, dtype=torch.float32), noise_mode=noise_mode, force_fp32=force_fp32)
    return uint8_from_network(img)


@torch.no_grad()
def generate_images(
    G: Generator,
    seeds: list[int],
    out_dir: str | Path,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    class_idx: int | None = None,
) -> list[Path]:
    """Renders one PNG per seed into `out_dir` (created if needed).

    Returns:
        The written paths, in seed order.
    """
    from PIL import Image

    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
    c = None
    if G.c_dim:
        if class_idx is None or not 0 <= class_idx < G.c_dim:
            raise ValueError(f"this generator is class-conditional: pass --class-idx in [0, {G.c_dim})")
        c = torch.zeros([1, G.c_dim], device=G.device)
        c[0, class_idx] = 1
    elif class_idx is not None:
        raise ValueError("--class-idx was given but the generator is unconditional; drop it")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        z = seed_to_z(seed, G.z_dim).to(G.device)
        ws = G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        path = out_dir / f"seed{seed:04d}.png"
        Image.fromarray(uint8_from_ws(G, ws, noise_mode=noise_mode)[0], "RGB").save(path)
        paths.append(path)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m stylegan.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="generator checkpoint (any supported format)")
    parser.add_argument("--seeds", required=True, help="seed list, e.g. '0-3' or '1,5,7-9'")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi (1 = none)")
    parser.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N ws")
    parser.add_argument("--class-idx", type=int, default=None, help="class index for conditional generators")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    parser.add_argument("--noise-mode", default="const", choices=NOISE_MODES, help="noise inputs")
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        seeds = parse_seeds(args.seeds)
        device = resolve_device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {args.device!r} requested but CUDA is not available; use --device cpu")
        G = load_generator(args.checkpoint, device=device)
        paths = generate_images(
            G,
            seeds,
            args.out,
            truncation_psi=args.trunc,
            truncation_cutoff=args.trunc_cutoff,
            noise_mode=args.noise_mode,
            class_idx=args.class_idx,
        )
    except (DragPipelineError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
