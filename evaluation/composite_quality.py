"""How well each composite carries a drag onto real portraits: a table, composites side by side.

    python -m evaluation.composite_quality --photos ../shared/data/photos --edit mouth-wider

For every portrait in the folder, dlib's 68 landmarks give the named edit's handles and
targets in photo pixels (`EDITS`); the photo is edited once (`pipeline.edit_photo`: align,
invert, drag) and the drag's result is composited back with each composite
(`pipeline.composite_edit`). Measured on the photo, against the original:

  * seam: the maximum absolute difference (grey levels, any channel) on a band of +-3 photo
    pixels along the aligned crop's border;
  * PSNR away: PSNR (dB) on the face (the hull of the 68 landmarks) farther than one eye
    distance from every handle and target: what the edit should leave alone ('inf': every
    such pixel identical; a mean counts it as `PSNR_CAP`);
  * reach: dlib's landmarks of the edited photo, remaining distance of the handles'
    landmarks to the targets / initial distance (0 = on target, 1 = did not move);
  * identity: Euclidean distance of dlib's 128-d face descriptors of the original and the
    edited photo (`align.identity_distance`, as face_recognition measures it: < 0.6 is the same
    person); the descriptor follows expression too, so read it against the reference row;
  * seconds: the composite alone (the drag is shared).

Each photo also gets a reference row, 'ideal': no generator, the photo warped by a smooth
displacement that moves the handles' content exactly onto the targets (`ideal_warp`): what a
perfect local edit scores on reach, PSNR away and identity (no crop bounds it, so it has
no seam: 'n/a').

Photos where dlib finds no face are skipped with a line saying so.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from align import detect_faces, face_landmarks, identity_distance, load_photo, to_crop
from common.errors import DragPipelineError, exit_code_for
from hub.registry import DEFAULT_CHECKPOINT
from inversion.metrics import psnr_from_mse
from pipeline import PipelineConfig
from pipeline.edit import EditResult, edit_photo
from pipeline.errors import UsageError
from pipeline.stages import composite_edit

__all__ = [
    "EDITS",
    "COMPOSITES",
    "IDEAL",
    "edit_points",
    "ideal_warp",
    "seam",
    "psnr_away",
    "reach",
    "evaluate_photo",
    "main",
]

# Named edits: (landmark indices of the handles, how each moves) in units of the eye distance.
#   'out': along the eye axis, away from the face's centre line; 'up': perpendicular to it, toward the forehead.
EDITS = {
    "mouth-wider": ((48, 54), "out"),  # iBUG 68: outer mouth corners
    "eyebrows-up": ((19, 24), "up"),  # iBUG 68: the middle of each eyebrow
}
# The composites compared, as changes to the model's own `PasteConfig` (`config_for_model`: a
# small model's residual threshold stays); 'warp-*' are the flow choices of PasteConfig.flow.
COMPOSITES = {
    "warp": {"composite": "warp"},
    "delta": {"composite": "delta"},
    "warp-farneback": {"composite": "warp", "flow": "farneback"},
    "warp-handles": {"composite": "warp", "flow": "handles"},
}
SEAM_BAND_PX = 3.0  # photo pixels on each side of the crop border
PSNR_CAP = 100.0  # dB, for identical regions (a mean needs a number)
IDEAL = "ideal"  # the reference row's name: `ideal_warp`, no generator
IDEAL_SIGMA = 0.3  # eye distances: the width of the ideal warp's Gaussian (0.15 moves never fold it)


def _eyes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the eye centres (iBUG 36-41, 42-47), photo pixels."""
    right, left = _eyes(landmarks)
    return float(np.linalg.norm(left - right))


