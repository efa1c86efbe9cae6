"""What the page shows for a `Session`: images with points, faces and mask drawn, and texts.

The main canvas is the photo at full resolution around the chosen face (`canvas_view`), with
the edit composited as the CLI writes it; the generator's crop is a secondary view. Functions
return {component: value} dicts for the `ui.Page` components they update.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

import pipeline as pl
from editor.session import Session
from editor.state import PhotoView, display_from_photo, pair_labels, photo_view
from editor.steps import DragUpdate

__all__ = [
    "canvas_image",
    "canvas_view",
    "crop_image",
    "crop_outline_photo",
    "drag_frame",
    "face_number",
    "full",
    "mask_editor",
    "photo_overlay",
    "points",
]

_FACE_RGB = (255, 200, 0)  # detected faces
_CHOSEN_RGB = (40, 220, 90)  # the face (or box) being edited
_FIXED_SHADE = 0.45  # darken the fixed region of the mask by this factor in the overlay


def face_number(session: Session) -> int | None:
    """The chosen face's number as drawn on the photo (0 = largest, as --face-index), None if none."""
    a = session.alignment
    if a is None or a.face_box is None or a.face_box not in a.all_face_boxes:
        return None
    return list(a.all_face_boxes).index(a.face_box)


def crop_outline_photo(alignment) -> np.ndarray:
    """(5, 2) photo pixels: the aligned crop's outline (its pixels' outer edges), closed."""
    r = alignment.size - 0.5
    return pl.to_photo(np.array([[-0.5, -0.5], [r, -0.5], [r, r], [-0.5, r], [-0.5, -0.5]]), alignment)


