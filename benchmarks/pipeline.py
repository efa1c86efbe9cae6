"""Times every stage of the pipeline end to end and prints a table.

    python -m benchmarks.pipeline                       # random-64 generator, astronaut example, CPU/GPU auto
    python -m benchmarks.pipeline --checkpoint ffhq-512 --steps 100 --drag-steps 50 --device cuda

Each inversion method runs once without the cache, then PTI runs again through a fresh
cache twice (miss, then hit) to show what re-running with new points costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _default_backbone() -> str:
    squeeze = REPO.parent / "shared" / "weights" / "lpips" / "squeezenet1_1_features.pth"
    return str(squeeze) if squeeze.is_file() else "random"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0."""
    from align import load_photo
    from hub.registry import load_checkpoint, resolve_checkpoint
    from pipeline.edit import resolve_device
    from pipeline.io.points import load_points

    args = _parser().parse_args(argv)
    device = resolve_device(args.device)
    t = time.perf_counter()
    photo = load_photo(args.image)
    points = load_points(args.points)
    G = load_checkpoint(resolve_checkpoint(args.checkpoint, allow_download=False), device=str(device))
    load_s = time.perf_counter() - t
    base = _base_config(args, device)
    print(
        f"device {device}, checkpoint {args.checkpoint} ({G.img_resolution}px, loaded in {load_s:.2f}s), "
        f"photo {photo.shape[1]}x{photo.shape[0]}, {len(points)} points, {args.steps} steps per inversion "
        f"stage, {args.drag_steps} drag steps, LPIPS {args.lpips_net} "
        f"({'random' if args.lpips_backbone == 'random' else 'real'} backbone)"
    )

    def run(label: str, config) -> tuple:
        return _timed_edit(label, photo, points, G, config)

    rows = [run(method, dataclasses.replace(base, inversion_method=method)) for method in args.methods.split(",")]
    with tempfile.TemporaryDirectory() as cache:
        cached = dataclasses.replace(base, inversion_method="pti", use_cache=True, cache_dir=cache)
        rows.append(run("pti, cache miss", cached))
        rows.append(run("pti, cache hit", cached))
    _print_table(rows)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__.splitlines()[0])
    p.add_argument("--image", default=str(REPO / "examples" / "astronaut.png"))
    p.add_argument("--points", default=str(REPO / "examples" / "astronaut_points.json"))
    p.add_argument("--checkpoint", default="random-64")
    p.add_argument("--align", default="face", choices=("face", "center"))
    p.add_argument("--steps", type=int, default=20, help="steps of each inversion stage")
    p.add_argument("--drag-steps", type=int, default=20)
    p.add_argument("--methods", default="w,w+,pti")
    p.add_argument("--lpips-net", default="squeeze", choices=("vgg", "alex", "squeeze"))
    p.add_argument("--lpips-backbone", default=_default_backbone())
    p.add_argument("--device", default="auto")
    return p


def _base_config(args: argparse.Namespace, device):
    """The `PipelineConfig` of every run: fixed step counts, no early stop, no cache."""
    from draggan import DragConfig
    from inversion import InversionConfig
    from pipeline.config import PipelineConfig

    inversion = InversionConfig(
        w_steps=args.steps,
        wplus_steps=args.steps,
        pti_steps=args.steps,
        pti_lpips_threshold=0.0,
        lpips_net=args.lpips_net,
        pti_lpips_net=args.lpips_net,
        lpips_backbone=args.lpips_backbone,
    )
    # stop_distance 0: every run takes exactly --drag-steps steps, so per-step times compare.
    return PipelineConfig(
        align_mode=args.align,
        inversion=inversion,
        device=str(device),
        drag=DragConfig(max_steps=args.drag_steps, stop_distance=0.0),
        use_cache=False,
    )


def _timed_edit(label: str, photo, points, G, config) -> tuple:
    """One edit and its writing: (label, seconds of align, invert, metrics, drag, paste, write, total,
    per inversion step (None on a cache hit), per drag step)."""
    from pipeline.edit import edit_photo
    from pipeline.io.report import write_results

    result = edit_photo(photo, points.handles_photo, points.targets_photo, G, config, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_results(result, tmp)
        write_s = time.perf_counter() - t0
    s = result.seconds
    inv_steps = sum(len(v) for k, v in result.inversion.losses.items() if k in ("w", "w+", "pti"))
    return (
        label,
        s["align"],
        s["invert"],
        s["metrics"],
        s["drag"],
        s["paste"],
        write_s,
        s["total"] + write_s,
        (s["invert"] / inv_steps) if inv_steps and not result.cache_hit else None,
        s["drag"] / max(1, result.drag.steps),
    )


def _print_table(rows: list[tuple]) -> None:
    header = ("run", "align", "invert", "metrics", "drag", "paste", "write", "total", "s/inv step", "s/drag step")
    print(f"{header[0]:<16}" + "".join(f"{h:>12}" for h in header[1:]))
    for row in rows:
        cells = [f"{v:>12.3f}" if v is not None else f"{'-':>12}" for v in row[1:]]
        print(f"{row[0]:<16}" + "".join(cells))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
