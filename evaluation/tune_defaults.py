"""Measure the small-model defaults (`pipeline.model_defaults`) on held-out faces; prints tables.

    python -m evaluation.tune_defaults --checkpoint face-64 --faces 6

Two tables, on the first `--faces` held-out UTKFace faces (training/data/utkface_holdout.txt)
that dlib aligns, at the model's framing:

  * inversion: mean PSNR / LPIPS-squeeze and seconds of the W projection for several step
    counts, and of PTI (from the default W pivot) for several tuning step counts;
  * drag: the mouth drag test (`evaluation.heldout.mouth_drag_test`) on the default PTI
    inversion for variants of the stop distance, sub-pixel tracking and the radii r1 / r2.

Every other setting is the model's default. Needs no network; ../shared/data/utkface.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
import torch

from common.paths import shared_data

W_STEPS = (100, 200, 450)
PTI_STEPS = (50, 100, 150, 250)
# (label, DragConfig changes); radii in px of a 512-px image, as DragConfig.
DRAG_VARIANTS = (
    ("default", {}),
    ("stop 0.5 px", {"stop_distance": 0.5}),
    ("stop 2 px (scaled official)", {"stop_distance": None}),
    ("integer tracking", {"subpixel_tracking": False}),
    ("r1 3 / r2 12 (paper, scaled)", {"r1": 3.0, "r2": 12.0}),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.tune_defaults", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="face-64")
    p.add_argument("--faces", type=int, default=6)
    p.add_argument("--utkface", default=None)
    return p


def _mean_row(label: str, rows: list[tuple[dict, float]]) -> str:
    psnr, lpips = np.mean([s["psnr"] for s, _ in rows]), np.mean([s["lpips"] for s, _ in rows])
    return f"| {label} | {psnr:.2f} | {lpips:.3f} | {np.mean([t for _, t in rows]):.1f} |"


def _w_rows(G, crop: np.ndarray, inversion, inv_rows: dict[str, list]) -> dict[int, torch.Tensor]:
    """W projection at each of `W_STEPS`: appends (scores, seconds) rows; returns the pivot of each count."""
    from evaluation.heldout import invert_face, reconstruction_scores

    pivots = {}
    for steps in W_STEPS:
        t = time.perf_counter()
        done = invert_face(G, crop, dataclasses.replace(inversion, w_steps=steps), methods=("w",))
        scores = reconstruction_scores(done.reconstruction["w"], np.array(crop))
        inv_rows.setdefault(f"W {steps} steps", []).append((scores, time.perf_counter() - t))
        pivots[steps] = done.ws["w"]
    return pivots


def _pti_rows(G, crop: np.ndarray, pivot: torch.Tensor, inversion, inv_rows: dict[str, list]):
    """PTI at each of `PTI_STEPS` from the default W pivot with G's own noise; returns the default's
    (tuned G, pivot, uint8 reconstruction)."""
    from evaluation.heldout import reconstruction_scores
    from inversion.api import lpips_losses, target_to_tensor
    from inversion.pti import pivotal_tuning
    from stylegan import uint8_from_ws

    target = np.array(crop)
    target_tensor = target_to_tensor(target, G)
    _, lpips = lpips_losses(inversion, G.device)
    default = None
    for steps in PTI_STEPS:
        t = time.perf_counter()
        tuned = pivotal_tuning(G, pivot, target_tensor, lpips, dataclasses.replace(inversion, pti_steps=steps)).G
        recon = uint8_from_ws(tuned, pivot, force_fp32=True)[0]
        inv_rows.setdefault(f"PTI {steps} steps (from W {inversion.w_steps})", []).append(
            (reconstruction_scores(recon, target), time.perf_counter() - t)
        )
        if steps == inversion.pti_steps:
            default = (tuned, pivot, recon)
    assert default is not None, "the default PTI step count must be among PTI_STEPS"
    return default


def _drag_rows(default, landmarks_crop: np.ndarray, drag, drag_rows: dict[str, list]) -> None:
    """The mouth drag test on the default PTI inversion for each of `DRAG_VARIANTS`."""
    from evaluation.heldout import mouth_drag_test

    tuned, pivot, recon = default
    for label, changes in DRAG_VARIANTS:
        result = mouth_drag_test(tuned, pivot, landmarks_crop, recon, dataclasses.replace(drag, **changes))
        drag_rows.setdefault(label, []).append(result)


def _print_tables(title: str, inv_rows: dict[str, list], drag_rows: dict[str, list]) -> None:
    print(f"{title}\n")
    print("| inversion | PSNR (dB) | LPIPS-squeeze | s / face |")
    print("|---|---|---|---|")
    for label, rows in inv_rows.items():
        print(_mean_row(label, rows))
    print(
        "\n| drag variant | converged | mean steps | mean final distance (px) | face found | mouth wider | "
        "mean eye shift (px) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, rows in drag_rows.items():
        widths = [r.mouth_width_change for r in rows if r.mouth_width_change is not None]
        shifts = [r.eye_shift for r in rows if r.eye_shift is not None]
        print(
            f"| {label} | {np.mean([r.converged for r in rows]):.0%} | {np.mean([r.steps for r in rows]):.0f} | "
            f"{np.mean([r.final_distance for r in rows]):.2f} | {np.mean([r.face_found for r in rows]):.0%} | "
            f"{np.mean([w > 0 for w in widths]) if widths else float('nan'):.0%} | "
            f"{np.mean(shifts) if shifts else float('nan'):.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the two tables."""
    from evaluation.heldout import heldout_crops
    from hub.registry import load_checkpoint, resolve_checkpoint
    from pipeline.config import PipelineConfig
    from pipeline.model_defaults import config_for_model

    args = _parser().parse_args(argv)
    resolved = resolve_checkpoint(args.checkpoint, allow_download=False)
    G = load_checkpoint(resolved)
    config = config_for_model(PipelineConfig(), G, resolved.info)
    faces = heldout_crops(args.utkface or shared_data("data/utkface"), int(G.img_resolution), config.align, args.faces)
    inv_rows: dict[str, list] = {}
    drag_rows: dict[str, list] = {}
    for index, (name, alignment) in enumerate(faces):
        pivots = _w_rows(G, alignment.crop, config.inversion, inv_rows)
        default = _pti_rows(G, alignment.crop, pivots[config.inversion.w_steps], config.inversion, inv_rows)
        _drag_rows(default, alignment.landmarks_crop, config.drag, drag_rows)
        print(f"{index:3d} {name}", file=sys.stderr, flush=True)
    _print_tables(f"{len(faces)} held-out faces, {resolved.label}", inv_rows, drag_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