def canvas_view(session: Session) -> PhotoView:
    """The region of the photo the main canvas shows: the aligned crop's footprint with a margin."""
    return photo_view(crop_outline_photo(session.alignment), session.photo.shape)


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
        corners = crop_outline_photo(a)
        draw.line([tuple(p) for p in corners], fill=_CHOSEN_RGB, width=max(1, width // 2))
    return np.asarray(image)


def _shown_handles(session: Session, handles: np.ndarray | None) -> np.ndarray:
    """The handles to draw (crop px): `handles`, else the clicked ones and a pending handle."""
    if handles is not None:
        return handles
    clicks = session.clicks
    if clicks.pending_handle is None:
        return clicks.handles
    return np.concatenate([clicks.handles, np.asarray([clicks.pending_handle])])


def _shade_fixed_photo(region: np.ndarray, box: tuple[int, int, int, int], session: Session) -> np.ndarray:
    """Darken the region's photo pixels the mask fixes (painted on the photo, else via the nearest crop pixel)."""
    x0, y0, x1, y1 = box
    if session.mask_photo is not None:
        shade = np.where(session.mask_photo[y0:y1, x0:x1, None], 1.0, _FIXED_SHADE)
        return (region.astype(np.float32) * shade).round().astype(np.uint8)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    crop = pl.to_crop(np.stack([xs.ravel(), ys.ravel()], axis=1), session.alignment)
    ix, iy = np.rint(crop).astype(np.int64).T
    size = session.mask_crop.shape[0]
    inside = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    fixed = np.zeros(ix.shape, bool)
    fixed[inside] = session.mask_crop[iy[inside], ix[inside]] <= 0.5
    shade = np.where(fixed.reshape(region.shape[:2])[..., None], _FIXED_SHADE, 1.0)
    return (region.astype(np.float32) * shade).round().astype(np.uint8)


def _shown_region(region: np.ndarray, view: PhotoView) -> np.ndarray:
    """uint8 (view.height, view.width, 3): the view's photo region as the canvas shows it, without marks."""
    x0, y0, x1, y1 = view.box
    sx = view.width // (x1 - x0)
    if sx * (x1 - x0) == view.width:  # an integer enlargement (nearest), as `draw_points` enlarges
        return pl.draw_points(region, None, None, scale=sx)
    return np.asarray(Image.fromarray(region).resize((view.width, view.height), Image.BOX))


def _outlined(shown: np.ndarray, outline_photo: np.ndarray, view: PhotoView) -> np.ndarray:
    """`shown` (the view's display pixels) with a photo-pixel polyline (the crop's outline) drawn in green."""
    image = Image.fromarray(shown)
    outline = display_from_photo(outline_photo, view)
    ImageDraw.Draw(image).line([tuple(p) for p in outline], fill=_CHOSEN_RGB, width=max(1, max(image.size) // 400))
    return np.asarray(image)


def view_image(
    region: np.ndarray,
    view: PhotoView,
    handles_photo: np.ndarray | None,
    targets_photo: np.ndarray | None,
    outline_photo: np.ndarray | None = None,
) -> np.ndarray:
    """A photo view as a canvas shows it: the region enlarged (or reduced), points, an outline.

    Args:
        region: uint8 (h, w, 3), the photo's pixels inside `view.box`.
        view: the region and display size (`editor.state.photo_view`).
        handles_photo, targets_photo: (N, 2) photo px, or None.
        outline_photo: (K, 2) photo px polyline (the crop's outline), or None.

    Returns:
        uint8 (view.height, view.width, 3) RGB.
    """
    x0, y0, x1, y1 = view.box
    sx = view.width // (x1 - x0)
    if sx * (x1 - x0) == view.width:  # an integer enlargement: draw_points enlarges (nearest)
        origin = np.array([x0, y0], np.float64)

        def shown(points):
            return None if points is None else np.asarray(points, np.float64) - origin

        image = pl.draw_points(region, shown(handles_photo), shown(targets_photo), arrows=True, scale=sx)
    else:  # a reduced view of a big photo

        def shown(points):
            return None if points is None else display_from_photo(points, view)

        image = pl.draw_points(_shown_region(region, view), shown(handles_photo), shown(targets_photo), arrows=True)
    return image if outline_photo is None else _outlined(image, outline_photo, view)


def canvas_image(session: Session, photo: np.ndarray | None = None, handles: np.ndarray | None = None) -> np.ndarray:
    """The main canvas: the photo around the face (`canvas_view`), points, crop outline and mask.

    Args:
        session: the tab (its alignment, clicks and mask are drawn).
        photo: uint8 (H, W, 3) the photo to show (a live composite); None = `Session.edited_photo`.
        handles: (N, 2) crop px handles to draw (tracked ones during a drag); None = the clicks.

    Returns:
        uint8 (view.height, view.width, 3) RGB.
    """
    photo = session.edited_photo() if photo is None else photo
    view = canvas_view(session)
    x0, y0, x1, y1 = view.box
    region = photo[y0:y1, x0:x1]
    if session.mask_crop is not None:
        region = _shade_fixed_photo(region, view.box, session)
    a = session.alignment
    handles_photo = pl.to_photo(_shown_handles(session, handles), a)
    targets_photo = pl.to_photo(session.clicks.targets, a)
    return view_image(region, view, handles_photo, targets_photo, crop_outline_photo(a))


def crop_image(session: Session, image: np.ndarray | None = None, handles: np.ndarray | None = None) -> np.ndarray:
    """The generator's crop (secondary view), enlarged, with the points and the mask overlay."""
    image = session.history[-1].image if image is None else image
    scale = pl.display_scale(session.model.size)
    clicks = session.clicks
    handles = _shown_handles(session, handles)
    if session.mask_crop is not None:
        shade = np.where(session.mask_crop[..., None] > 0, 1.0, _FIXED_SHADE)
        image = (image.astype(np.float32) * shade).round().astype(np.uint8)
    return pl.draw_points(image, handles, clicks.targets, arrows=True, scale=scale)


def _points_json(session: Session) -> dict:
    c, a = session.clicks, session.alignment
    return {
        "size": session.model.size,
        "handles": c.handles.tolist(),
        "targets": c.targets.tolist(),
        "handles_photo": None if a is None else pl.to_photo(c.handles, a).tolist(),
        "targets_photo": None if a is None else pl.to_photo(c.targets, a).tolist(),
        "pending_handle": None if c.pending_handle is None else list(c.pending_handle),
        "pending_handle_photo": None
        if a is None or c.pending_handle is None
        else pl.to_photo(np.asarray([c.pending_handle]), a)[0].tolist(),
        "mask_fraction": None if session.mask_crop is None else float(session.mask_crop.mean()),
        "drags": max(0, len(session.history) - 1),
    }


def points(page, session: Session, message: str) -> dict:
    """Canvas, crop view, point list (photo pixels) and status after a change of points or mask."""
    a = session.alignment
    labels = pair_labels(session.clicks, None if a is None else lambda p: pl.to_photo(p, a))
    return {
        page.canvas: canvas_image(session) if session.history else None,
        page.points_json: _points_json(session),
        page.pairs: page.pairs_update(labels),
        page.crop_view: crop_image(session) if session.history else None,
        page.status: message,
    }


def mask_editor(page, session: Session) -> dict:
    """The mask brush canvas, reset to the current photo as the main canvas shows it (`canvas_view`).

    Strokes painted on it are in that view's display pixels (`editor.state.mask_photo_from_strokes`).
    """
    if not session.history:
        return {page.mask_editor: None}
    view = canvas_view(session)
    x0, y0, x1, y1 = view.box
    background = _outlined(
        _shown_region(session.edited_photo()[y0:y1, x0:x1], view), crop_outline_photo(session.alignment), view
    )
    return {page.mask_editor: {"background": background, "layers": [], "composite": background}}


def drag_frame(page, session: Session, update: DragUpdate) -> dict:
    """A live preview frame: the composited photo (when `update` has one), the crop with tracked handles, the step."""
    out = {page.crop_view: crop_image(session, update.image, update.handles_crop), page.status: update.message}
    if update.photo is not None:  # else the canvas keeps its last composite (`editor.preview`'s budget)
        out[page.canvas] = canvas_image(session, update.photo, update.handles_crop)
    return out


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
