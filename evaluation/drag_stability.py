"""How steadily the default model's drag moves: tracking jumps and drift, per drag setting.

    python -m evaluation.drag_stability --checkpoint face-64 --faces 4

Each face is edited through the pipeline (`pipeline.edit_photo`, the model's own settings,
the inversion cache shared by every variant): the README's bundled example
(`examples/astronaut.png` with `examples/astronaut_points.json`) and the first `--faces`
held-out UTKFace faces (training/data/utkface_holdout.txt) that dlib aligns, with both mouth
corners dragged outward by `--fraction` eye distances (default 0.1, about 3 px at 64 px;
the README example's drag is about 8 px; `evaluation.heldout.mouth_targets`).
For every variant of `VARIANTS` (changes to the model's `DragConfig` or `InversionConfig`),
measured on the drag's own record (crop pixels):

  * converged, steps, final distance: the largest handle-to-target distance at the end;
  * max jump: the largest move of a tracked handle between two consecutive steps;
  * max regress: how far the largest handle-to-target distance rose above its lowest value
    so far (0 = it never went back);
  * PSNR away: edited crop against the reconstruction, on pixels farther than half an eye
    distance from every handle and target (what a mouth drag should leave alone: blotches
    and drift lower it);
  * detail away: the same PSNR on the difference's fine part (minus its Gaussian blur,
    sigma `DETAIL_SIGMA` px): local spots and blotches lower it, a smooth shift of tone does not.

Needs no network; dlib's models (align/) and ../shared/data/utkface.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from align import load_photo, to_photo
from common.paths import shared_data
from evaluation.heldout import heldout_crops, mouth_targets
from inversion.metrics import psnr_from_mse
from pipeline import PipelineConfig
from pipeline.edit import EditResult, edit_photo
from pipeline.errors import UsageError

__all__ = ["VARIANTS", "DragStability", "drag_stability", "main"]

REPO = Path(__file__).resolve().parents[1]
# (label, {'stage.field': value}): changes to the model's DragConfig / InversionConfig; radii in
# px of a 512-px image (64 px: divide by 8). 'default' is the model's own (pipeline.model_defaults).
VARIANTS = (
    ("default", {}),
    ("lr 2e-3, 300 steps (before)", {"drag.lr": 2e-3, "drag.max_steps": 300}),
    ("r2 12 (1.5 px)", {"drag.r2": 12.0}),
    ("r1 24 (3 px)", {"drag.r1": 24.0}),
    ("feature block 16", {"drag.feature_res": 16}),
    ("4 W+ rows", {"drag.optimize_rows": 4}),
    ("G's own noise (no noise projection)", {"inversion.optimize_noise": False}),
    ("lr 1.5e-3", {"drag.lr": 1.5e-3}),
    ("at most 300 steps", {"drag.max_steps": 300}),
)
AWAY_EYES = 0.5  # PSNR away: farther than this many eye distances from every point
DETAIL_SIGMA = 2.0  # crop px: the blur whose residual is 'detail' (blotches are a few px across at 64 px)


@dataclass(frozen=True)
class DragStability:
    """One drag's steadiness (crop pixels)."""

    converged: bool
    steps: int
    final_distance: float
    max_jump: float
    max_regress: float
    psnr_away: float
    detail_away: float


def _psnr(diff: np.ndarray) -> float:
    return psnr_from_mse(float(np.mean(diff * diff)), data_range=255.0)


def drag_stability(result: EditResult) -> DragStability:
    """Measure one edit's drag: its record and its crop against the reconstruction."""
    history = np.asarray(result.drag.history, np.float64)  # (steps + 1, N, 2)
    targets = result.targets_crop
    distance = np.linalg.norm(history - targets[None], axis=-1).max(axis=1)  # (steps + 1,)
    jumps = np.linalg.norm(np.diff(history, axis=0), axis=-1)
    regress = distance - np.minimum.accumulate(distance)
    landmarks = result.alignment.landmarks_crop
    eye = float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)))
    size = result.edited_crop.shape[0]
    ys, xs = np.mgrid[0:size, 0:size]
    away = np.ones((size, size), bool)
    for x, y in np.concatenate([result.handles_crop, targets]):
        away &= np.hypot(xs - x, ys - y) > AWAY_EYES * eye
    diff = result.edited_crop.astype(np.float64) - result.reconstruction_crop.astype(np.float64)
    detail = diff - cv2.GaussianBlur(diff, (0, 0), DETAIL_SIGMA)
    return DragStability(
        bool(result.drag.converged),
        int(result.drag.steps),
        float(distance[-1]),
        float(jumps.max()) if jumps.size else 0.0,
        float(regress.max()),
        _psnr(diff[away]),
        _psnr(detail[away]),
    )


