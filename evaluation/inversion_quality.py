"""Inversion-quality benchmark: W vs W+ vs PTI on a folder of face photos or aligned crops.

    python -m evaluation.inversion_quality --images 'photos/*.jpg' --methods w,w+,pti --limit 8 \
        --out bench_out/inversion

Writes into --out: `results.md` and `results.csv` (per method: mean and std of
PSNR, SSIM, LPIPS and identity similarity, seconds per image, peak memory),
`per_image.csv`, and `grid.png` (rows: target | one column per method) for the
first --grid images; the Markdown table is also printed.

The model is the pipeline's default (`hub.registry.DEFAULT_CHECKPOINT`, the packaged
`face-64`) unless --checkpoint names another registered model or a file; registered files
are downloaded on first use as `run_pipeline.py` does (not with --offline). The inversion
settings are the model's own (`pipeline.model_defaults.config_for_model`: e.g. fewer steps
and LPIPS-squeeze for models of at most 128 px); the options given win. Each photo is
aligned as the pipeline aligns it (`pipeline.align_photo`: face detection, the crop framing
the model was trained on); photos without a detected face are skipped. With --aligned the
images are taken as crops already: centre-cropped to square and area-resized to the
generator's resolution (UTKFace crops are 200x200).

`--checkpoint random` builds a seeded random generator instead (--random-resolution, default
128 px, output scaled into about [-1, 1]): its numbers only measure the machinery (speed,
memory, how well each method can fit), not real inversion quality.

Several processes, GPUs or machines: `torchrun --nproc_per_node=N -m evaluation.inversion_quality ...`
shards the images by rank; rank 0 writes the one table, CSV and grid.

Peak memory (`common.device.PeakMemory`) is torch's peak allocation on CUDA,
and the process's peak resident set size during the method elsewhere (so it
includes the model and Python itself). The LPIPS column uses --metric-lpips-net; when it is the net
that the projection optimises, the number is biased low.

Bad input (an unknown checkpoint, weights missing offline, no images) ends with one line
on stderr and the exit code of `common.errors` (2 bad input, 3 missing weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from align import NoFaceFoundError, load_photo
from common.device import PeakMemory, resolve_device
from common.errors import DragPipelineError, exit_code_for
from common.images import read_image
from common.progress import progress_bar
from evaluation.inversion_tables import write_results
from hub.registry import DEFAULT_CHECKPOINT, CheckpointInfo, load_checkpoint, resolve_checkpoint
from inversion.api import METHODS, invert
from inversion.config import LPIPS_NETS, InversionConfig
from inversion.errors import InversionError
from inversion.metrics import lpips_distance, mse, psnr, ssim
from pipeline import align_photo
from pipeline.config import PipelineConfig
from pipeline.model_defaults import SMALL_MODEL_MAX_RESOLUTION, config_for_model
from stylegan import Generator
from stylegan import random as stylegan_random

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# The --checkpoint value of the seeded random generator (`random_generator`).
RANDOM_CHECKPOINT = "random"
# The inversion settings the command line sets (flag -> InversionConfig field); unset = the model's.
INVERSION_OPTIONS = {
    "--w-steps": "w_steps",
    "--wplus-steps": "wplus_steps",
    "--pti-steps": "pti_steps",
    "--w-lr": "w_lr",
    "--wplus-lr": "wplus_lr",
    "--pti-lr": "pti_lr",
    "--w-avg-samples": "w_avg_samples",
}


class InversionQualityError(DragPipelineError, ValueError):
    """Bad input to the benchmark: no images, an unreadable names file, no face in any photo."""


def list_images(spec: str, limit: int | None = None, names: str | None = None) -> list[Path]:
    """Image files of a directory (sorted) or of a glob pattern; at most `limit`.

    Args:
        spec: folder or glob pattern.
        limit: keep the first this many (None = all).
        names: optional text file with one file name per line (e.g. the UTKFace
            hold-out list `training/data/utkface_holdout.txt`); only those are kept.

    Raises:
        InversionQualityError: no image matches, or the names file cannot be read.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        files = sorted(Path(p) for p in glob.glob(os.path.expanduser(spec)) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
    if names is not None:
        try:
            wanted = {line.strip() for line in Path(names).read_text().splitlines() if line.strip()}
        except OSError as exc:
            raise InversionQualityError(
                f"cannot read the names file {names!r} ({exc}): pass a text file, one name per line"
            ) from None
        files = [f for f in files if f.name in wanted]
    if not files:
        raise InversionQualityError(f"no images found at {spec!r}: pass a folder or a glob such as 'photos/*.jpg'")
    return files[:limit] if limit else files


def _identity_similarity():
    # A measuring tool, like training's reports: it borrows the face-identity metric from
    # `align`, the only package that imports dlib. The library modules of `inversion` never
    # import `align`.
    from align.identity import identity_similarity

    return identity_similarity


def load_image(path: Path, resolution: int) -> np.ndarray:
    """An aligned crop read as it is: centre-cropped to square, area-resized (--aligned).

    Returns:
        (resolution, resolution, 3) uint8 RGB.
    """
    import cv2

    img = read_image(path, what="benchmark image", error=InversionError)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    if s != resolution:
        interp = cv2.INTER_AREA if s > resolution else cv2.INTER_CUBIC
        img = cv2.resize(img, (resolution, resolution), interpolation=interp)
    return np.ascontiguousarray(img)


def load_target(path: Path, resolution: int, align: PipelineConfig | None) -> np.ndarray | None:
    """The image a method inverts: the photo aligned as the pipeline aligns it, or a crop as it is.

    Args:
        path: a photo, or an aligned crop when `align` is None.
        resolution: the generator's resolution.
        align: the alignment settings (`align_mode`, `face_index`, `align`: the model's framing),
            or None for a crop already (`load_image`).

    Returns:
        (resolution, resolution, 3) uint8 RGB, or None when no face is found in the photo.

    Raises:
        PhotoError / InversionError: the file cannot be read.
    """
    if align is None:
        return load_image(path, resolution)
    try:
        return np.asarray(align_photo(load_photo(path), resolution, align).crop)
    except NoFaceFoundError:
        return None


def random_generator(
    resolution: int = 128, seed: int = 0, w_dim: int = 128, channel_max: int = 64, device: torch.device | str = "cpu"
) -> Generator:
    """A seeded random generator with outputs scaled to std 0.5 (a trained one stays in about [-1, 1])."""
    return stylegan_random.random_generator(
        resolution,
        seed,
        output_std=0.5,
        device=device,
        z_dim=w_dim,
        w_dim=w_dim,
        channel_base=channel_max * 64,
        channel_max=channel_max,
        mapping_layers=4,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; the inversion options default to None (= the model's setting)."""
    p = argparse.ArgumentParser(prog="python -m evaluation.inversion_quality", description=__doc__.split("\n")[0])
    p.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help="registered name or generator file (any format stylegan.load_generator reads), or "
        f"'{RANDOM_CHECKPOINT}' for a seeded random generator (measures the machinery only)",
    )
    p.add_argument("--offline", action="store_true", help="never download a registered checkpoint")
    p.add_argument("--images", required=True, help="folder or glob of face photos (of aligned crops with --aligned)")
    p.add_argument(
        "--aligned",
        action="store_true",
        help="the images are aligned crops already: centre-crop and resize them instead of aligning faces",
    )
    p.add_argument(
        "--names",
        help="text file of file names to keep, one a line (e.g. "
        "training/data/utkface_holdout.txt, the images no model here is trained on)",
    )
    p.add_argument("--methods", default="w,w+,pti", help="comma-separated subset of w,w+,pti")
    p.add_argument("--limit", type=int, default=8, help="number of images (0 = all)")
    p.add_argument("--out", default="bench_out/inversion", help="output folder")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    for flag, name in INVERSION_OPTIONS.items():
        kind = float if name.endswith("_lr") else int
        p.add_argument(flag, type=kind, default=None, dest=name, help=f"default: the model's InversionConfig.{name}")
    p.add_argument("--lpips-net", default=None, choices=LPIPS_NETS, help="projection LPIPS (default: the model's)")
    p.add_argument("--pti-lpips-net", default=None, choices=LPIPS_NETS, help="PTI LPIPS (default: the model's)")
    p.add_argument(
        "--metric-lpips-net",
        default=None,
        choices=LPIPS_NETS,
        help=f"LPIPS of the table (default: squeeze, shipped with the package, for models of at most "
        f"{SMALL_MODEL_MAX_RESOLUTION} px, else alex)",
    )
    p.add_argument(
        "--lpips-backbone",
        default=None,
        help="LPIPS backbone file or folder (see InversionConfig); default: torchvision's cache",
    )
    p.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric")
    p.add_argument("--grid", type=int, default=4, help="images in grid.png (0 = none)")
    p.add_argument("--random-resolution", type=int, default=128, help=f"resolution of --checkpoint {RANDOM_CHECKPOINT}")
    p.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0 = torch's default; 1 is fastest on a busy machine)"
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        p.error(f"--methods must be a comma-separated subset of {','.join(METHODS)}, got {args.methods!r}")
    args.methods = methods
    return args


def load_model(args: argparse.Namespace, device: torch.device) -> tuple[Generator, CheckpointInfo | None, str]:
    """The generator --checkpoint names.

    Returns:
        (G, its registry entry or None, a description for the report).

    Raises:
        UnknownCheckpointError / MissingWeightsError / CheckpointError: see `hub.registry`.
    """
    if args.checkpoint == RANDOM_CHECKPOINT:
        G = random_generator(args.random_resolution, args.seed, device=device)
        return G, None, f"random generator ({args.random_resolution} px, seed {args.seed}; measures the machinery only)"

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    resolved = resolve_checkpoint(args.checkpoint, allow_download=not args.offline, log=log)
    return load_checkpoint(resolved, device=str(device)), resolved.info, resolved.label


def pipeline_config_for(args: argparse.Namespace, G: Generator, info: CheckpointInfo | None = None) -> PipelineConfig:
    """The pipeline's settings for `G` (`config_for_model`) with the options given on top.

    Args:
        args: from `parse_args`: the inversion options, LPIPS nets and backbone, seed.
        G: the generator (its resolution and recorded face framing are read).
        info: its registry entry, or None.

    Returns:
        `PipelineConfig` (face alignment): `.inversion` inverts, `.align` frames the photos.
    """
    names = (*INVERSION_OPTIONS.values(), "lpips_net", "pti_lpips_net", "lpips_backbone")
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    config = PipelineConfig(align_mode="face", inversion=InversionConfig(**given, seed=args.seed))
    return config_for_model(config, G, info, explicit=[f"inversion.{name}" for name in given])


def metric_lpips_net(args: argparse.Namespace, G: Generator) -> str:
    """The LPIPS net of the table: --metric-lpips-net, else squeeze for small models, else alex."""
    if args.metric_lpips_net is not None:
        return args.metric_lpips_net
    return "squeeze" if int(G.img_resolution) <= SMALL_MODEL_MAX_RESOLUTION else "alex"


def _invert_images(
    G: Generator,
    files: list[tuple[int, Path]],
    config: PipelineConfig,
    args: argparse.Namespace,
    device: torch.device,
    show_progress: bool,
) -> tuple[list[dict], list[tuple[int, list]], list[str]]:
    """Invert each (index, path) with every method: per-image rows, (index, grid row) pairs, skipped names."""
    rows: list[dict] = []
    grid_rows: list[tuple[int, list[np.ndarray]]] = []
    skipped: list[str] = []
    metric_net = metric_lpips_net(args, G)
    for index, path in progress_bar(files, desc="images", unit="img", disable=not show_progress):
        target = load_target(path, G.img_resolution, None if args.aligned else config)
        if target is None:
            print(f"warning: no face found in {path}; skipped", file=sys.stderr, flush=True)
            skipped.append(path.name)
            continue
        grid_row = [target]
        for method in args.methods:
            with PeakMemory(device) as mem:
                t = time.perf_counter()
                result = invert(G, target, method, config.inversion)
                seconds = time.perf_counter() - t
            recon = result.reconstruction
            rows.append(
                {
                    "image": path.name,
                    "method": method,
                    "psnr": psnr(target, recon),
                    "ssim": ssim(target, recon),
                    "mse": mse(target, recon),
                    "lpips": lpips_distance(target, recon, metric_net, args.lpips_backbone, device=device),
                    "id": math.nan if args.no_identity else _identity_similarity()(target, recon),
                    "seconds": seconds,
                    "peak_mib": mem.peak_mib,
                    "index": index,
                }
            )
            grid_row.append(recon)
            del result
        if index < args.grid:
            grid_rows.append((index, grid_row))
    return rows, grid_rows, skipped


def benchmark(argv: list[str] | None = None) -> list[dict]:
    """Runs the benchmark; returns the per-method summary rows (on every rank but 0 under torchrun: []).

    Under `torchrun --nproc_per_node=N -m evaluation.inversion_quality ...` the images are dealt out by
    rank (`common.distributed.shard`; each rank on cuda:LOCAL_RANK or the CPU with gloo)
    and rank 0 gathers the rows and writes the one table, CSVs and grid.

    Raises:
        DragPipelineError: bad input or missing weights, with a message that says what to fix.
    """
    from common.distributed import Distributed, shard

    args = parse_args(argv)
    dist = Distributed.from_env(args.device)
    try:
        return _run(args, dist, shard)
    finally:
        dist.close()


def main(argv: list[str] | None = None) -> int:
    """The command line: runs `benchmark`; returns 0, or prints one line and returns the error's exit code."""
    try:
        benchmark(argv)
    except KeyboardInterrupt as exc:
        print("error: interrupted", file=sys.stderr)
        return exit_code_for(exc)
    except DragPipelineError as exc:  # bad input: its message says what to fix, on one line
        lines = str(exc).strip().splitlines()
        print(f"error: {lines[0] if lines else type(exc).__name__}", file=sys.stderr)
        return exit_code_for(exc)
    return 0


def _run(args: argparse.Namespace, dist, shard) -> list[dict]:
    device = resolve_device(dist.device(args.device))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    files = list_images(args.images, args.limit or None, names=args.names)
    with dist.main_first():  # rank 0 downloads a registered checkpoint before the others look for it
        G, info, source = load_model(args, device)
    config = pipeline_config_for(args, G, info)
    mine = shard(list(enumerate(files)), dist.rank, dist.world_size)
    gathered = dist.gather(_invert_images(G, mine, config, args, device, show_progress=dist.is_main))
    if not dist.is_main:
        return []
    # Every rank's rows, back in image order (then method order, as one process writes them).
    rows = sorted(
        (r for part, _, _ in gathered for r in part), key=lambda r: (r["index"], args.methods.index(r["method"]))
    )
    if not rows:
        raise InversionQualityError(
            f"no face found in any of the {len(files)} images: pass --aligned if they are aligned crops already"
        )
    for r in rows:
        del r["index"]
    grid_rows = [g for _, g in sorted((g for _, part, _ in gathered for g in part), key=lambda item: item[0])]
    skipped = [name for _, _, part in gathered for name in part]
    header = _report_header(args, G, source, config.inversion, device, dist.world_size, len(files), len(skipped))
    memory_kind = "CUDA alloc" if device.type == "cuda" else "RSS"
    return write_results(Path(args.out), header, rows, grid_rows, args.methods, memory_kind)


def _report_header(
    args: argparse.Namespace,
    G: Generator,
    source: str,
    config: InversionConfig,
    device: torch.device,
    world_size: int,
    num_files: int,
    num_skipped: int,
) -> str:
    settings = {
        k: v
        for k, v in dataclasses.asdict(config).items()
        if k in ("w_steps", "wplus_steps", "pti_steps", "w_lr", "wplus_lr", "pti_lr", "lpips_net", "pti_lpips_net")
    }
    workers = f"{world_size} processes x " if world_size > 1 else ""
    how = "centre-cropped and resized" if args.aligned else "faces aligned as the pipeline aligns them"
    without_face = f"; {num_skipped} without a detected face skipped" if num_skipped else ""
    return (
        f"# Inversion benchmark\n\ngenerator: {source}\n\nimages: {num_files} from {args.images} "
        f"({how} to {G.img_resolution} px{without_face}); device: {device} ({workers}{torch.get_num_threads()} "
        f"CPU threads); settings: {settings}; table LPIPS: {metric_lpips_net(args, G)}\n\n"
    )


if __name__ == "__main__":
    sys.exit(main())
