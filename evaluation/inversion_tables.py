"""The tables and the image grid of the inversion-quality benchmark (`evaluation.inversion_quality`).

results.md       header + Markdown table (per method: mean ± std of each metric)
results.csv      the same summary, one row per method
per_image.csv    one row per (image, method)
grid.png         target | one column per method, a label row on top
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

__all__ = ["METRICS", "summarize", "markdown_table", "save_grid", "write_results"]

METRICS = ("psnr", "ssim", "lpips", "id", "mse")


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


def write_results(
    out: Path,
    header: str,
    rows: list[dict],
    grid_rows: list[list[np.ndarray]],
    methods: list[str],
    memory_kind: str,
) -> list[dict]:
    """Writes the benchmark's files into `out` and prints the table.

    Args:
        out: the output folder (created).
        header: the Markdown text above the table.
        rows: one dict per (image, method) with the `METRICS`, 'seconds' and 'peak_mib'.
        grid_rows: rows of equally sized uint8 (R, R, 3) images: target, then one per method.
        methods: the method names, in column order.
        memory_kind: what the peak memory column measures ('RSS' or 'CUDA alloc').

    Returns:
        The per-method summary (`summarize`), as written to results.csv.
    """
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows, methods)
    table = markdown_table(summary, memory_kind)
    (out / "results.md").write_text(header + table + "\n\ngrid.png columns: target | " + " | ".join(methods) + "\n")
    _write_csv(out / "results.csv", summary)
    _write_csv(out / "per_image.csv", rows)
    if grid_rows:
        save_grid(grid_rows, ["target"] + methods, out / "grid.png")
    print(header + table)
    print(f"\nwrote {out / 'results.md'}, results.csv, per_image.csv" + (", grid.png" if grid_rows else ""))
    return summary


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
