"""Event handlers: page inputs -> `Session` calls -> page outputs, with errors shown in the page.

Each handler finds the tab's `Session` from Gradio's session hash, so tabs never share
state. Bad input (`DragPipelineError`, `ValueError`, `OSError`) becomes a `gr.Error` whose
one-line message the page shows; any other exception is logged with its traceback on the
server and shown as one line, and the app keeps serving.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time

import gradio as gr
import numpy as np

import pipeline as pl
from editor import view
from editor.app import EditorApp
from editor.errors import EditorError
from editor.settings import EditorSettings, advanced_labels
from editor.state import (
    add_click,
    clear_clicks,
    crop_click,
    delete_pair,
    mask_photo_from_strokes,
    photo_from_display,
    undo_click,
)

__all__ = ["SETTING_NAMES", "Handlers", "bind", "settings_from"]

log = logging.getLogger("editor")

# The settings inputs, in the order the UI passes them (see ui.py).
SETTING_NAMES = (
    "align_mode",
    "box",
    "face_index",
    "inversion_method",
    "steps",
    "drag_steps",
    "lr",
    "stop_distance",
    "w_space",
    "r1",
    "r2",
    "feature_res",
    "lambda_mask",
    "seed",
)


def _message(exc: BaseException) -> str:
    return " ".join((str(exc).strip() or type(exc).__name__).split())


def _friendly(fn):
    """Turn exceptions into a one-line `gr.Error` (generators too); never a traceback in the page."""

    def convert(exc: BaseException) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        if isinstance(exc, (pl.DragPipelineError, ValueError, OSError)):
            return gr.Error(_message(exc), print_exception=False)
        log.exception("editor: unexpected error in %s", fn.__name__)
        return gr.Error(
            f"internal error ({type(exc).__name__}: {_message(exc)}); the editor keeps running", print_exception=False
        )

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown in the page
                raise convert(exc) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown in the page
            raise convert(exc) from None

    return wrapper


def _num(value, kind=float):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return kind(value)


def settings_from(v: dict) -> EditorSettings:
    """`EditorSettings` from the page's settings inputs ({name in `SETTING_NAMES`: value}); blanks = default."""
    box = None
    if v["align_mode"] == "box":
        text = (v["box"] or "").replace(" ", "")
        try:
            box = tuple(float(p) for p in text.split(","))
        except ValueError:
            raise EditorError(f"box must be x0,y0,x1,y1 in photo pixels, got {v['box']!r}") from None
        if len(box) != 4:
            raise EditorError("box mode needs a box: type x0,y0,x1,y1 or click two corners on the photo")
    return EditorSettings(
        align_mode=v["align_mode"],
        box=box,
        face_index=_num(v["face_index"], int),
        inversion_method=v["inversion_method"],
        steps=_num(v["steps"], int),
        drag_steps=_num(v["drag_steps"], int),
        lr=_num(v["lr"]),
        stop_distance=_num(v["stop_distance"]),
        w_space=v["w_space"] or None,
        r1=_num(v["r1"]),
        r2=_num(v["r2"]),
        feature_res=_num(v["feature_res"], int),
        lambda_mask=_num(v["lambda_mask"]),
        seed=_num(v["seed"], int) or 0,
    )


def bind(method, names: list[str], select: bool = False, progress: bool = False):
    """A Gradio event function with named parameters `names` (+ SelectData, Request, Progress).

    Gradio finds the special arguments from the signature and the annotations, and the API
    shows `names` as the endpoint's parameters; `method(values, [evt,] request[, progress])`
    receives the inputs as {name: value}.
    """
    n = len(names)
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    annotations: dict = {"request": gr.Request}
    if select:
        params.append(inspect.Parameter("evt", inspect.Parameter.POSITIONAL_OR_KEYWORD))
        annotations["evt"] = gr.SelectData
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD))
    if progress:
        params.append(
            inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress(track_tqdm=True))
        )

    if inspect.isgeneratorfunction(method):

        def fn(*args, **kwargs):
            yield from method(dict(zip(names, args[:n])), *args[n:], **kwargs)
    else:

        def fn(*args, **kwargs):
            return method(dict(zip(names, args[:n])), *args[n:], **kwargs)

    fn.__name__ = method.__name__
    fn.__signature__ = inspect.Signature(params)
    fn.__annotations__ = annotations
    return fn


