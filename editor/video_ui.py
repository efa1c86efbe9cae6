"""The page's Video tab: upload a clip, choose the keyframe, click points, preview, render, download.

The layout (`video_tab`, called inside a `gr.Tab`) and its events (`wire_video`), over the
tab's `editor.video.VideoSession`. The photo flow's settings (face number, inversion, drag
options) apply to the clip too. Errors are shown as one line and the app keeps serving
(`editor.handlers._friendly`); a keyframe without a face is shown with a status line saying so.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from editor.app import EditorApp
from editor.errors import EditorError
from editor.handlers import _friendly, bind, settings_from
from editor.state import clear_clicks, undo_click
from editor.video import VideoSession, video_config

__all__ = ["VideoHandlers", "video_tab", "wire_video"]


def video_tab(page: SimpleNamespace) -> SimpleNamespace:
    """The Video tab's components (inside the caller's `gr.Tab`); also stored as `page.video`."""
    v = SimpleNamespace()
    gr.Markdown(
        "Upload a clip, choose the **keyframe** with the slider, click a **handle** (red) and then its "
        "**target** (blue) on the face, **Preview keyframe**, then **Render clip**: the edit is carried to every "
        "frame where the same person is found. The Photo tab's settings (face number, inversion steps, advanced "
        "drag settings) apply. A stopped render resumes when rendered again."
    )
    with gr.Row():
        v.upload = gr.File(
            label="Clip (mp4, mov, webm, ...)", file_types=["video"], type="filepath", elem_id="video-upload"
        )
        v.keyframe = gr.Slider(0, 1, value=0, step=1, label="Keyframe", interactive=False, elem_id="keyframe")
    with gr.Row():
        v.canvas = gr.Image(
            label="Keyframe: click a handle, then its target (inside the green outline)",
            interactive=False,
            format="png",
            elem_id="video-canvas",
        )
        v.preview = gr.Image(
            label="Edited keyframe (preview)", interactive=False, format="png", elem_id="video-preview"
        )
    with gr.Row():
        v.undo_point_btn = gr.Button("Undo point", elem_id="video-undo-point")
        v.clear_btn = gr.Button("Clear points", elem_id="video-clear-points")
        v.preview_btn = gr.Button("Preview keyframe", elem_id="video-preview-btn")
        v.render_btn = gr.Button("Render clip", variant="primary", elem_id="video-render")
        v.stop_btn = gr.Button("Stop", variant="stop", elem_id="video-stop")
    with gr.Row():
        v.x = gr.Number(label="x (keyframe px)", elem_id="video-point-x")
        v.y = gr.Number(label="y (keyframe px)", elem_id="video-point-y")
        v.add_point_btn = gr.Button("Add point", elem_id="video-add-point")
    v.points_json = gr.JSON(label="Points (keyframe pixels)", elem_id="video-points")
    with gr.Row():
        v.result = gr.Video(label="Original | edited", interactive=False, elem_id="video-result")
        v.files = gr.File(
            label="Downloads: edited.mp4, comparison.mp4, report.json",
            file_count="multiple",
            interactive=False,
            elem_id="video-files",
        )
    page.video = v
    return v


class VideoHandlers:
    """The Video tab's event functions (one `VideoSession` per browser tab, from `EditorApp.video_session`)."""

    def __init__(self, app: EditorApp, page: SimpleNamespace):
        self.app, self.page, self.v = app, page, page.video

    def _tab(self, request: gr.Request, values: dict | None = None):
        """(the tab's `Session`, its `VideoSession`, the video's config)."""
        sid = request.session_hash or "anonymous"
        video = self.app.video_session(sid)
        session = self.app.session(sid)
        if values is not None:
            session.settings = settings_from(values)
        return session, video, video_config(session.settings, self.app.server, session.model)

    def _shown(self, video: VideoSession, message: str, result: bool = False) -> dict:
        """Canvas, preview, points and status (and the render's result and downloads when `result`)."""
        v = self.v
        out = {
            v.canvas: video.canvas(),
            v.preview: video.preview_image(),
            v.points_json: video.points_json(),
            self.page.status: message,
        }
        if result:
            edited = [p for p in video.outputs if p.name == "comparison.mp4"]
            out[v.result] = str(edited[0]) if edited else None
            out[v.files] = [str(p) for p in video.outputs] or None
        return out

    @_friendly
    def upload(self, values: dict, request: gr.Request):
        session, video, config = self._tab(request, values)
        path = values["clip"]
        if not path:
            raise EditorError("no file received; drop a video clip on the upload box")
        message = video.set_clip(path, session.model, config, self.app.max_upload_bytes)
        last = video.info.frame_count - 1
        slider = gr.update(minimum=0, maximum=last, value=0, interactive=last > 0)
        return self._shown(video, message, result=True) | {self.v.keyframe: slider}

    @_friendly
    def keyframe(self, values: dict, request: gr.Request):
        session, video, config = self._tab(request, values)
        message = video.show_frame(int(values["keyframe"] or 0), session.model, config)
        return self._shown(video, message)

    @_friendly
    def click(self, evt: gr.SelectData, request: gr.Request):
        _, video, _ = self._tab(request)
        if evt.index is None:
            raise EditorError("click inside the image")
        return self._shown(video, video.click(evt.index))

    @_friendly
    def add_point(self, x, y, request: gr.Request):
        """A point typed in keyframe pixels (also the API's way to click)."""
        _, video, _ = self._tab(request)
        if x is None or y is None:
            raise EditorError("type both x and y (keyframe pixels)")
        return self._shown(video, video.add_point((float(x), float(y))))

    @_friendly
    def undo_point(self, request: gr.Request):
        _, video, _ = self._tab(request)
        return self._shown(video, video.edit_points(undo_click, "last point removed"))

    @_friendly
    def clear_points(self, request: gr.Request):
        _, video, _ = self._tab(request)
        return self._shown(video, video.edit_points(clear_clicks, "all points cleared"))

    @_friendly
    def preview(self, values: dict, request: gr.Request, progress=None):
        session, video, config = self._tab(request, values)
        if progress is not None:
            progress(0, desc="following the face, editing the keyframe")
        return self._shown(video, video.run_preview(session.model, config))

    @_friendly
    def render(self, values: dict, request: gr.Request, progress=None):
        session, video, config = self._tab(request, values)
        for update in video.render(session.model, config):
            if progress is not None and not update.finished:
                progress((update.done, update.total), desc="rendering", unit="frames")
            if update.finished:
                yield self._shown(video, update.message, result=True)
            else:
                yield {self.page.status: update.message}

    def stop(self, request: gr.Request):
        _, video, _ = self._tab(request)
        video.stop.set()
        return {self.page.status: "stopping after the current frame..."}