def edit_points(landmarks: np.ndarray, edit: str, amount: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Handles and targets of a named edit.

    Args:
        landmarks: (68, 2) float photo pixels.
        edit: a key of `EDITS`.
        amount: how far each handle moves, in eye distances.

    Returns:
        (handles, targets): (N, 2) float64 photo pixels.
    """
    indices, direction = EDITS[edit]
    right, left = _eyes(landmarks)
    axis = (left - right) / np.linalg.norm(left - right)
    up = np.array([axis[1], -axis[0]])  # perpendicular to the eye axis, toward the forehead (y down)
    handles = landmarks[list(indices)].astype(np.float64)
    if direction == "out":
        centre = handles.mean(axis=0)
        moves = np.sign((handles - centre) @ axis)[:, None] * axis[None, :]
    else:
        moves = np.repeat(up[None, :], len(handles), axis=0)
    return handles, handles + moves * amount * eye_distance(landmarks)


def ideal_warp(photo: np.ndarray, handles: np.ndarray, targets: np.ndarray, sigma: float) -> np.ndarray:
    """The photo warped so that the content at each handle lands exactly on its target.

    The backward displacement (output pixel -> where its colour comes from) is a Gaussian
    radial-basis interpolant centred on the targets, solved so that it equals
    `targets - handles` exactly there; it fades to zero a few `sigma` away, and pixels it moves
    by less than 0.01 px keep their bytes.

    *Convention*: x right, y down, pixel centres at integer coordinates (photo pixels); bicubic.

    Args:
        photo: uint8 (H, W, 3) RGB.
        handles, targets: (N, 2) float photo pixels.
        sigma: the Gaussian's width, photo pixels (> 0).

    Returns:
        uint8 (H, W, 3): the warped photo (a copy).
    """
    handles = np.asarray(handles, np.float64).reshape(-1, 2)
    targets = np.asarray(targets, np.float64).reshape(-1, 2)
    out = photo.copy()
    if len(handles) == 0:
        return out
    gram = np.exp(-((targets[:, None, :] - targets[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))
    coeffs = np.linalg.solve(gram, targets - handles)  # (N, 2): the field equals the move at each target
    h, w = photo.shape[:2]
    reach_px = 4.0 * sigma + float(np.abs(targets - handles).max())
    points = np.concatenate([handles, targets])
    x0, y0 = (max(0, int(v - reach_px)) for v in points.min(axis=0))
    x1, y1 = (int(v + reach_px) + 1 for v in points.max(axis=0))
    x1, y1 = min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return out
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    kernel = np.exp(-((xs[..., None] - targets[:, 0]) ** 2 + (ys[..., None] - targets[:, 1]) ** 2) / (2 * sigma**2))
    move = kernel @ coeffs  # (h', w', 2)
    move[np.hypot(move[..., 0], move[..., 1]) < 0.01] = 0.0
    map_x, map_y = (xs - move[..., 0]).astype(np.float32), (ys - move[..., 1]).astype(np.float32)
    warped = cv2.remap(photo, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    still = (move == 0).all(axis=-1)
    warped[still] = photo[y0:y1, x0:x1][still]
    out[y0:y1, x0:x1] = warped
    return out


def _crop_edge_distance(shape: tuple[int, int], result: EditResult) -> np.ndarray:
    """Signed distance (photo px, > 0 inside) of every photo pixel to the aligned crop's border."""
    h, w = shape
    alignment = result.alignment
    ys, xs = np.mgrid[0:h, 0:w]
    pts = to_crop(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64), alignment).reshape(h, w, 2)
    x0, y0, x1, y1 = alignment.content_box
    inside = np.minimum.reduce(
        [pts[..., 0] - x0 + 0.5, x1 - 0.5 - pts[..., 0], pts[..., 1] - y0 + 0.5, y1 - 0.5 - pts[..., 1]]
    )
    scale = math.sqrt(abs(np.linalg.det(alignment.photo_from_crop[:2, :2])))
    return inside * scale


def seam(photo: np.ndarray, edited: np.ndarray, edge_distance: np.ndarray) -> float:
    """Max abs difference (levels) on the band |edge distance| <= `SEAM_BAND_PX`."""
    band = np.abs(edge_distance) <= SEAM_BAND_PX
    if not band.any():
        return 0.0
    return float(np.abs(photo.astype(np.int16) - edited.astype(np.int16))[band].max())


def psnr_away(photo: np.ndarray, edited: np.ndarray, landmarks: np.ndarray, points: np.ndarray) -> float:
    """PSNR (dB, capped at `PSNR_CAP`) on the landmark hull farther than one eye distance from every point."""
    h, w = photo.shape[:2]
    face = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.rint(landmarks).astype(np.int32)), 1)
    ys, xs = np.mgrid[0:h, 0:w]
    near = np.zeros((h, w), bool)
    for x, y in points:
        near |= np.hypot(xs - x, ys - y) <= eye_distance(landmarks)
    region = (face > 0) & ~near
    diff = photo[region].astype(np.float64) - edited[region].astype(np.float64)
    mse = float(np.mean(diff * diff)) if diff.size else 0.0
    return min(PSNR_CAP, psnr_from_mse(mse, data_range=255.0))


