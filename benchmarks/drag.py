"""Speed of one drag step on a random-weight config-f generator.

    python -m benchmarks.drag --res 256 512 --steps 20 --dtype fp32 bf16 [--device cpu] [--threads 2]

A step is everything between two callbacks of `drag`: loss, backward, Adam,
the features of the new latent (synthesis up to b128, on crops around the handle
unless --full-map, the path a mask takes) and point tracking. The first
`--warmup` steps are not counted; the table gives the median and the fastest
step (the latter is less sensitive to other load on a shared machine). Each
(res, dtype) runs in its own process so that the peak resident memory (CPU; it
includes torch itself, about 0.5 GB) or peak allocated memory (CUDA) is its own.
The official implementation is not part of this package.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch

from common.device import PeakMemory, synchronize
from draggan.config import DragConfig
from draggan.loop import drag

_DTYPES = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


def config_f_generator(res: int, seed: int = 0, device: str = "cpu") -> torch.nn.Module:
    """A random-weight StyleGAN2 config-f generator (channel_base 32768, channel_max 512, 8 mapping layers)."""
    from stylegan.random import random_generator

    return random_generator(
        res,
        seed,
        w_avg_samples=None,
        device=device,
        z_dim=512,
        c_dim=0,
        w_dim=512,
        channel_base=32768,
        channel_max=512,
        num_fp16_res=0,
        mapping_layers=8,
    )


def measure(
    G: torch.nn.Module, steps: int = 20, warmup: int = 2, dtype: str = "fp32", seed: int = 0, full_map: bool = False
) -> dict:
    """Times `steps` drag steps of one handle pulled across the image.

    Args:
        G: generator on the device to measure.
        steps: timed steps.
        warmup: untimed steps before them.
        dtype: 'fp32', 'bf16' or 'fp16' (autocast).
        full_map: compute the whole b128 map every step (as with a mask) instead of crops.

    Returns:
        dict with res, dtype, device, median_s (s/step), min_s (fastest step), steps, peak_mib
        (during the drag: process peak RSS off CUDA, peak allocated memory on CUDA; see
        `common.device.PeakMemory`), mem_kind (which of the two), threads.
    """
    device = G.device
    res = G.img_resolution
    with torch.no_grad():
        z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        ws0 = G.mapping(z, truncation_psi=0.7)
    config = DragConfig(
        max_steps=warmup + steps, stop_distance=0.0, autocast=_DTYPES[dtype], local_features=not full_map
    )
    synchronize(device)  # the mapping (w_avg, truncation) may still run on an asynchronous device
    stamps = [time.perf_counter()]

    def callback(step, handles, image):
        synchronize(device)
        stamps.append(time.perf_counter())

    with PeakMemory(device) as mem:
        drag(G, ws0, [[0.4 * res, 0.5 * res]], [[0.6 * res, 0.5 * res]], config=config, callback=callback)
    per_step = np.diff(stamps)[warmup:]
    return dict(
        res=res,
        dtype=dtype + ("/full-map" if full_map else ""),
        device=str(device),
        median_s=float(np.median(per_step)),
        min_s=float(np.min(per_step)),
        steps=len(per_step),
        peak_mib=float(mem.peak_mib),
        mem_kind=mem.kind,
        threads=torch.get_num_threads(),
    )


def _row(r: dict) -> str:
    mem = f"{r['peak_mib']:.0f} MiB"
    kind = "peak alloc" if r["mem_kind"].startswith("peak alloc") else "peak RSS"
    name = r["dtype"].replace("bf16", "bf16-autocast").replace("fp16", "fp16-autocast")
    return (
        f"{r['res']:>5}  {name:<23}"
        f"{r['median_s']:>10.3f}  {r['min_s']:>8.3f}  {r['median_s'] * 1e3:>9.1f}  {mem + ' (' + kind + ')':>24}  "
        f"{r['device']} ({r['threads']} threads)"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, nargs="+", default=[256, 512], help="generator resolutions")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--dtype", nargs="+", default=["fp32"], choices=sorted(_DTYPES), help="autocast dtypes")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument(
        "--full-map",
        action="store_true",
        help="compute the whole b128 map every step (the path used with a mask) instead of crops",
    )
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one row as JSON (child process)
    args = ap.parse_args(argv)
    combos = [(res, dt) for res in args.res for dt in args.dtype]
    if args.json or len(combos) == 1:
        if args.threads:
            torch.set_num_threads(args.threads)
        res, dt = combos[0]
        rows = [
            measure(config_f_generator(res, device=args.device), args.steps, args.warmup, dt, full_map=args.full_map)
        ]
        if args.json:
            print(json.dumps(rows[0]))
            return
    else:
        rows = []
        for res, dt in combos:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.drag",
                "--json",
                "--res",
                str(res),
                "--dtype",
                dt,
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
                "--device",
                args.device,
            ]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            if args.full_map:
                cmd.append("--full-map")
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'res':>5}  {'dtype':<23}{'s/step':>10}  {'min s':>8}  {'ms/step':>9}  {'peak memory':>24}  device")
    for r in rows:
        print(_row(r))


if __name__ == "__main__":
    main()