def wire_video(app: EditorApp, page: SimpleNamespace, inputs: list, names: list[str], heavy: dict, light: dict):
    """Connect the Video tab's events (`inputs` / `names`: the settings components and their names)."""
    v, h = page.video, VideoHandlers(app, page)
    shown = [v.canvas, v.preview, v.points_json, page.status]
    with_result = [*shown, v.result, v.files]
    v.upload.upload(
        bind(h.upload, ["clip", *names]),
        [v.upload, *inputs],
        [*with_result, v.keyframe],
        api_name="video_upload",
        **heavy,
    )
    v.keyframe.release(
        bind(h.keyframe, ["keyframe", *names]), [v.keyframe, *inputs], shown, api_name="video_keyframe", **heavy
    )
    v.canvas.select(h.click, None, shown, api_name=False)
    v.add_point_btn.click(h.add_point, [v.x, v.y], shown, api_name="video_add_point")
    v.undo_point_btn.click(h.undo_point, None, shown, api_name="video_undo_point")
    v.clear_btn.click(h.clear_points, None, shown, api_name="video_clear_points")
    v.preview_btn.click(bind(h.preview, names, progress=True), inputs, shown, api_name="video_preview", **heavy)
    v.render_btn.click(bind(h.render, names, progress=True), inputs, with_result, api_name="video_render", **heavy)
    v.stop_btn.click(h.stop, None, [page.status], api_name="video_stop", **light)