def photo_face(photo: np.ndarray) -> tuple[tuple[float, float, float, float], np.ndarray] | None:
    """dlib's box and 68 landmarks (photo pixels) of the largest face, or None when no face is found."""
    faces = detect_faces(photo)
    return None if not faces else (faces[0].box, face_landmarks(photo, faces[0].box))


def photo_landmarks(photo: np.ndarray) -> np.ndarray | None:
    """dlib's 68 landmarks of the largest face, photo pixels, or None when no face is found."""
    face = photo_face(photo)
    return None if face is None else face[1]


def reach(edited: np.ndarray, landmarks: np.ndarray, edit: str, targets: np.ndarray) -> float:
    """Remaining / initial distance of the edit's landmarks to the targets (nan without a face)."""
    after = photo_landmarks(edited)
    if after is None:
        return float("nan")
    indices = list(EDITS[edit][0])
    remaining = np.linalg.norm(after[indices] - targets, axis=1).sum()
    initial = np.linalg.norm(landmarks[indices] - targets, axis=1).sum()
    return float(remaining / initial)


@dataclass(frozen=True)
class Row:
    """One photo and composite of the table."""

    photo: str
    composite: str
    seam: float
    psnr_away: float
    reach: float
    identity: float
    seconds: float


@dataclass(frozen=True)
class _Face:
    """What every row of one photo is measured against."""

    photo: np.ndarray  # uint8 (H, W, 3): the original
    box: tuple[float, float, float, float]  # dlib's face box in the original, photo pixels
    landmarks: np.ndarray  # (68, 2) photo pixels
    handles: np.ndarray  # (N, 2) photo pixels
    targets: np.ndarray  # (N, 2) photo pixels
    edge: np.ndarray  # (H, W) signed distance (photo px) to the aligned crop's border


def _row(path: Path, name: str, face: _Face, edited: np.ndarray, edit: str, seconds: float) -> Row:
    """Measure one edited photo against the original."""
    points = np.concatenate([face.handles, face.targets])
    return Row(
        path.name,
        name,
        math.nan if name == IDEAL else seam(face.photo, edited, face.edge),
        psnr_away(face.photo, edited, face.landmarks, points),
        reach(edited, face.landmarks, edit, face.targets),
        identity_distance(face.photo, edited, face.box),
        seconds,
    )


def evaluate_photo(
    path: Path, args: argparse.Namespace, config: PipelineConfig, out: Path | None
) -> tuple[list[Row], str]:
    """Edit one photo and measure every composite and the ideal warp; returns the rows and a line about the drag."""
    photo = load_photo(path)
    found = photo_face(photo)
    if found is None:
        return [], f"{path.name}: no face found, skipped"
    box, landmarks = found
    handles, targets = edit_points(landmarks, args.edit, args.amount)
    result = edit_photo(photo, handles, targets, args.checkpoint, config, progress=False)
    drag = result.drag
    initial = np.linalg.norm(result.handles_crop - result.targets_crop, axis=1).sum()
    line = (
        f"{path.name}: drag {drag.steps} steps, {'converged' if drag.converged else 'not converged'}, "
        f"crop reach {result.distances_crop.sum() / max(initial, 1e-9):.2f} "
        f"(handles {to_crop(handles, result.alignment).round(1).tolist()})"
    )
    face = _Face(photo, box, landmarks, handles, targets, _crop_edge_distance(photo.shape[:2], result))
    edits = {}
    for name in args.composites:
        t = time.perf_counter()
        composite = composite_edit(
            photo,
            result.alignment,
            result.edited_crop,
            result.reconstruction_crop,
            dataclasses.replace(result.config, paste=dataclasses.replace(result.config.paste, **COMPOSITES[name])),
            result.handles_crop,
            result.final_handles_crop,
            result.mask_crop,
        )
        edits[name] = (composite.photo, time.perf_counter() - t)
    t = time.perf_counter()
    ideal = ideal_warp(photo, handles, targets, args.ideal_sigma * eye_distance(landmarks))
    edits[IDEAL] = (ideal, time.perf_counter() - t)
    rows = []
    for name, (edited, seconds) in edits.items():
        rows.append(_row(path, name, face, edited, args.edit, seconds))
        if out is not None:
            Image.fromarray(edited).save(out / f"{path.stem}_{name}.png")
    return rows, line


def _db(value: float) -> str:
    """A PSNR for the table: 'inf' (identical pixels) at the cap."""
    return "inf" if value >= PSNR_CAP else f"{value:.1f}"


