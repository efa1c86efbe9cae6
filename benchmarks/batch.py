"""How fast batch mode edits many photos, and what loading the generator once saves.

    python -m benchmarks.batch                    # tiny 64-px random generator, 8 + 20 photos, CPU
    python -m benchmarks.batch --photos 16 --once 20 --steps 20 --drag-steps 20

Prints two tables:

1. photos per minute over `--photos` synthetic photos for 1 process x 2 threads
   (`python -m pipeline.cli.batch`, OMP_NUM_THREADS=2) vs 2 processes x 1 thread
   (`torchrun --nproc_per_node=2 -m pipeline.cli.batch`), counted from the whole command (start-up,
   imports and model loading included) and from the jobs alone (the busiest rank's summed
   job seconds);
2. `--once` photos edited by one process per photo (`run_pipeline.py --image ...`, the way
   before batch mode) vs one `--batch` process that loads the generator once, 1 thread each:
   total seconds and the time saved.

Every command runs as a subprocess on the CPU with the same settings (centre crop, no
inversion cache, a real LPIPS-squeeze backbone when ../shared has it). Run it on an idle
machine with 2 free cores (e.g. `cpujob cpujob python -m benchmarks.batch`, which holds
both of the shared machine's CPU slots).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _write_inputs(folder: Path, count: int, resolution: int) -> Path:
    """`count` synthetic 96x64 photos, a points file per photo, a jobs file and a tiny checkpoint."""
    from PIL import Image

    from hub.registry import build_random_generator
    from stylegan import save_generator

    folder.mkdir(parents=True, exist_ok=True)
    save_generator(build_random_generator(resolution, seed=0), folder / "tiny.pt")
    ys, xs = np.mgrid[0:64, 0:96].astype(np.float64)
    lines = []
    for i in range(count):
        rng = np.random.default_rng(i)
        img = np.stack([xs * 2.5, ys * 3.5, 128 + 100 * np.sin(xs / (5 + i % 7) + ys / 7)], axis=2)
        Image.fromarray((img + rng.uniform(0, 30, img.shape)).clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
        # Inside the centre crop (x 16..79): one handle moved 6 px.
        pair = {"handles": [[40.0 + i % 8, 30.0]], "targets": [[46.0 + i % 8, 32.0]]}
        (folder / f"{i}.json").write_text(json.dumps(pair))
        lines.append(json.dumps({"id": f"p{i}", "image": f"{i}.png", **pair}))
    (folder / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _env(threads: int) -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONPATH": str(REPO),
        "MASTER_ADDR": "127.0.0.1",
    }


def _timed(cmd: list[str], threads: int) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=_env(threads), capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _busiest_rank_seconds(out: Path) -> float:
    per_rank: dict[int, float] = {}
    for text in (out / "results.jsonl").read_text().splitlines():
        record = json.loads(text)
        per_rank[record["rank"]] = per_rank.get(record["rank"], 0.0) + record["job_seconds"]
    return max(per_rank.values())


def _throughput(inputs: Path, work: Path, options: list[str], count: int) -> list[tuple[str, float, float]]:
    jobs = ["--batch", str(inputs / "jobs.jsonl")]
    rows = []
    for label, threads, launcher in (
        ("1 process x 2 threads", 2, [sys.executable, "-m", "pipeline.cli.batch"]),
        (
            "2 processes x 1 thread",
            1,
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc_per_node=2",
                f"--master_port={_free_port()}",
                "-m",
                "pipeline.cli.batch",
            ],
        ),
    ):
        out = work / label.replace(" ", "_")
        wall = _timed([*launcher, *jobs, "--out", str(out), *options], threads)
        rows.append((label, 60 * count / wall, 60 * count / _busiest_rank_seconds(out)))
    return rows


def _load_once(inputs: Path, work: Path, options: list[str], count: int) -> tuple[float, float]:
    t_each = 0.0
    for i in range(count):
        t_each += _timed(
            [
                sys.executable,
                str(REPO / "run_pipeline.py"),
                "--image",
                str(inputs / f"{i}.png"),
                "--points",
                str(inputs / f"{i}.json"),
                "--out",
                str(work / "each" / str(i)),
                *options,
            ],
            1,
        )
    lines = (inputs / "jobs.jsonl").read_text().splitlines()[:count]
    # The jobs file names images relative to its folder: keep it beside them.
    jobs = inputs / "once.jsonl"
    jobs.write_text("\n".join(lines) + "\n")
    t_once = _timed(
        [sys.executable, "-m", "pipeline.cli.batch", "--batch", str(jobs), "--out", str(work / "once"), *options], 1
    )
    return t_each, t_once


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print their tables; returns 0."""
    from benchmarks.pipeline import _default_backbone

    p = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=8, help="photos of the throughput comparison (default 8)")
    p.add_argument("--once", type=int, default=20, help="photos of the load-once comparison (default 20)")
    p.add_argument("--resolution", type=int, default=64, help="the tiny random generator's resolution")
    p.add_argument("--steps", type=int, default=10, help="steps of each inversion stage (default 10)")
    p.add_argument("--drag-steps", type=int, default=10, help="drag steps (default 10)")
    p.add_argument("--lpips-backbone", default=_default_backbone())
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="batch_bench_") as tmp:
        work = Path(tmp)
        inputs = _write_inputs(work / "inputs", max(args.photos, args.once), args.resolution)
        options = [
            "--checkpoint",
            str(inputs / "tiny.pt"),
            "--align",
            "center",
            "--no-cache",
            "--device",
            "cpu",
            "--steps",
            str(args.steps),
            "--drag-steps",
            str(args.drag_steps),
            "--stop-distance",
            "0",
            "--lpips-net",
            "squeeze",
            "--lpips-backbone",
            args.lpips_backbone,
            "--quiet",
        ]
        print(
            f"tiny random generator {args.resolution} px, {args.steps} steps per inversion stage (PTI), "
            f"{args.drag_steps} drag steps, centre crop, CPU ({os.cpu_count()} cores)\n"
        )
        rows = _throughput(inputs, work, options, args.photos)
        print(f"| {args.photos} photos | photos/min, whole command | photos/min, jobs only |\n|---|---|---|")
        for label, whole, jobs_only in rows:
            print(f"| {label} | {whole:.1f} | {jobs_only:.1f} |")
        t_each, t_once = _load_once(inputs, work, options, args.once)
        print(f"\n| {args.once} photos, 1 thread | seconds | s / photo |\n|---|---|---|")
        print(f"| one process per photo | {t_each:.1f} | {t_each / args.once:.2f} |")
        print(f"| one batch process (generator loaded once) | {t_once:.1f} | {t_once / args.once:.2f} |")
        print(
            f"| saved | {t_each - t_once:.1f} ({100 * (t_each - t_once) / t_each:.0f}%) | "
            f"{(t_each - t_once) / args.once:.2f} |"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
