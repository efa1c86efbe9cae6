"""Forward time and peak memory of the generator: full synthesis vs. features up to block 128.

    python -m benchmarks.generator [--device auto] [--res 256,512] [--repeats 5] [--batch 1]
        [--channel-max 512] [--until-res 128]

Uses a config-f-like random generator (channel_base 32768, z/w 512, 8 mapping
layers; `--channel-max` may shrink it on slow CPUs) in inference mode with
noise_mode='const'. Time is the median of `--repeats` runs after one warm-up.
Peak memory:
  * CUDA: `torch.cuda.max_memory_allocated` minus the memory allocated
    before the call (activations and workspaces of the forward pass only);
  * CPU / MPS: the process's peak resident set size during the call minus
    the resident size before it (after returning freed heap memory to the OS
    with glibc's malloc_trim, so memory cached by earlier passes is not
    reused unseen). On Linux the peak is reset before every measurement
    through /proc/self/clear_refs (VmHWM); elsewhere it is the growth of
    `resource.getrusage().ru_maxrss`, which only sees new peaks.
The table says which one was used (`common.device.PeakMemory`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import torch

from common.device import PeakMemory, resolve_device, synchronize
from stylegan.networks import Generator
from stylegan.random import random_generator


@dataclass(frozen=True)
class BenchResult:
    """One row of the table."""

    res: int
    mode: str  # 'full' or 'features<=R'
    batch: int
    time_ms: float  # median forward time
    peak_mib: float | None  # peak memory of the forward pass
    mem_kind: str  # how peak_mib was measured


@torch.no_grad()
def bench_one(G: Generator, ws: torch.Tensor, until_res: int | None, repeats: int) -> tuple[float, float | None, str]:
    """Times `G.synthesis(ws)` (until_res None) or `G.synthesis.features(ws, until_res)`.

    Returns:
        (median time in ms, peak memory in MiB or None, memory kind).
    """
    device = ws.device

    def run():
        if until_res is None:
            return G.synthesis(ws, noise_mode="const")
        return G.synthesis.features(ws, until_res=until_res, noise_mode="const")

    run()  # warm-up (kernel selection, allocator)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    times = []
    with PeakMemory(device) as mem:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = run()
            synchronize(device)
            times.append((time.perf_counter() - t0) * 1000)
            del out
    peak, kind = mem.delta_mib, mem.kind + " delta"
    return statistics.median(times), peak, kind


def run_bench(
    device: torch.device,
    resolutions: list[int],
    repeats: int = 5,
    batch: int = 1,
    channel_max: int = 512,
    until_res: int = 128,
    seed: int = 0,
) -> list[BenchResult]:
    """Benchmarks full synthesis and features up to `until_res` for each resolution."""
    results = []
    for res in resolutions:
        G = random_generator(
            res, seed, device=device, z_dim=512, w_dim=512, channel_base=32768, channel_max=channel_max
        )
        z = torch.randn([batch, G.z_dim], generator=torch.Generator().manual_seed(seed)).to(device)
        ws = G.mapping(z)
        modes = [None] + ([until_res] if until_res in G.synthesis.block_resolutions else [])
        for mode in modes:
            ms, peak, kind = bench_one(G, ws, mode, repeats)
            label = "full" if mode is None else f"features<={mode}"
            results.append(BenchResult(res, label, batch, ms, peak, kind))
        del G, ws
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


def format_table(results: list[BenchResult], device: torch.device, channel_max: int) -> str:
    """Markdown table of the results."""
    lines = [
        f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else device.type}), "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, channel_base 32768, "
        f"channel_max {channel_max}",
        "| res | pass | batch | time (ms, median) | peak mem (MiB) | peak mem measured as |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for r in results:
        peak = "n/a" if r.peak_mib is None else f"{r.peak_mib:.1f}"
        lines.append(f"| {r.res} | {r.mode} | {r.batch} | {r.time_ms:.1f} | {peak} | {r.mem_kind} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generator", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    parser.add_argument("--res", default="256,512", help="comma-separated output resolutions")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--batch", type=int, default=1, help="batch size")
    parser.add_argument("--channel-max", type=int, default=512, help="maximum channels (512 = config-f)")
    parser.add_argument("--until-res", type=int, default=128, help="resolution of the features pass")
    args = parser.parse_args(argv)
    try:
        resolutions = [int(r) for r in args.res.split(",") if r.strip()]
        if not resolutions or args.repeats < 1 or args.batch < 1 or args.channel_max < 1:
            raise ValueError
        device = resolve_device(args.device)
    except ValueError:
        print(
            "error: --res must be comma-separated integers and --repeats/--batch/--channel-max positive",
            file=sys.stderr,
        )
        return 2
    results = run_bench(device, resolutions, args.repeats, args.batch, args.channel_max, args.until_res)
    print(format_table(results, device, args.channel_max))
    return 0


if __name__ == "__main__":
    sys.exit(main())