class Handlers:
    """The page's event functions, bound to one `EditorApp` and the page's components (`ui.Page`)."""

    def __init__(self, app: EditorApp, page):
        self.app, self.page = app, page

    def _session(self, request: gr.Request, values: dict | None = None):
        session = self.app.session(request.session_hash or "anonymous")
        if values is not None:
            session.settings = settings_from(values)
        return session

    # --- model, photo, seed, inversion -----------------------------------------------------------
    @_friendly
    def choose_model(self, name, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        session = self._session(request)
        model = self.app.model(name)
        session.use_model(model)
        # The advanced settings' "blank = ..." follow the model (face-64's radii are not FFHQ-512's).
        labels = {getattr(self.page, k): gr.update(label=v) for k, v in advanced_labels(model, self.app.server).items()}
        return labels | view.full(self.page, session, f"model {model.label} ({model.size} px) loaded")

    @_friendly
    def upload(self, values: dict, request: gr.Request):
        session = self._session(request, values)
        path = values["photo"]
        if not path:
            raise EditorError("no file received; drop a photo (JPEG, PNG, ...) on the upload box")
        session.set_photo(path, self.app.max_upload_bytes)
        n = len(session.alignment.all_face_boxes)
        found = f"; {n} face(s) found, face {view.face_number(session)} selected" if n else ""
        return view.full(self.page, session, f"photo {session.photo_name} aligned ({session.alignment.kind}){found}")

    @_friendly
    def realign(self, values: dict, request: gr.Request):
        session = self._session(request, values)
        if session.photo is None:  # settings chosen before the upload apply to it
            return {self.page.status: f"crop mode {session.settings.align_mode}; now upload a photo"}
        session.align()
        return view.full(self.page, session, "crop updated; press Invert")

    @_friendly
    def pick_on_photo(self, values: dict, evt: gr.SelectData, request: gr.Request):
        """A click on the photo: in face mode choose the face under it; in box mode set a corner."""
        session = self._session(request, values)
        if session.photo is None or evt.index is None:
            raise EditorError("upload a photo first")
        x, y = float(evt.index[0]), float(evt.index[1])
        page = self.page
        if session.settings.align_mode == "face":
            boxes = session.alignment.all_face_boxes if session.alignment is not None else ()
            hits = [i for i, b in enumerate(boxes) if b[0] <= x < b[2] and b[1] <= y < b[3]]
            if not hits:
                raise EditorError("no detected face under that click; click inside a numbered box")
            return {page.face_index: hits[0]}
        if session.settings.align_mode == "box":
            corner = session.__dict__.setdefault("_box_corner", None)
            if corner is None:
                session._box_corner = (x, y)
                return {page.status: f"box corner ({x:.0f}, {y:.0f}); click the opposite corner"}
            session._box_corner = None
            x0, x1 = sorted((corner[0], x))
            y0, y1 = sorted((corner[1], y))
            return {page.box: f"{x0:.0f},{y0:.0f},{x1 + 1:.0f},{y1 + 1:.0f}"}
        return {page.status: "centre mode crops the middle of the photo; choose face or box to pick a region"}

    @_friendly
    def invert(self, values: dict, request: gr.Request, progress=None):
        session = self._session(request, values)
        if progress is not None:
            progress(0, desc="inverting")
        session.invert()
        cached = " (from the inversion cache)" if session.cache_hit else ""
        return view.full(
            self.page,
            session,
            f"inverted with {session.config.inversion_method}{cached}; click a handle, then its target",
        )

    @_friendly
    def seed(self, values: dict, request: gr.Request):
        session = self._session(request, values)
        seed, psi = values["seed_value"], values["psi"]
        session.start_from_seed(int(seed or 0), float(psi))
        return view.full(self.page, session, f"generated seed {int(seed or 0)}; click a handle, then its target")

    # --- points and mask -------------------------------------------------------------------------
    def _edit_clicks(self, request, change, message):
        session = self._session(request)
        if session.busy:
            raise EditorError("a drag is running; press Stop first")
        if not session.history:
            raise EditorError("invert a photo or generate from a seed first")
        with session.lock:
            session.clicks = change(session.clicks)
        return view.points(self.page, session, message)

    def _add_photo_point(self, request, xy_photo) -> dict:
        """Add a point given in photo pixels: photo -> crop (`pipeline.to_crop`), a handle or its target."""
        session = self._session(request)
        if not session.history:
            raise EditorError("invert a photo or generate from a seed first")
        size = session.model.size
        xy_photo = np.asarray(xy_photo, dtype=np.float64)
        xy = crop_click(pl.to_crop(xy_photo[None], session.alignment)[0], size, xy_photo)
        message = f"point at ({xy_photo[0]:.1f}, {xy_photo[1]:.1f}) photo px, ({xy[0]:.1f}, {xy[1]:.1f}) crop px"
        return self._edit_clicks(request, lambda c: add_click(c, xy, size), message)

    @_friendly
    def click_canvas(self, evt: gr.SelectData, request: gr.Request):
        """A click on the photo: display -> photo pixels (`photo_from_display`), then as a typed point.

        The x / y boxes then show the click in photo pixels (to 0.01 px).
        """
        session = self._session(request)
        if evt.index is None:
            raise EditorError("click inside the image")
        if not session.history:
            raise EditorError("invert a photo or generate from a seed first")
        xy_photo = photo_from_display(evt.index, view.canvas_view(session))
        out = self._add_photo_point(request, xy_photo)
        return out | {self.page.x: round(float(xy_photo[0]), 2), self.page.y: round(float(xy_photo[1]), 2)}

    @_friendly
    def add_point(self, x, y, request: gr.Request):
        """Add a point typed in photo pixels of the uploaded photo (also the API's way to click)."""
        if x is None or y is None:
            raise EditorError("type both x and y (photo pixels)")
        return self._add_photo_point(request, (float(x), float(y)))

    @_friendly
    def undo_point(self, request: gr.Request):
        return self._edit_clicks(request, undo_click, "last point removed")

    @_friendly
    def clear_points(self, request: gr.Request):
        return self._edit_clicks(request, clear_clicks, "all points cleared")

    @_friendly
    def delete_pair(self, label, request: gr.Request):
        if not label:
            raise EditorError("choose a pair in the list first")
        index = int(str(label).split(":")[0].split()[-1]) - 1
        return self._edit_clicks(request, lambda c: delete_pair(c, index), f"pair {index + 1} deleted")

    @_friendly
    def apply_mask(self, editor_value, mode, request: gr.Request):
        session = self._session(request)
        if not session.history:
            raise EditorError("invert a photo or generate from a seed first")
        layers = (editor_value or {}).get("layers") or []
        strokes = None
        for layer in layers:
            if layer is None:
                continue
            a = np.asarray(layer)
            strokes = a if strokes is None else np.maximum(strokes, a)
        # Painted on the photo view: photo pixels, into the crop as run_pipeline.py --mask goes.
        session.set_mask(mask_photo_from_strokes(strokes, view.canvas_view(session), session.photo.shape, mode))
        mask = session.mask_crop
        message = (
            "no mask painted: the whole image may move"
            if mask is None
            else f"mask set: {mask.mean() * 100:.0f}% of the crop may move"
        )
        return view.points(self.page, session, message)

    @_friendly
    def clear_mask(self, request: gr.Request):
        session = self._session(request)
        session.set_mask(None)
        return view.points(self.page, session, "mask cleared: the whole image may move") | view.mask_editor(
            self.page, session
        )

    # --- drag ------------------------------------------------------------------------------------
    @_friendly
    def drag(self, values: dict, request: gr.Request):
        session = self._session(request, values)
        if session.busy:
            raise EditorError("a drag is already running in this tab")
        for update in session.drag():
            session.touched = time.monotonic()
            if update.done:
                yield view.full(self.page, session, update.message)
            else:
                yield view.drag_frame(self.page, session, update)

    def stop(self, request: gr.Request):
        session = self._session(request)
        session.stop.set()
        return {self.page.status: "stopping after the current step..."}

    @_friendly
    def undo_drag(self, request: gr.Request):
        session = self._session(request)
        session.undo_drag()
        return view.full(self.page, session, "last drag undone")

    @_friendly
    def reset(self, request: gr.Request):
        session = self._session(request)
        if not session.history:
            raise EditorError("nothing to reset yet")
        session.reset()
        return view.full(self.page, session, "back to the original")

    def unload(self, request: gr.Request):
        self.app.close_session(request.session_hash or "anonymous")
