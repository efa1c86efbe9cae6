"""What the page shows for a `Session`: images with points, faces and mask drawn, and texts.

Functions return {component: value} dicts for the `ui.Page` components they update.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

import pipeline as pl
from editor.session import DragUpdate, Session
from editor.state import pair_labels

__all__ = ["canvas_image", "drag_frame", "face_number", "full", "mask_editor", "photo_overlay", "points"]

_FACE_RGB = (255, 200, 0)  # detected faces
_CHOSEN_RGB = (40, 220, 90)  # the face (or box) being edited
_FIXED_SHADE = 0.45  # darken the fixed region of the mask by this factor in the overlay


def face_number(session: Session) -> int | None:
    """The chosen face's number as drawn on the photo (0 = largest, as --face-index), None if none."""
    a = session.alignment
    if a is None or a.face_box is None or a.face_box not in a.all_face_boxes:
        return None
    return list(a.all_face_boxes).index(a.face_box)


def photo_overlay(session: Session) -> np.ndarray | None:
    """The photo with every detected face outlined and numbered (the chosen one in green), or the box."""
    if session.photo is None:
        return None
    image = Image.fromarray(session.photo)
    draw = ImageDraw.Draw(image)
    a = session.alignment
    width = max(2, max(image.size) // 250)
    if a is not None:
        for i, box in enumerate(a.all_face_boxes):
            colour = _CHOSEN_RGB if box == a.face_box else _FACE_RGB
            draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=colour, width=width)
            draw.text((box[0] + width + 2, box[1] + width + 2), str(i), fill=colour)
        # The crop's outline in the photo: where edits can happen.
        r = a.size - 0.5
        corners = pl.to_photo(np.array([[-0.5, -0.5], [r, -0.5], [r, r], [-0.5, r], [-0.5, -0.5]]), a)
        draw.line([tuple(p) for p in corners], fill=_CHOSEN_RGB, width=max(1, width // 2))
    return np.asarray(image)


def canvas_image(session: Session, image: np.ndarray | None = None, handles: np.ndarray | None = None) -> np.ndarray:
    """The editing image, enlarged, with handles (red), targets (blue), arrows and the mask overlay."""
    image = session.history[-1].image if image is None else image
    size = session.model.size
    scale = pl.display_scale(size)
    clicks = session.clicks
    if handles is None:
        handles = clicks.handles
        if clicks.pending_handle is not None:
            handles = np.concatenate([handles, np.asarray([clicks.pending_handle])])
    if session.mask_crop is not None:
        shade = np.where(session.mask_crop[..., None] > 0, 1.0, _FIXED_SHADE)
        image = (image.astype(np.float32) * shade).round().astype(np.uint8)
    return pl.draw_points(image, handles, clicks.targets, arrows=True, scale=scale)


def _points_json(session: Session) -> dict:
    c = session.clicks
    return {
        "size": session.model.size,
        "handles": c.handles.tolist(),
        "targets": c.targets.tolist(),
        "pending_handle": None if c.pending_handle is None else list(c.pending_handle),
        "mask_fraction": None if session.mask_crop is None else float(session.mask_crop.mean()),
        "drags": max(0, len(session.history) - 1),
    }


def points(page, session: Session, message: str) -> dict:
    """Canvas, point list and status after a change of points or mask."""
    labels = pair_labels(session.clicks)
    return {
        page.canvas: canvas_image(session) if session.history else None,
        page.points_json: _points_json(session),
        page.pairs: page.pairs_update(labels),
        page.status: message,
    }


def mask_editor(page, session: Session) -> dict:
    """The mask brush canvas, reset to the current image (enlarged like the editing image)."""
    if not session.history:
        return {page.mask_editor: None}
    scale = pl.display_scale(session.model.size)
    background = pl.draw_points(session.history[-1].image, None, None, scale=scale)
    return {page.mask_editor: {"background": background, "layers": [], "composite": background}}


def drag_frame(page, session: Session, update: DragUpdate) -> dict:
    """A live preview frame: tracked handles, targets and the step / distance line."""
    return {page.canvas: canvas_image(session, update.image, update.handles_crop), page.status: update.message}


def _metrics_text(session: Session) -> str:
    m = session.metrics or {}
    if not m:
        return ""
    psnr, lpips = m.get("psnr"), m.get("lpips")
    psnr_text = "inf" if psnr is None or not np.isfinite(psnr) else f"{psnr:.2f} dB"
    lpips_text = "n/a" if lpips is None else f"{lpips:.4f}"
    return f"**Reconstruction**: PSNR {psnr_text}, LPIPS {lpips_text}" + (
        " (inversion cache hit)" if session.cache_hit else ""
    )


def full(page, session: Session, message: str) -> dict:
    """Every output: photo, crop / reconstruction, metrics, canvas, points, mask, result and downloads."""
    a = session.alignment
    out = {
        page.photo_view: photo_overlay(session),
        page.aligned: None if a is None else pl.draw_points(a.crop, None, None, scale=pl.display_scale(a.size)),
        page.reconstruction: None
        if not session.history
        else pl.draw_points(session.history[0].image, None, None, scale=pl.display_scale(session.model.size)),
        page.metrics: _metrics_text(session),
        page.original: session.photo,
        page.edited: None,
        page.files: [str(p) for p in session.outputs] or None,
    }
    if session.outputs:
        out[page.edited] = np.asarray(Image.open(next(p for p in session.outputs if p.name == "edited.png")))
    out.update(points(page, session, message))
    out.update(mask_editor(page, session))
    return out
