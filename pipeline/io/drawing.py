"""Drawing drag points on crops: handles, targets, arrows, the before | after comparison, side by side.

*Convention*: points are float (x, y) in pixels of the image they are drawn on (before any
enlargement), x right, y down, pixel centres at integer coordinates.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "HANDLE_RGB",
    "TARGET_RGB",
    "ARROW_RGB",
    "MIN_DISPLAY",
    "display_scale",
    "draw_points",
    "comparison_image",
    "side_by_side",
]

HANDLE_RGB = (230, 40, 40)  # red: handles (where points start / are now)
TARGET_RGB = (40, 110, 255)  # blue: targets
ARROW_RGB = (255, 255, 255)  # white arrow handle -> target, drawn over a dark outline
MIN_DISPLAY = 512  # small crops (e.g. 64 px) are enlarged to about this size for viewing


def display_scale(size: int) -> int:
    """Integer enlargement for viewing a size x size crop: small crops get bigger (64 -> x8)."""
    return max(1, int(math.ceil(MIN_DISPLAY / max(1, size))) if size < MIN_DISPLAY else 1)


def _enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return np.ascontiguousarray(image).copy()
    return cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_NEAREST)


def _to_display(points: np.ndarray, scale: int) -> np.ndarray:
    # Pixel centres at integer coordinates: pixel centre c of the original lands at
    # c * scale + (scale - 1) / 2 after a nearest-neighbour enlargement.
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) * scale + (scale - 1) * 0.5


def draw_points(
    image: np.ndarray, handles: np.ndarray | None, targets: np.ndarray | None, arrows: bool = True, scale: int = 1
) -> np.ndarray:
    """Draw handles (red dots), targets (blue rings) and handle -> target arrows on an enlarged copy.

    *Convention*: points are (x, y) pixels of `image` (before enlargement), x right, y
    down, pixel centres at integer coordinates.

    Args:
        image: uint8 (H, W, 3) RGB (not modified).
        handles, targets: (N, 2) float or None.
        arrows: draw an arrow from each handle to its target.
        scale: integer enlargement applied first (nearest neighbour).

    Returns:
        uint8 (H * scale, W * scale, 3) RGB.
    """
    canvas = _enlarge(np.asarray(image, dtype=np.uint8), scale)
    side = max(canvas.shape[:2])
    radius = max(3, side // 100)
    thickness = max(1, side // 300)
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px

    def fx(p: np.ndarray) -> tuple[int, int]:
        return int(round(p[0] * (1 << shift))), int(round(p[1] * (1 << shift)))

    h = None if handles is None else _to_display(handles, scale)
    t = None if targets is None else _to_display(targets, scale)
    # Targets are rings and handles dots, and the arrow is drawn between them, so that even a
    # short drag shows where it goes.
    if t is not None:
        for p in t:
            cv2.circle(canvas, fx(p), radius << shift, (0, 0, 0), thickness + 3, cv2.LINE_AA, shift)
            cv2.circle(canvas, fx(p), radius << shift, TARGET_RGB, thickness + 1, cv2.LINE_AA, shift)
    if arrows and h is not None and t is not None:
        for a, b in zip(h, t):
            length = float(np.hypot(*(b - a)))
            tip = min(0.5, 2.0 * radius / length) if length > 0 else 0.3
            cv2.arrowedLine(canvas, fx(a), fx(b), (0, 0, 0), thickness + 2, cv2.LINE_AA, shift, tip)
            cv2.arrowedLine(canvas, fx(a), fx(b), ARROW_RGB, thickness, cv2.LINE_AA, shift, tip)
    if h is not None:
        small = max(2, (radius * 2) // 3)
        for p in h:
            cv2.circle(canvas, fx(p), small << shift, (0, 0, 0), thickness + 2, cv2.LINE_AA, shift)
            cv2.circle(canvas, fx(p), small << shift, HANDLE_RGB, -1, cv2.LINE_AA, shift)
    return canvas


def comparison_image(
    before: np.ndarray,
    after: np.ndarray,
    handles_before: np.ndarray,
    targets: np.ndarray,
    handles_after: np.ndarray,
    gap: int = 8,
) -> np.ndarray:
    """Side-by-side crop before | after, with handle -> target arrows on both.

    Args:
        before: uint8 (R, R, 3), the aligned crop (what the user pointed at).
        after: uint8 (R, R, 3), the edited crop.
        handles_before: (N, 2) handle points in crop pixels, as given.
        targets: (N, 2) target points in crop pixels.
        handles_after: (N, 2) final tracked handle points in crop pixels.
        gap: white pixels between the panels (after enlargement).

    Returns:
        uint8 (R*s, 2*R*s + gap, 3) RGB with s = `display_scale(R)`.
    """
    scale = display_scale(before.shape[0])
    left = draw_points(before, handles_before, targets, arrows=True, scale=scale)
    right = draw_points(after, handles_after, targets, arrows=True, scale=scale)
    return side_by_side(left, right, gap)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 0) -> np.ndarray:
    """Two images of the same height next to each other, `gap` white columns between them.

    Args:
        left: uint8 (H, W1, 3).
        right: uint8 (H, W2, 3).
        gap: white columns between the two (>= 0).

    Returns:
        uint8 (H, W1 + gap + W2, 3). (Video frames: keep W1 + gap + W2 even for yuv420p.)
    """
    if left.shape[0] != right.shape[0] or left.shape[2:] != right.shape[2:]:
        raise ValueError(
            f"side_by_side needs images of the same height and channels, got {left.shape} and {right.shape}"
        )
    spacer = np.full((left.shape[0], gap, *left.shape[2:]), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)
