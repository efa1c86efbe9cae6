"""Inversion-quality benchmark: W vs W+ vs PTI on a folder of aligned face crops.

    python -m evaluation.inversion_quality --checkpoint ffhq512.pt --images 'crops/*.png' --methods w,w+,pti \
        --limit 8 --out bench_out/inversion

Writes into --out: `results.md` and `results.csv` (per method: mean and std of
PSNR, SSIM, LPIPS and identity similarity, seconds per image, peak memory),
`per_image.csv`, and `grid.png` (rows: target | one column per method) for the
first --grid images; the Markdown table is also printed.

Without --checkpoint a seeded random generator is built (--random-resolution,
default 128 px, output scaled into about [-1, 1]): its numbers only measure the
machinery (speed, memory, how well each method can fit), not real inversion
quality. Images are centre-cropped to square and area-resized to the
generator's resolution (UTKFace crops are 200x200).

Several processes, GPUs or machines: `torchrun --nproc_per_node=N -m evaluation.inversion_quality ...`
shards the images by rank; rank 0 writes the one table, CSV and grid.

Peak memory (`common.device.PeakMemory`) is torch's peak allocation on CUDA,
and the process's peak resident set size during the method elsewhere (so it
includes the model and Python itself). The LPIPS column uses --metric-lpips-net; when it is the net
that the projection optimises, the number is biased low.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import glob
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from common.device import PeakMemory, resolve_device
from common.images import read_image
from inversion.api import METHODS, invert
from inversion.config import LPIPS_NETS, InversionConfig
from inversion.errors import InversionError
from inversion.metrics import lpips_distance, mse, psnr, ssim
from stylegan import Generator, load_generator
from stylegan import random as stylegan_random

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
METRICS = ("psnr", "ssim", "lpips", "id", "mse")


def list_images(spec: str, limit: int | None = None, names: str | None = None) -> list[Path]:
    """Image files of a directory (sorted) or of a glob pattern; at most `limit`.

    Args:
        spec: folder or glob pattern.
        limit: keep the first this many (None = all).
        names: optional text file with one file name per line (e.g. the UTKFace
            hold-out list `training/data/utkface_holdout.txt`); only those are kept.
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
            raise SystemExit(
                f"cannot read the names file {names!r} ({exc}): pass a text file, one name per line"
            ) from None
        files = [f for f in files if f.name in wanted]
    if not files:
        raise SystemExit(f"no images found at {spec!r}: pass a folder or a glob such as 'crops/*.png'")
    return files[:limit] if limit else files


def _identity_similarity():
    # A measuring tool, like training's reports: it borrows the face-identity metric from
    # `align`, the only package that imports dlib. The library modules of `inversion` never
    # import `align`.
    from align.identity import identity_similarity

    return identity_similarity


def load_image(path: Path, resolution: int) -> np.ndarray:
    """(resolution, resolution, 3) uint8 RGB: centre-cropped to square, area-resized."""
    import cv2

    img = read_image(path, what="benchmark image", error=InversionError)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    if s != resolution:
        interp = cv2.INTER_AREA if s > resolution else cv2.INTER_CUBIC
        img = cv2.resize(img, (resolution, resolution), interpolation=interp)
    return np.ascontiguousarray(img)


def random_generator(
    resolution: int = 128, seed: int = 0, w_dim: int = 128, channel_max: int = 64, device: torch.device | str = "cpu"
) -> Generator:
    """A seeded random generator with outputs scaled to std 0.5 (a trained one stays in about [-1, 1])."""
    G = stylegan_random.random_generator(
        resolution,
        seed,
        z_dim=w_dim,
        w_dim=w_dim,
        channel_base=channel_max * 64,
        channel_max=channel_max,
        mapping_layers=4,
    )
    with torch.no_grad():
        std = float(G(torch.randn([8, G.z_dim], generator=torch.Generator().manual_seed(seed))).std())
        for name, p in G.named_parameters():
            if name.endswith((".torgb.weight", ".torgb.bias")):  # The image is linear in these.
                p.mul_(0.5 / std)
    return G.to(device)


