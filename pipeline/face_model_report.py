"""Offline quality proxy of a face generator: how often dlib finds a face in its samples.

    python -m pipeline.face_model_report --checkpoint runs/utkface128/network-final-fp16.pt

Acceptance bar of the project's own face model: of 200 samples at truncation 0.7, dlib's
frontal (HOG) detector, upsampling once, finds a face in at least 80%. Detection goes
through `align.detect_faces` (only align/ imports dlib). Needs no network and no GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from align import AlignConfig, detect_faces
from stylegan.errors import DragPipelineError
from stylegan.images import uint8_from_network
from stylegan.networks import Generator

__all__ = ["FaceRateConfig", "FaceRateResult", "face_detection_rate", "main"]

FACE_RATE_BAR = 0.8


class FaceRateError(DragPipelineError, ValueError):
    """Bad settings of the face-rate proxy."""


@dataclass(frozen=True)
class FaceRateConfig:
    """Sampling and detection settings of the proxy."""

    num_samples: int = 200          # acceptance: 200 samples
    truncation_psi: float = 0.7     # acceptance: truncation 0.7
    seed: int = 0                   # latents z come from torch.Generator(cpu).manual_seed(seed)
    batch: int = 25                 # samples generated at once
    detect_upsample: int = 1        # dlib frontal detector upsampling (acceptance: once)
    noise_mode: str = "const"       # the generator's noise mode

    def __post_init__(self) -> None:
        for name in ("num_samples", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FaceRateError(f"FaceRateConfig.{name} must be a positive int, got {value!r}")
        if not (isinstance(self.truncation_psi, (int, float)) and np.isfinite(self.truncation_psi)):
            raise FaceRateError(f"FaceRateConfig.truncation_psi must be a finite number, got {self.truncation_psi!r}")
        if not (isinstance(self.detect_upsample, int) and 0 <= self.detect_upsample <= 3):
            raise FaceRateError(f"FaceRateConfig.detect_upsample must be an int in 0..3, got {self.detect_upsample!r}")


@dataclass
class FaceRateResult:
    """Outcome of `face_detection_rate`.

    Attributes:
        rate: fraction of samples with at least one detected face, in [0, 1].
        detected: number of samples with a face.
        total: number of samples.
        found: (total,) bool, per sample in latent order.
        images: (total, R, R, 3) uint8 RGB samples (for a contact sheet).
    """

    rate: float
    detected: int
    total: int
    found: np.ndarray
    images: np.ndarray


@torch.no_grad()
def face_detection_rate(G: Generator, config: FaceRateConfig = FaceRateConfig()) -> FaceRateResult:
    """Samples G at a truncation and counts the samples in which dlib finds a face.

    Args:
        G: an unconditional generator (not modified; any device).
        config: number of samples, truncation, seed, detector upsampling.

    Returns:
        FaceRateResult.
    """
    if G.c_dim:
        raise FaceRateError("the face-rate proxy needs an unconditional generator (c_dim = 0)")
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    z_all = torch.randn([config.num_samples, G.z_dim], generator=gen)
    align_config = AlignConfig(detect_upsample=config.detect_upsample)
    images, found = [], []
    for start in range(0, config.num_samples, config.batch):
        z = z_all[start:start + config.batch].to(G.device)
        img = G(z, None, truncation_psi=config.truncation_psi, noise_mode=config.noise_mode)
        img = uint8_from_network(img)
        for sample in img:
            images.append(sample)
            found.append(len(detect_faces(np.ascontiguousarray(sample), align_config)) > 0)
    found_arr = np.array(found, dtype=bool)
    return FaceRateResult(rate=float(found_arr.mean()), detected=int(found_arr.sum()), total=len(found_arr),
                          found=found_arr, images=np.stack(images))


def _contact_sheet(images: np.ndarray, found: np.ndarray, columns: int = 20) -> np.ndarray:
    # Samples in a grid; those without a detected face get a red frame.
    n, r = images.shape[0], images.shape[1]
    rows = (n + columns - 1) // columns
    sheet = np.zeros((rows * r, columns * r, 3), dtype=np.uint8)
    for i, (image, ok) in enumerate(zip(images, found)):
        tile = image.copy()
        if not ok:
            tile[:2], tile[-2:], tile[:, :2], tile[:, -2:] = (255, 0, 0), (255, 0, 0), (255, 0, 0), (255, 0, 0)
        y, x = divmod(i, columns)
        sheet[y * r:(y + 1) * r, x * r:(x + 1) * r] = tile
    return sheet


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 0 when the bar is met, 1 when not, 2 on bad input."""
    from stylegan.checkpoints import load_generator

    defaults = FaceRateConfig()
    p = argparse.ArgumentParser(prog="python -m pipeline.face_model_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="generator file (any format stylegan.load_generator reads)")
    p.add_argument("--samples", type=int, default=defaults.num_samples)
    p.add_argument("--truncation", type=float, default=defaults.truncation_psi)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda', 'mps' or 'auto'")
    p.add_argument("--sheet", default=None, help="also write a PNG contact sheet of the samples (misses framed red)")
    args = p.parse_args(argv)
    try:
        config = dataclasses.replace(defaults, num_samples=args.samples, truncation_psi=args.truncation, seed=args.seed)
        G = load_generator(args.checkpoint, device=args.device)
        result = face_detection_rate(G, config)
    except DragPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.sheet:
        from PIL import Image

        Image.fromarray(_contact_sheet(result.images, result.found)).save(args.sheet)
    verdict = "PASS" if result.rate >= FACE_RATE_BAR else "FAIL"
    print("| checkpoint | resolution | samples | truncation | faces found | rate | bar |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {Path(args.checkpoint).name} | {G.img_resolution} | {result.total} | {config.truncation_psi:g} | "
          f"{result.detected} | {result.rate:.1%} | >= {FACE_RATE_BAR:.0%} {verdict} |")
    return 0 if result.rate >= FACE_RATE_BAR else 1


if __name__ == "__main__":
    sys.exit(main())
