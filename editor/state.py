"""The editor's state logic as plain functions: points, display scaling, mask, latent history.

Nothing here knows about Gradio or torch; each function returns a new value and never
changes its input, so a handler can compute the next state, check it, and only then store it.

*Convention*: points are float (x, y), x right, y down, pixel centres at integer
coordinates. `_gen` = generator (= aligned crop) pixels, `_display` = pixels of the enlarged
image shown in the page (an integer enlargement `scale`, nearest neighbour, as
`pipeline.io.drawing.draw_points` draws it), `_photo` = photo pixels. The main canvas shows a
region of the photo (`PhotoView`): display pixel centre d shows photo point
x0 + (d + 0.5) * w / W - 0.5 (region width w photo px shown W display px wide), which for an
integer enlargement s is x0 + (d - (s - 1) / 2) / s, as for the generator image. Points are
kept in crop pixels (what the drag takes); the page shows and accepts photo pixels, mapped by
`pipeline.to_crop` / `pipeline.to_photo`, and the mask is painted on the photo view
(`mask_photo_from_strokes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from editor.errors import EditorError

__all__ = [
    "Clicks",
    "PhotoView",
    "add_click",
    "clear_clicks",
    "crop_click",
    "delete_pair",
    "display_from_gen",
    "display_from_photo",
    "gen_from_display",
    "history_push",
    "history_reset",
    "history_undo",
    "mask_photo_from_strokes",
    "pair_labels",
    "photo_from_display",
    "photo_view",
    "undo_click",
]

Point = tuple[float, float]


@dataclass(frozen=True)
class Clicks:
    """The clicked points in order: handle, target, handle, target, ... (generator pixels).

    Attributes:
        points: tuple of (x, y); even positions are handles, odd positions targets.
    """

    points: tuple[Point, ...] = ()

    @property
    def pending_handle(self) -> Point | None:
        """The last handle when it has no target yet, else None."""
        return self.points[-1] if len(self.points) % 2 else None

    @property
    def handles(self) -> np.ndarray:
        """(N, 2) float64 handles of the complete pairs."""
        n = len(self.points) // 2
        return np.asarray(self.points[0 : 2 * n : 2], dtype=np.float64).reshape(-1, 2)

    @property
    def targets(self) -> np.ndarray:
        """(N, 2) float64 targets of the complete pairs."""
        n = len(self.points) // 2
        return np.asarray(self.points[1 : 2 * n : 2], dtype=np.float64).reshape(-1, 2)

    def __len__(self) -> int:
        """Number of complete handle/target pairs."""
        return len(self.points) // 2


def gen_from_display(xy_display: tuple[float, float], scale: int, size: int) -> Point:
    """Map a click on the enlarged image to generator pixels (the inverse of `display_from_gen`).

    Nearest-neighbour enlargement by `scale` puts generator pixel centre c at display
    c * scale + (scale - 1) / 2, so c = (d - (scale - 1) / 2) / scale. The result is clipped
    to [0, size - 1], the range the drag accepts (the half pixel at the border is not addressable).

    Args:
        xy_display: (x, y) display pixels (Gradio's select index: integer, rounded).
        scale: integer enlargement >= 1.
        size: generator resolution R.

    Returns:
        (x, y) float generator pixels in [0, R - 1].
    """
    if scale < 1:
        raise EditorError(f"scale must be >= 1, got {scale}")
    offset = (scale - 1) * 0.5
    x, y = ((float(v) - offset) / scale for v in xy_display)
    return float(np.clip(x, 0.0, size - 1.0)), float(np.clip(y, 0.0, size - 1.0))


def display_from_gen(xy_gen: tuple[float, float], scale: int) -> Point:
    """Where generator pixel (x, y) lies on the enlarged image (display pixels)."""
    offset = (scale - 1) * 0.5
    return float(xy_gen[0]) * scale + offset, float(xy_gen[1]) * scale + offset


@dataclass(frozen=True)
class PhotoView:
    """The region of the photo the main canvas shows, and the size it is shown at.

    Attributes:
        box: (x0, y0, x1, y1) integer photo pixels, exclusive ends, inside the photo.
        width, height: the displayed image's size in display pixels.
    """

    box: tuple[int, int, int, int]
    width: int
    height: int

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy) display pixels per photo pixel."""
        x0, y0, x1, y1 = self.box
        return self.width / (x1 - x0), self.height / (y1 - y0)


def photo_view(
    corners_photo: np.ndarray,
    photo_shape: tuple[int, ...],
    margin: float = 0.15,
    target: int = 640,
    max_side: int = 1024,
) -> PhotoView:
    """The canvas region around a footprint (the aligned crop's corners on the photo).

    The region is the corners' bounding box grown by `margin` of its larger side on every
    side and clipped to the photo. It is shown at full resolution, enlarged by an integer
    factor (nearest neighbour) when its larger side is at most `target` / 2 so a small photo
    is not a stamp, and reduced to `max_side` when larger (a huge photo stays a light image).

    Args:
        corners_photo: (N, 2) float photo pixels (x, y), N >= 1.
        photo_shape: (H, W, ...) of the photo.
        margin: fraction of the box's larger side added on each side.
        target: an enlarged region's larger side is at most this (display pixels).
        max_side: a reduced region's larger side is this (display pixels).

    Returns:
        The `PhotoView`.
    """
    if target < 1 or max_side < 1:
        raise EditorError(f"display sizes must be >= 1, got target {target} and max_side {max_side}")
    h, w = int(photo_shape[0]), int(photo_shape[1])
    pts = np.asarray(corners_photo, dtype=np.float64).reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    grow = margin * float(max(hi - lo))
    x0 = int(np.clip(np.floor(lo[0] - grow), 0, w - 1))
    y0 = int(np.clip(np.floor(lo[1] - grow), 0, h - 1))
    x1 = int(np.clip(np.ceil(hi[0] + grow) + 1, x0 + 1, w))
    y1 = int(np.clip(np.ceil(hi[1] + grow) + 1, y0 + 1, h))
    side = max(x1 - x0, y1 - y0)
    if side > max_side:
        f = max_side / side
        return PhotoView((x0, y0, x1, y1), max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f)))
    s = max(1, target // side)
    return PhotoView((x0, y0, x1, y1), (x1 - x0) * s, (y1 - y0) * s)


def photo_from_display(xy_display, view: PhotoView) -> np.ndarray:
    """Map display pixels of the canvas to photo pixels (the inverse of `display_from_photo`).

    Args:
        xy_display: (x, y) or (N, 2) display pixels (Gradio's select index: integers).
        view: the canvas's `PhotoView`.

    Returns:
        float64 photo pixels, shaped like the input.
    """
    d = np.asarray(xy_display, dtype=np.float64)
    sx, sy = view.scale
    origin = np.array(view.box[:2], np.float64)
    return origin + (d + 0.5) / np.array([sx, sy]) - 0.5


def display_from_photo(xy_photo, view: PhotoView) -> np.ndarray:
    """Where photo pixel (x, y) (or (N, 2) points) lies on the canvas, in display pixels."""
    p = np.asarray(xy_photo, dtype=np.float64)
    sx, sy = view.scale
    origin = np.array(view.box[:2], np.float64)
    return (p - origin + 0.5) * np.array([sx, sy]) - 0.5


def add_click(clicks: Clicks, xy_gen: tuple[float, float], size: int) -> Clicks:
    """Append a point: a handle if the previous pair is complete, else that handle's target.

    Raises:
        EditorError: the point lies outside the R x R generator image or is not finite.
    """
    x, y = float(xy_gen[0]), float(xy_gen[1])
    if not (np.isfinite(x) and np.isfinite(y)) or not (0 <= x <= size - 1 and 0 <= y <= size - 1):
        raise EditorError(
            f"point ({x:g}, {y:g}) lies outside the {size}x{size} image; click inside it (x and y in [0, {size - 1}])"
        )
    return Clicks(clicks.points + ((x, y),))


def crop_click(xy_crop, size: int, xy_photo=None) -> Point:
    """A point mapped into the crop (clicked or typed on the photo) as a point the drag accepts.

    A point on the crop's footprint (within [-0.5, R - 0.5], the border half pixel included)
    is clipped into [0, R - 1]; one outside it is refused.

    Args:
        xy_crop: (x, y) float crop (generator) pixels.
        size: generator resolution R.
        xy_photo: (x, y) the same point in photo pixels, named in the message; None = not known.

    Returns:
        (x, y) float in [0, R - 1].

    Raises:
        EditorError: the point lies outside the crop or is not finite.
    """
    x, y = float(xy_crop[0]), float(xy_crop[1])
    if not (np.isfinite(x) and np.isfinite(y)) or not (-0.5 <= x <= size - 0.5 and -0.5 <= y <= size - 0.5):
        where = "" if xy_photo is None else f"photo ({float(xy_photo[0]):.1f}, {float(xy_photo[1]):.1f}), "
        raise EditorError(
            f"that point lies outside the edited region ({where}crop ({x:.1f}, {y:.1f}) of {size}x{size}); "
            "click or type a point inside the green outline on the photo"
        )
    return float(np.clip(x, 0.0, size - 1.0)), float(np.clip(y, 0.0, size - 1.0))


def undo_click(clicks: Clicks) -> Clicks:
    """Remove the last point (a pending handle, or the target of the last pair)."""
    return Clicks(clicks.points[:-1])


def delete_pair(clicks: Clicks, index: int) -> Clicks:
    """Remove pair `index` (0-based; a pending handle counts as the last pair).

    Raises:
        EditorError: no such pair.
    """
    count = (len(clicks.points) + 1) // 2
    if not 0 <= index < count:
        raise EditorError(f"there is no pair {index + 1}; choose one of 1..{count}" if count else "there are no points")
    return Clicks(clicks.points[: 2 * index] + clicks.points[2 * index + 2 :])


def clear_clicks(clicks: Clicks) -> Clicks:  # noqa: ARG001 - same signature as the other edits
    """Remove every point."""
    return Clicks()


def pair_labels(clicks: Clicks, to_shown=None) -> list[str]:
    """One line per pair for the pair list, e.g. 'pair 1: (12.0, 30.0) -> (20.0, 30.0)'.

    Args:
        clicks: the points (crop pixels).
        to_shown: maps (N, 2) crop pixels to the frame the list shows (the editor passes
            `pipeline.to_photo`, so the list shows photo pixels); None = crop pixels.
    """
    points = np.asarray(clicks.points, dtype=np.float64).reshape(-1, 2)
    if to_shown is not None and len(points):
        points = np.asarray(to_shown(points), dtype=np.float64).reshape(-1, 2)
    labels = []
    for i in range(0, len(points), 2):
        h = points[i]
        text = f"pair {i // 2 + 1}: ({h[0]:.1f}, {h[1]:.1f}) -> "
        text += f"({points[i + 1][0]:.1f}, {points[i + 1][1]:.1f})" if i + 1 < len(points) else "(click the target)"
        labels.append(text)
    return labels


def mask_photo_from_strokes(
    strokes: np.ndarray | None, view: PhotoView, photo_shape: tuple[int, ...], mode: str
) -> np.ndarray | None:
    """Turn brush strokes painted on the canvas (the photo view) into a photo-sized mask.

    The result is the mask `run_pipeline.py --mask` reads (`pipeline.load_mask`), so
    `pipeline.mask_to_crop` takes it into the crop as it takes the CLI's. A photo pixel of
    `view.box` counts as painted when at least half of its area on the canvas is painted
    (a box filter, the one `editor.view` reduces a large photo with); pixels outside the
    view are unpainted.

    Args:
        strokes: (view.height, view.width) or (view.height, view.width, C) array of the brush
            layer (alpha in channel 3 when C == 4, else any non-zero value), or None.
        view: the canvas's `PhotoView` the strokes were painted on.
        photo_shape: (H, W, ...) of the photo.
        mode: 'flexible' (painted area may move) or 'fixed' (painted area is kept).

    Returns:
        bool (H, W), True = may move; None when nothing is painted.

    Raises:
        EditorError: unknown mode, a layer that is not the canvas's size, or a mask that
            leaves nothing free to move.
    """
    if mode not in ("flexible", "fixed"):
        raise EditorError(f"mask mode must be 'flexible' or 'fixed', got {mode!r}")
    if strokes is None:
        return None
    a = np.asarray(strokes)
    if a.ndim == 3:
        a = a[..., 3] if a.shape[2] == 4 else a.max(axis=2)
    if a.shape[:2] != (view.height, view.width):
        raise EditorError(
            f"the mask layer is {a.shape[1]}x{a.shape[0]}, not the photo view's {view.width}x{view.height}; "
            "clear the mask and paint it again"
        )
    painted = (a > 0).astype(np.float32)
    if not painted.any():
        return None
    x0, y0, x1, y1 = view.box
    coverage = np.asarray(Image.fromarray(painted).resize((x1 - x0, y1 - y0), Image.BOX))
    movable = np.zeros(tuple(int(n) for n in photo_shape[:2]), bool)
    movable[y0:y1, x0:x1] = coverage >= 0.5
    if mode == "fixed":
        movable = ~movable
    if not movable.any():
        raise EditorError("the mask leaves no pixel free to move; paint a smaller area or switch the mask mode")
    return movable


def history_push(history: tuple, item) -> tuple:
    """Append a latent (the state after a drag) to the history."""
    return tuple(history) + (item,)


def history_undo(history: tuple) -> tuple:
    """Drop the last drag; the first entry (the inverted original) is never dropped.

    Raises:
        EditorError: there is no drag to undo.
    """
    if len(history) <= 1:
        raise EditorError("there is no drag to undo")
    return tuple(history[:-1])


def history_reset(history: tuple) -> tuple:
    """Back to the inverted original (the first entry)."""
    return tuple(history[:1])