def summarize(rows: list[dict], methods: list[str]) -> list[dict]:
    """Per method: mean and std of each metric (NaN ignored), seconds per image, peak memory."""
    out = []
    for method in methods:
        sel = [r for r in rows if r["method"] == method]
        row = {"method": method, "n": len(sel)}
        for key in METRICS + ("seconds",):
            vals = np.array([r[key] for r in sel], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            row[f"{key}_mean"] = float(vals.mean()) if len(vals) else math.nan
            row[f"{key}_std"] = float(vals.std()) if len(vals) else math.nan
        row["id_n"] = int(sum(np.isfinite(r["id"]) for r in sel))
        row["peak_mib"] = float(max(r["peak_mib"] for r in sel)) if sel else math.nan
        out.append(row)
    return out


def markdown_table(summary: list[dict], memory_kind: str) -> str:
    """The summary as a Markdown table."""
    lines = [
        f"| method | n | PSNR (dB) | SSIM | LPIPS | ID sim (n faces) | s / image | peak {memory_kind} (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:

        def ms(key: str, fmt: str, r: dict = r) -> str:
            return f"{r[key + '_mean']:{fmt}} ± {r[key + '_std']:{fmt}}"

        lines.append(
            f"| {r['method']} | {r['n']} | {ms('psnr', '.2f')} | {ms('ssim', '.3f')} | {ms('lpips', '.3f')} "
            f"| {ms('id', '.3f')} ({r['id_n']}) | {ms('seconds', '.1f')} | {r['peak_mib']:.0f} |"
        )
    return "\n".join(lines)


def save_grid(rows: list[list[np.ndarray]], labels: list[str], path: Path) -> None:
    """Writes rows of equally sized uint8 images as one PNG, with column labels on top."""
    import cv2
    from PIL import Image

    size = rows[0][0].shape[0]
    header = np.full((24, size * len(labels), 3), 255, np.uint8)
    for i, label in enumerate(labels):
        cv2.putText(header, label, (i * size + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.concatenate([header] + [np.concatenate(r, axis=1) for r in rows], axis=0)
    Image.fromarray(grid).save(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m evaluation.inversion_quality", description=__doc__.split("\n")[0])
    p.add_argument(
        "--checkpoint",
        help="generator checkpoint (any format stylegan.load_generator reads); "
        "default: a seeded random generator (measures the machinery only)",
    )
    p.add_argument("--images", required=True, help="folder or glob of aligned crops")
    p.add_argument(
        "--names",
        help="text file of file names to keep, one a line (e.g. "
        "training/data/utkface_holdout.txt, the images no model here is trained on)",
    )
    p.add_argument("--methods", default="w,w+,pti", help="comma-separated subset of w,w+,pti")
    p.add_argument("--limit", type=int, default=8, help="number of images (0 = all)")
    p.add_argument("--out", default="bench_out/inversion", help="output folder")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--w-steps", type=int, default=InversionConfig.w_steps)
    p.add_argument("--wplus-steps", type=int, default=InversionConfig.wplus_steps)
    p.add_argument("--pti-steps", type=int, default=InversionConfig.pti_steps)
    p.add_argument("--w-lr", type=float, default=InversionConfig.w_lr)
    p.add_argument("--wplus-lr", type=float, default=InversionConfig.wplus_lr)
    p.add_argument("--pti-lr", type=float, default=InversionConfig.pti_lr)
    p.add_argument("--w-avg-samples", type=int, default=InversionConfig.w_avg_samples)
    p.add_argument("--lpips-net", default=InversionConfig.lpips_net, choices=LPIPS_NETS, help="projection LPIPS")
    p.add_argument("--pti-lpips-net", default=InversionConfig.pti_lpips_net, choices=LPIPS_NETS, help="PTI LPIPS")
    p.add_argument("--metric-lpips-net", default="alex", choices=LPIPS_NETS, help="LPIPS of the table")
    p.add_argument(
        "--lpips-backbone",
        default=None,
        help="LPIPS backbone file or folder (see InversionConfig); default: torchvision's cache",
    )
    p.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric")
    p.add_argument("--grid", type=int, default=4, help="images in grid.png (0 = none)")
    p.add_argument("--random-resolution", type=int, default=128, help="resolution of the random generator")
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


def _invert_images(
    G,
    files: list[tuple[int, Path]],
    config: InversionConfig,
    args: argparse.Namespace,
    device: torch.device,
    show_progress: bool,
) -> tuple[list[dict], list[tuple[int, list]]]:
    """Invert each (index, path) with every method: per-image rows and (index, grid row) pairs."""
    rows: list[dict] = []
    grid_rows: list[tuple[int, list[np.ndarray]]] = []
    for index, path in tqdm(files, desc="images", unit="img", disable=not show_progress):
        target = load_image(path, G.img_resolution)
        grid_row = [target]
        for method in args.methods:
            with PeakMemory(device) as mem:
                t = time.perf_counter()
                result = invert(G, target, method, config)
                seconds = time.perf_counter() - t
            recon = result.reconstruction
            rows.append(
                {
                    "image": path.name,
                    "method": method,
                    "psnr": psnr(target, recon),
                    "ssim": ssim(target, recon),
                    "mse": mse(target, recon),
                    "lpips": lpips_distance(target, recon, args.metric_lpips_net, args.lpips_backbone, device=device),
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
    return rows, grid_rows


def main(argv: list[str] | None = None) -> list[dict]:
    """Runs the benchmark; returns the per-method summary rows (on every rank but 0 under torchrun: []).

    Under `torchrun --nproc_per_node=N -m evaluation.inversion_quality ...` the images are dealt out by
    rank (`common.distributed.shard`; each rank on cuda:LOCAL_RANK or the CPU with gloo)
    and rank 0 gathers the rows and writes the one table, CSVs and grid.
    """
    from common.distributed import Distributed, shard

    args = parse_args(argv)
    dist = Distributed.from_env(args.device)
    try:
        return _run(args, dist, shard)
    finally:
        dist.close()


def _run(args: argparse.Namespace, dist, shard) -> list[dict]:
    device = resolve_device(dist.device(args.device))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        G = load_generator(args.checkpoint, device=device)
        source = args.checkpoint
    else:
        G = random_generator(args.random_resolution, args.seed, device=device)
        source = f"random generator ({args.random_resolution} px, seed {args.seed}; measures the machinery only)"
    config = InversionConfig(
        w_steps=args.w_steps,
        wplus_steps=args.wplus_steps,
        pti_steps=args.pti_steps,
        w_lr=args.w_lr,
        wplus_lr=args.wplus_lr,
        pti_lr=args.pti_lr,
        w_avg_samples=args.w_avg_samples,
        lpips_net=args.lpips_net,
        pti_lpips_net=args.pti_lpips_net,
        lpips_backbone=args.lpips_backbone,
        seed=args.seed,
    )
    files = list_images(args.images, args.limit or None, names=args.names)
    mine = shard(list(enumerate(files)), dist.rank, dist.world_size)
    gathered = dist.gather(_invert_images(G, mine, config, args, device, show_progress=dist.is_main))
    if not dist.is_main:
        return []
    # Every rank's rows, back in image order (then method order, as one process writes them).
    rows = sorted(
        (r for part, _ in gathered for r in part), key=lambda r: (r["index"], args.methods.index(r["method"]))
    )
    for r in rows:
        del r["index"]
    grid_rows = [g for _, g in sorted((g for _, part in gathered for g in part), key=lambda item: item[0])]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows, args.methods)
    memory_kind = "CUDA alloc" if device.type == "cuda" else "RSS"
    table = markdown_table(summary, memory_kind)
    settings = {
        k: v
        for k, v in dataclasses.asdict(config).items()
        if k in ("w_steps", "wplus_steps", "pti_steps", "w_lr", "wplus_lr", "pti_lr", "lpips_net", "pti_lpips_net")
    }
    workers = f"{dist.world_size} processes x " if dist.world_size > 1 else ""
    header = (
        f"# Inversion benchmark\n\ngenerator: {source}\n\nimages: {len(files)} from {args.images} "
        f"(resized to {G.img_resolution} px); device: {device} ({workers}{torch.get_num_threads()} CPU threads); "
        f"settings: {settings}; "
        f"table LPIPS: {args.metric_lpips_net}\n\n"
    )
    (out / "results.md").write_text(
        header + table + "\n\ngrid.png columns: target | " + " | ".join(args.methods) + "\n"
    )
    _write_csv(out / "results.csv", summary)
    _write_csv(out / "per_image.csv", rows)
    if grid_rows:
        save_grid(grid_rows, ["target"] + args.methods, out / "grid.png")
    print(header + table)
    print(f"\nwrote {out / 'results.md'}, results.csv, per_image.csv" + (", grid.png" if grid_rows else ""))
    return summary


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