def _faces(args: argparse.Namespace, config: PipelineConfig, size: int) -> list[tuple[str, np.ndarray, tuple]]:
    """[(name, photo, (handles_photo, targets_photo))]: the README example, then held-out faces."""
    points = json.loads((REPO / "examples" / "astronaut_points.json").read_text())
    readme = load_photo(REPO / "examples" / "astronaut.png")
    faces = [("astronaut (README)", readme, (points["handles"], points["targets"]))]
    utkface = Path(args.utkface or shared_data("data/utkface"))
    for name, alignment in heldout_crops(utkface, size, config.align, args.faces):
        handles, targets = mouth_targets(alignment.landmarks_crop, args.fraction)
        moves = (to_photo(handles, alignment), to_photo(targets, alignment))
        faces.append((name, load_photo(utkface / name), moves))
    return faces


def _variant(config: PipelineConfig, changes: dict) -> PipelineConfig:
    """The model's config with the changes, which the model's defaults must not override."""
    stages = {}
    for name, value in changes.items():
        stage, _, field_name = name.partition(".")
        stages.setdefault(stage, {})[field_name] = value
    replaced = {stage: dataclasses.replace(getattr(config, stage), **fields) for stage, fields in stages.items()}
    return dataclasses.replace(config, **replaced, user_options=(*config.user_options, *changes))


def _table(rows: dict[str, list[DragStability]]) -> str:
    lines = [
        "| drag variant | converged | mean steps | final distance (px) | max jump (px), mean (max) | "
        "max regress (px), mean (max) | PSNR away (dB) | detail away (dB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, mine in rows.items():
        jump, back = [r.max_jump for r in mine], [r.max_regress for r in mine]
        lines.append(
            f"| {label} | {np.mean([r.converged for r in mine]):.0%} | {np.mean([r.steps for r in mine]):.0f} | "
            f"{np.mean([r.final_distance for r in mine]):.2f} | {np.mean(jump):.2f} ({max(jump):.2f}) | "
            f"{np.mean(back):.2f} ({max(back):.2f}) | {np.mean([r.psnr_away for r in mine]):.1f} | "
            f"{np.mean([r.detail_away for r in mine]):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one line per face and variant (stderr), then the table of means."""
    from hub.registry import load_checkpoint, resolve_checkpoint
    from pipeline.model_defaults import config_for_model

    p = argparse.ArgumentParser(prog="python -m evaluation.drag_stability", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="face-64")
    p.add_argument("--faces", type=int, default=4, help="held-out faces besides the README example")
    p.add_argument("--utkface", default=None)
    p.add_argument("--fraction", type=float, default=0.1, help="held-out drag length, in eye distances")
    p.add_argument("--variants", nargs="+", metavar="LABEL", help="labels of VARIANTS to run (default: all)")
    args = p.parse_args(argv)
    variants = VARIANTS
    if args.variants is not None:
        wanted = args.variants
        unknown = sorted(set(wanted) - {label for label, _ in VARIANTS})
        if unknown:
            raise UsageError(f"unknown variant(s) {unknown}; use labels of {[label for label, _ in VARIANTS]}")
        variants = tuple(v for v in VARIANTS if v[0] in wanted)
    resolved = resolve_checkpoint(args.checkpoint, allow_download=False)
    G = load_checkpoint(resolved)
    base = config_for_model(PipelineConfig(), G, resolved.info)
    rows: dict[str, list[DragStability]] = {label: [] for label, _ in variants}
    faces = _faces(args, base, int(G.img_resolution))
    for name, photo, (handles, targets) in faces:
        for label, changes in variants:
            result = edit_photo(photo, handles, targets, args.checkpoint, _variant(base, changes), progress=False)
            rows[label].append(drag_stability(result))
            print(f"{name} | {label} | {rows[label][-1]}", file=sys.stderr, flush=True)
    print(f"{len(faces)} faces (the README example + held-out, {args.fraction:g}), {resolved.label}\n")
    print(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