def _levels(value: float) -> str:
    """A seam for the table: 'n/a' for the reference, which no crop border bounds."""
    return "n/a" if math.isnan(value) else f"{value:.0f}"


def _label(composite: str) -> str:
    return "ideal warp (reference)" if composite == IDEAL else composite


def format_table(rows: list[Row], composites: list[str]) -> str:
    """The table (markdown), one row per photo and composite, then the mean of each composite.

    The reference rows (`IDEAL`) are listed among each photo's rows and get their own mean row
    after the composites' (`composites` need not name it).
    """
    lines = [
        "| photo | composite | seam (levels) | PSNR away (dB) | reach | identity | seconds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        psnr = _db(r.psnr_away)
        cells = f"{_levels(r.seam)} | {psnr} | {r.reach:.2f} | {r.identity:.3f} | {r.seconds:.3f}"
        lines.append(f"| {r.photo} | {_label(r.composite)} | {cells} |")
    for name in [*composites, *([] if IDEAL in composites else [IDEAL])]:
        mine = [r for r in rows if r.composite == name]
        if mine:
            fields = ("seam", "psnr_away", "reach", "identity", "seconds")
            with warnings.catch_warnings():  # an all-NaN column (no seam for the reference) means NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = [float(np.nanmean([getattr(r, f) for r in mine])) for f in fields]
            seams = [r.seam for r in mine if not math.isnan(r.seam)]
            seam_text = f"{np.mean(seams):.1f} (max {max(seams):.0f})" if seams else "n/a"
            cells = f"{seam_text} | {_db(mean[1])} | {mean[2]:.2f} | {mean[3]:.3f} | {mean[4]:.3f}"
            lines.append(f"| **mean** | {_label(name)} | {cells} |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.composite_quality", description=__doc__.splitlines()[0])
    p.add_argument("--photos", required=True, help="folder of portrait photos (.jpg, .jpeg, .png)")
    p.add_argument("--names", default=None, help="comma-separated file names to use (default: every photo)")
    p.add_argument("--edit", default="mouth-wider", choices=sorted(EDITS), help="the named edit")
    p.add_argument("--amount", type=float, default=0.15, help="how far each handle moves, in eye distances")
    p.add_argument(
        "--composites", default="warp,delta", help=f"comma-separated, of {', '.join(COMPOSITES)} (default warp,delta)"
    )
    p.add_argument(
        "--ideal-sigma",
        type=float,
        default=IDEAL_SIGMA,
        help=f"width of the reference warp's Gaussian, in eye distances (default {IDEAL_SIGMA:g})",
    )
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help=f"generator (default {DEFAULT_CHECKPOINT})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--cache-dir", default=None, help="inversion cache folder (default: the pipeline's)")
    p.add_argument("--out", default=None, help="also write each composite as <photo>_<composite>.png here")
    return p


def run(argv: list[str] | None = None) -> list[Row]:
    """Parse the arguments, evaluate every photo, print the drag lines and the table; returns the rows."""
    args = _parser().parse_args(argv)
    args.composites = [c.strip() for c in args.composites.split(",") if c.strip()]
    unknown = [c for c in args.composites if c not in COMPOSITES]
    if unknown:
        raise UsageError(f"unknown composite(s) {unknown}; use some of {list(COMPOSITES)}")
    folder = Path(args.photos)
    files = (
        sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if folder.is_dir() else []
    )
    if args.names:
        wanted = [n.strip() for n in args.names.split(",")]
        files = [p for p in files if p.name in wanted]
    if not files:
        raise UsageError(f"no photos found in {folder}; pass --photos DIR with .jpg or .png portraits")
    out = None if args.out is None else Path(args.out)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    config = PipelineConfig(device=args.device, cache_dir=args.cache_dir)
    rows: list[Row] = []
    for path in files:
        try:
            mine, line = evaluate_photo(path, args, config, out)
        except DragPipelineError as exc:  # e.g. a point outside the crop: say so, keep going
            mine, line = [], f"{path.name}: skipped ({str(exc).splitlines()[0]})"
        print(line, flush=True)
        rows += mine
    print(f"\nedit {args.edit} ({args.amount:g} eye distances), checkpoint {args.checkpoint}\n")
    print(format_table(rows, args.composites))
    return rows


def main(argv: list[str] | None = None) -> int:
    """The command line: returns 0, or prints one line and returns the error's exit code."""
    try:
        run(argv)
    except DragPipelineError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return exit_code_for(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
