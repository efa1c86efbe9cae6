"""Drag points from a JSON file: parsing, validation and the optional mask PNG.

*Convention* (whole module): points are float (x, y) in pixels, x right, y down, pixel
centres at integer coordinates, so a W x H photo covers [-0.5, W - 0.5] x [-0.5, H - 0.5].

Accepted JSON layouts (coordinates in original photo pixels)::

    {"handles": [[x, y], ...], "targets": [[x, y], ...], "mask": "mask.png", "frame": 0}
    [{"handle": [x, y], "target": [x, y]}, ...]
    {"points": [{"handle": [x, y], "target": [x, y]}, ...], "mask": "mask.png"}

`"mask"` is optional: a PNG the size of the photo, white (> 127) where the image may move.
`"frame"` is optional, for a video: the keyframe (0-based) whose pixels the points are in (default 0).
A relative mask path is resolved against the JSON file's folder.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.images import DEFAULT_MAX_PIXELS, read_image
from common.paths import check_input_file, os_error_reason, show_path
from pipeline.errors import PointsError

# Limits that refuse pathological files up front (README, "Points file"). DragGAN edits use a
# handful of points (its demos: 1-10); every point adds a motion-supervision and a tracking
# term to each drag step.
MAX_POINTS = 100
MAX_POINTS_FILE_BYTES = 1_000_000  # 1 MB; 100 pretty-printed pairs with a mask path take under 10 kB

__all__ = [
    "MAX_POINTS",
    "MAX_POINTS_FILE_BYTES",
    "PointsError",
    "DragPoints",
    "parse_points",
    "load_points",
    "load_mask",
    "check_points_in_frame",
]


@dataclass(frozen=True)
class DragPoints:
    """Handle/target pairs in photo pixels, plus an optional mask file.

    Attributes:
        handles_photo: (N, 2) float64 (x, y), N >= 1.
        targets_photo: (N, 2) float64 (x, y).
        mask_path: the mask PNG named in the file (resolved), or None.
        frame: for a video, the keyframe the points are on (0-based frame index); 0 for a photo.
    """

    handles_photo: np.ndarray
    targets_photo: np.ndarray
    mask_path: Path | None = None
    frame: int = 0

    def __post_init__(self) -> None:
        h = np.asarray(self.handles_photo, dtype=np.float64)
        t = np.asarray(self.targets_photo, dtype=np.float64)
        if h.ndim != 2 or h.shape[1:] != (2,) or t.ndim != 2 or t.shape[1:] != (2,):
            raise PointsError(f"handles and targets must be (N, 2) arrays of (x, y), got {h.shape} and {t.shape}")
        if h.shape[0] != t.shape[0]:
            raise PointsError(f"{h.shape[0]} handles but {t.shape[0]} targets; give exactly one target per handle")
        if h.shape[0] == 0:
            raise PointsError("no drag points given; add at least one handle/target pair")
        if h.shape[0] > MAX_POINTS:
            raise PointsError(f"{h.shape[0]} drag points, more than the limit of {MAX_POINTS}; give fewer points")
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(t))):
            raise PointsError("drag points must be finite numbers; remove NaN/inf values")
        h.flags.writeable = False
        t.flags.writeable = False
        object.__setattr__(self, "handles_photo", h)
        object.__setattr__(self, "targets_photo", t)

    def __len__(self) -> int:
        return int(self.handles_photo.shape[0])


def _point(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, dict) and set(value) >= {"x", "y"}:
        value = [value["x"], value["y"]]
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise PointsError(f"{where} must be a pair of numbers [x, y], got {json.dumps(value)[:60]}")
    x, y = float(value[0]), float(value[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise PointsError(f"{where} must be finite, got [{x}, {y}]")
    return x, y


def _check_count(items: list, source: str, key: str) -> None:
    if len(items) > MAX_POINTS:
        raise PointsError(
            f'{source}: {len(items):,} entries in "{key}", more than the limit of {MAX_POINTS} '
            "handle/target pairs; give fewer points"
        )


def _point_list(value: Any, key: str, source: str) -> list[tuple[float, float]]:
    if not isinstance(value, list):
        raise PointsError(f'{source}: "{key}" must be a list of [x, y] pairs, got {type(value).__name__}')
    _check_count(value, source, key)
    return [_point(p, f"{source}: {key}[{i}]") for i, p in enumerate(value)]


def _pairs(items: list, source: str, key: str) -> tuple[list, list]:
    _check_count(items, source, key)
    handles, targets = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "handle" not in item or "target" not in item:
            raise PointsError(
                f'{source}: {key}[{i}] must be an object {{"handle": [x, y], "target": [x, y]}}, '
                f"got {json.dumps(item)[:60]}"
            )
        handles.append(_point(item["handle"], f"{source}: {key}[{i}].handle"))
        targets.append(_point(item["target"], f"{source}: {key}[{i}].target"))
    return handles, targets


def parse_points(text: str, source: str = "points", base_dir: str | os.PathLike | None = None) -> DragPoints:
    """Parse drag points from JSON text (both layouts, see the module docstring).

    Args:
        text: the JSON document.
        source: a name for error messages (usually the file path).
        base_dir: folder against which a relative `"mask"` path is resolved (None = cwd).

    Returns:
        DragPoints with (N, 2) float64 handles/targets in photo pixels.

    Raises:
        PointsError: invalid JSON (message with line and column), wrong layout,
            non-numeric or non-finite coordinates, unequal counts, no points.
    """
    if len(text) > MAX_POINTS_FILE_BYTES:
        raise PointsError(
            f"{source} has {len(text):,} characters, more than the limit {MAX_POINTS_FILE_BYTES:,}; "
            f"give at most {MAX_POINTS} handle/target pairs"
        )
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PointsError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; fix the syntax there"
        ) from None
    except RecursionError:  # the decoder recurses once per nesting level
        raise PointsError(
            f"{source} is not valid points JSON: nested too deeply; use the layout "
            '{"handles": [[x, y], ...], "targets": [[x, y], ...]}'
        ) from None
    except ValueError:  # the only other decoder error: an integer longer than Python converts (4300 digits)
        raise PointsError(
            f"{source} is not valid points JSON (a number with thousands of digits); give coordinates as plain numbers"
        ) from None
    mask_value = None
    frame = 0
    if isinstance(doc, list):
        handles, targets = _pairs(doc, source, "points")
    elif isinstance(doc, dict):
        unknown = set(doc) - {"handles", "targets", "points", "mask", "frame"}
        if unknown:
            raise PointsError(
                f'{source}: unknown key(s) {sorted(unknown)}; expected "handles", "targets" '
                '(or "points") and optionally "mask" and "frame"'
            )
        if "points" in doc:
            if "handles" in doc or "targets" in doc:
                raise PointsError(f'{source}: give either "points" or "handles"/"targets", not both')
            if not isinstance(doc["points"], list):
                raise PointsError(f'{source}: "points" must be a list of {{"handle", "target"}} objects')
            handles, targets = _pairs(doc["points"], source, "points")
        elif "handles" in doc and "targets" in doc:
            handles = _point_list(doc["handles"], "handles", source)
            targets = _point_list(doc["targets"], "targets", source)
        else:
            raise PointsError(
                f'{source}: expected {{"handles": [[x, y], ...], "targets": [[x, y], ...]}} '
                'or [{"handle": [x, y], "target": [x, y]}, ...]'
            )
        mask_value = doc.get("mask")
        frame = _frame(doc.get("frame", 0), source)
    else:
        raise PointsError(f"{source}: expected a JSON object or list of handle/target pairs, got {type(doc).__name__}")
    if len(handles) != len(targets):
        raise PointsError(
            f"{source}: {len(handles)} handles but {len(targets)} targets; give exactly one target per handle"
        )
    if not handles:
        raise PointsError(f"{source}: no drag points; add at least one handle/target pair")
    mask_path = None
    if mask_value is not None:
        if not isinstance(mask_value, str) or not mask_value:
            raise PointsError(f'{source}: "mask" must be a path to a PNG file, got {json.dumps(mask_value)[:60]}')
        mask_path = Path(mask_value).expanduser()
        if not mask_path.is_absolute() and base_dir is not None:
            mask_path = Path(base_dir) / mask_path
    return DragPoints(np.array(handles, dtype=np.float64), np.array(targets, dtype=np.float64), mask_path, frame)


def _frame(value: Any, source: str) -> int:
    """The "frame" entry: a whole number >= 0 (a video's keyframe)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise PointsError(f'{source}: "frame" must be a whole frame number >= 0 (the keyframe), got {value!r}')
    return int(value)


def load_points(path: str | os.PathLike) -> DragPoints:
    """Read a points JSON file (see `parse_points`).

    Files larger than `MAX_POINTS_FILE_BYTES` are refused before they are read.

    Raises:
        PointsError: missing, unreadable or too large file, or any `parse_points` error.
    """
    path = check_input_file(path, "points file", PointsError, fix="check the --points path")
    size = path.stat().st_size
    if size > MAX_POINTS_FILE_BYTES:
        raise PointsError(
            f"points file {show_path(path)} is {size:,} bytes, more than the limit "
            f"{MAX_POINTS_FILE_BYTES:,}; give at most {MAX_POINTS} handle/target pairs"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PointsError(
            f"points file {show_path(path)} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 JSON"
        ) from None
    except OSError as exc:
        raise PointsError(
            f"cannot read points file {show_path(path)}: {os_error_reason(exc)}; check the --points path"
        ) from None
    return parse_points(text, source=str(path), base_dir=path.parent)


def load_mask(
    path: str | os.PathLike, photo_shape: tuple[int, ...], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Read a mask image and check it matches the photo.

    Args:
        path: an image file (PNG recommended); grey, RGB or RGBA. A pixel counts as
            "may move" when its grey value is > 127 (white); with alpha, transparent is 0.
        photo_shape: (H, W, ...) of the photo.
        max_pixels: refuse larger files before decoding them (the photo's limit).

    Returns:
        bool (H, W) array, True = may move.

    Raises:
        PointsError: missing/unreadable file, size mismatch, or an all-black mask.
    """
    rgba = read_image(
        path,
        mode="RGBA",
        max_pixels=max_pixels,
        what="mask",
        error=PointsError,
        too_large_fix="draw the mask on the original photo at its full size",
    ).astype(np.float32)
    grey = rgba[..., :3].mean(axis=2) * (rgba[..., 3] / 255.0)  # transparent counts as black
    h, w = int(photo_shape[0]), int(photo_shape[1])
    if grey.shape != (h, w):
        raise PointsError(
            f"mask {path} is {grey.shape[1]}x{grey.shape[0]} but the photo is {w}x{h}; "
            "draw the mask on the original photo at its full size"
        )
    mask = grey > 127.0
    if not mask.any():
        raise PointsError(f"mask {path} is all black (nothing may move); paint the editable region white")
    return mask


def check_points_in_frame(points: np.ndarray, width: int, height: int, what: str, frame: str, fix: str) -> None:
    """Raise PointsError if any point lies outside a width x height image.

    *Convention*: pixel centres at integer coordinates, so the image covers
    [-0.5, width - 0.5] x [-0.5, height - 0.5].

    Args:
        points: (N, 2) float (x, y).
        width, height: the frame's size in pixels.
        what: 'handle' or 'target' (for the message).
        frame: e.g. 'the photo (640x480)' (for the message).
        fix: the end of the message saying what to do.
    """
    pts = np.asarray(points, dtype=np.float64)
    bad = ~((pts[:, 0] >= -0.5) & (pts[:, 0] <= width - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= height - 0.5))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        x, y = pts[i]
        more = f" (and {int(bad.sum()) - 1} more)" if bad.sum() > 1 else ""
        raise PointsError(f"{what} {i} at ({x:g}, {y:g}) is outside {frame}{more}; {fix}")
