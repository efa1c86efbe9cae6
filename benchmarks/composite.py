"""Time of the photo composite against the drag's, per generator and photo size.

    python -m benchmarks.composite [--res 64 512] [--photos 512x512 4000x3000] [--steps 150]

Issue 18's acceptance: the composite (`pipeline.stages.composite_edit`, the model's own
`PasteConfig`: `--composite warp` by default) takes at most 10% of the drag's time; measured at
512 px on a random generator. For each generator (64: the shipped `face-64`; any other
resolution: a random-weight config-f generator, `benchmarks.drag.config_f_generator`) one
drag of `--steps` steps (stop distance 0, so exactly that many; both mouth-corner-like handles
pulled outward by 6% of the image) is timed once, then the composite of its result onto a photo
of each size (after one warm-up call, the median of three), in which a face-sized square (half
the photo's shorter side) is the crop. The
photo is the generator's image enlarged to the photo's size: the composite's work depends on
the size of the region it moves, not on what the pixels show.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import cv2
import numpy as np
import torch

from align import align_box
from benchmarks.drag import config_f_generator
from common.device import synchronize
from draggan import drag
from pipeline import PipelineConfig
from pipeline.model_defaults import config_for_model
from pipeline.stages import composite_edit
from stylegan import uint8_from_ws

__all__ = ["DEFAULT_PHOTOS", "CompositeTiming", "time_drag", "time_composite", "format_table", "main"]

DEFAULT_PHOTOS = ((512, 512), (4000, 3000))  # (width, height): a crop-sized photo and a 12-MP one
HANDLE_MOVE = 0.06  # each handle moves outward by this fraction of the image side (a wider mouth)
COMPOSITE_REPEATS = 3  # timed composites per photo size (the median is reported)
# Drag steps: the README example's mouth drag takes about 175 at face-64's defaults (lr 1e-3).
DRAG_STEPS = 150


@dataclasses.dataclass(frozen=True)
class CompositeTiming:
    """One row of the table: a drag and the composite of its result onto one photo size."""

    res: int  # generator resolution (px)
    generator: str  # 'face-64' or 'random'
    photo: tuple[int, int]  # (width, height) of the photo
    steps: int  # drag steps
    drag_s: float  # seconds of the whole drag
    composite_s: float  # seconds of one composite
    composite: str  # PasteConfig.composite used

    @property
    def ratio(self) -> float:
        """Composite seconds / drag seconds."""
        return self.composite_s / self.drag_s if self.drag_s > 0 else float("inf")


def _generator(res: int, device: str = "cpu") -> tuple[torch.nn.Module, str]:
    if res == 64:
        from hub.registry import load_checkpoint, resolve_checkpoint

        return load_checkpoint(resolve_checkpoint("face-64", allow_download=False)).to(device), "face-64"
    return config_f_generator(res, device=device), "random"


def time_drag(G: torch.nn.Module, steps: int, seed: int = 0):
    """Run and time one drag of exactly `steps` steps.

    Args:
        G: the generator, on the device to time the drag on.
        steps: optimiser steps (stop distance 0: none ends early).
        seed: seed of the starting latent (z -> mapping, truncation 0.7).

    Returns:
        (seconds, reconstruction uint8 (R, R, 3), `DragResult`, handles_crop (2, 2) float64).
    """
    res = int(G.img_resolution)
    with torch.no_grad():
        z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(G.device)
        ws0 = G.mapping(z, truncation_psi=0.7)
    reconstruction = uint8_from_ws(G, ws0)[0]
    handles = np.array([[0.35 * res, 0.7 * res], [0.65 * res, 0.7 * res]])
    targets = handles + np.array([[-HANDLE_MOVE * res, 0.0], [HANDLE_MOVE * res, 0.0]])
    config = dataclasses.replace(config_for_model(PipelineConfig(), G).drag, max_steps=steps, stop_distance=0.0)
    synchronize(G.device)
    start = time.perf_counter()
    result = drag(G, ws0, handles, targets, config=config)
    synchronize(G.device)
    return time.perf_counter() - start, reconstruction, result, handles


def time_composite(
    G: torch.nn.Module,
    reconstruction: np.ndarray,
    result,
    handles_crop: np.ndarray,
    photo_size: tuple[int, int],
) -> tuple[float, str]:
    """Time the composite of a drag's result onto a photo of `photo_size` (width, height).

    One untimed warm-up call, then the median of `COMPOSITE_REPEATS` calls.

    Returns:
        (seconds, the PasteConfig.composite used).
    """
    width, height = photo_size
    photo = cv2.resize(reconstruction, (width, height), interpolation=cv2.INTER_LINEAR)
    side = min(width, height) / 2
    box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
    alignment = align_box(photo, box, int(G.img_resolution))
    config = config_for_model(PipelineConfig(), G)
    args = (photo, alignment, result.image, reconstruction, config, handles_crop, result.handles)
    composite_edit(*args)  # warm-up: OpenCV's first calls and the photo's first page faults are once per process
    times = []
    for _ in range(COMPOSITE_REPEATS):
        start = time.perf_counter()
        composite_edit(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), config.paste.composite


def format_table(rows: list[CompositeTiming]) -> str:
    """The Markdown table of `rows`: one line per generator and photo size."""
    lines = [
        "| generator | photo | drag steps | drag (s) | composite (s) | composite / drag |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        megapixels = r.photo[0] * r.photo[1] / 1e6
        lines.append(
            f"| {r.res} px ({r.generator}) | {r.photo[0]}x{r.photo[1]} ({megapixels:.1f} MP) | {r.steps} | "
            f"{r.drag_s:.2f} | {r.composite_s:.3f} ({r.composite}) | {r.ratio:.1%} |"
        )
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def measure(
    resolutions: list[int], photos: list[tuple[int, int]], steps: int, device: str = "cpu"
) -> list[CompositeTiming]:
    """Time a drag per resolution (on `device`) and a composite per photo size (CPU; see the module docstring)."""
    rows = []
    for res in resolutions:
        G, name = _generator(res, device)
        drag_s, reconstruction, result, handles = time_drag(G, steps)
        for size in photos:
            composite_s, composite = time_composite(G, reconstruction, result, handles, size)
            rows.append(CompositeTiming(res, name, size, result.steps, drag_s, composite_s, composite))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, nargs="+", default=[64, 512], help="64 = face-64, else a random generator")
    ap.add_argument("--photos", type=_size, nargs="+", default=list(DEFAULT_PHOTOS), help="WIDTHxHEIGHT")
    ap.add_argument("--steps", type=int, default=DRAG_STEPS, help=f"drag steps, exactly (default {DRAG_STEPS})")
    ap.add_argument("--device", default="cpu", help="where the drag runs: cpu, cuda, mps (the composite: CPU)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    print(format_table(measure(args.res, args.photos, args.steps, args.device)))
    print(f"\n(drag on {args.device}, composite on the CPU; {torch.get_num_threads()} torch threads)")


if __name__ == "__main__":
    main()
