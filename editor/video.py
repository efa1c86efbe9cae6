"""The video flow of one tab: a clip, a keyframe, points on it, the keyframe's preview, the render.

Everything heavy is `pipeline.video.edit_video`, the function `run_pipeline.py --image clip.mp4`
runs: the preview is that edit stopped before its first frame (`on_frame` answering stop at
once: the face track and the keyframe's photo edit, kept in the render's work folder), so
"Render clip" afterwards starts from the previewed keyframe instead of dragging it again. A
render stopped (Stop, a closed tab) keeps its work folder, and rendering again resumes from
the last finished frame. Gradio is not imported here (`editor.video_ui` is the page's part).

*Convention*: points are float (x, y) in pixels of the keyframe (`_photo`), x right, y down,
pixel centres at integer coordinates; the canvas shows the keyframe's region around the face
(`editor.state.PhotoView`), as the photo flow's canvas does.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import pipeline as pl
from common.images import read_image
from editor.errors import EditorError
from editor.settings import EditorSettings, ServerOptions
from editor.state import Clicks, PhotoView, crop_click, photo_from_display, photo_view
from editor.stream import ThreadStream
from editor.view import crop_outline_photo
from editor.view import view_image as draw_view
from pipeline.models import LoadedModel
from pipeline.video.config import VideoConfig

__all__ = ["RenderUpdate", "VideoSession", "video_config"]

log = logging.getLogger("editor")


def video_config(settings: EditorSettings, server: ServerOptions, model: LoadedModel) -> pl.PipelineConfig:
    """The photo stages' config of a video edit from the page's settings.

    The face is always followed (face mode; a box or the centre do not apply to a clip), and
    no drag video is recorded for the keyframe (the render is the video).
    """
    settings = dataclasses.replace(settings, align_mode="face", box=None)
    config = dataclasses.replace(settings.to_config(server), video=None)
    info = None if model.resolved is None else model.resolved.info
    return pl.config_for_model(config, model.G, info)


@dataclass(frozen=True)
class RenderUpdate:
    """One streamed update of a running render.

    Attributes:
        done: frames finished (earlier, resumed-from runs included); total: the clip's frames.
        message: a one-line status.
        finished: the render has ended (every frame encoded, or stopped).
        complete: every frame was rendered and encoded (edited.mp4 written).
    """

    done: int
    total: int
    message: str
    finished: bool = False
    complete: bool = False


class VideoSession:
    """A tab's clip, keyframe, points, preview and render (the video counterpart of `Session`).

    Args:
        folder: this tab's video folder (the clip's copy, the render's output and work folder).
        server: the app's options (`stop_wait_s`, device).
        device_lock: the app's lock: one heavy job on the device at a time (shared with `Session`).
    """

    def __init__(self, folder: Path, server: ServerOptions, device_lock: threading.Lock | None = None):
        self.folder = Path(folder)
        self.server = server
        self.device_lock = threading.Lock() if device_lock is None else device_lock
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.busy = False
        self.video = VideoConfig()  # the render's settings (tests use fewer steps)
        self._stream: ThreadStream | None = None
        self.clear()

    def clear(self) -> None:
        """Forget the clip and everything derived from it."""
        self.clip: Path | None = None
        self.clip_name = ""
        self.info = None  # pipeline.io.clip.ClipInfo
        self.index = 0  # the keyframe
        self.frame: np.ndarray | None = None  # uint8 (H, W, 3) the keyframe
        self.alignment = None  # the keyframe's face crop (None: no face on it)
        self.clicks = Clicks()  # keyframe photo px
        self.preview: np.ndarray | None = None  # uint8 (H, W, 3) the edited keyframe
        self.outputs: list[Path] = []

    @property
    def out(self) -> Path:
        """The render's output folder (its work folder, for resuming, lies beside it)."""
        return self.folder / "render"

    # --- clip and keyframe -----------------------------------------------------------------
    def set_clip(self, path: str | Path, model: LoadedModel, config: pl.PipelineConfig, max_bytes=None) -> str:
        """Take an uploaded clip (checked by content), show its first frame; returns the status line.

        Raises:
            EditorError: not a video, or over the upload limit; ClipError: ffmpeg cannot read it.
        """
        from pipeline.io.clip import is_video, probe_clip

        path = Path(path)
        if self.busy:
            raise EditorError("a render is running in this tab; press Stop first")
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise EditorError(
                f"the clip is {path.stat().st_size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit; "
                "send a shorter or smaller clip"
            )
        if not is_video(path):
            raise EditorError(
                f"{path.name} is not a video clip (a still image goes in the Photo tab); upload a clip ffmpeg "
                "reads (mp4, mov, webm, ...)"
            )
        with self.lock:
            self.clear()
            shutil.rmtree(self.folder, ignore_errors=True)  # another clip's render and work folder
            self.folder.mkdir(parents=True, exist_ok=True)
            self.clip = self.folder / f"clip{path.suffix.lower() or '.mp4'}"
            shutil.copyfile(path, self.clip)  # Gradio's upload cache may be cleared before the render
            self.clip_name = path.name
            try:
                self.info = probe_clip(self.clip)
            except pl.DragPipelineError as exc:
                self.clear()
                raise type(exc)(str(exc).replace(str(self.folder / self.clip.name), path.name)) from None
            info = self.info
            face = self.show_frame(0, model, config)
        return f"clip {path.name}: {info.frame_count} frames, {info.width}x{info.height}, {info.fps:g} fps; {face}"

    def show_frame(self, index: int, model: LoadedModel, config: pl.PipelineConfig) -> str:
        """Make frame `index` the keyframe (points and preview are cleared); returns the status line.

        A keyframe without a face is shown whole, with a message saying to choose another.
        """
        from pipeline.io.clip import read_frames

        if self.info is None:
            raise EditorError("upload a clip first")
        if self.busy:
            raise EditorError("a render is running in this tab; press Stop first")
        index = int(index)
        if not 0 <= index < self.info.frame_count:
            raise EditorError(f"keyframe {index} is outside the clip; choose 0..{self.info.frame_count - 1}")
        frames = read_frames(self.clip, start=index)
        try:
            frame = next(iter(frames))[1]
        finally:
            frames.close()
        with self.lock:
            self.index, self.frame, self.clicks, self.preview = index, frame, Clicks(), None
            try:
                self.alignment = pl.align_photo(frame, model.size, config)
            except pl.DragPipelineError as exc:
                self.alignment = None
                if type(exc).__name__ == "NoFaceFoundError":  # align's, which the editor does not import
                    return f"no face found on frame {index}; choose another keyframe with the slider"
                return f"frame {index}: {' '.join(str(exc).split())}"
        return f"keyframe {index}: click a handle, then its target, on the face"

    def view(self) -> PhotoView:
        """The canvas's region of the keyframe: the face crop's footprint with a margin, or the whole frame."""
        if self.alignment is None:
            h, w = self.frame.shape[:2]
            return photo_view(np.array([[0.0, 0.0], [w - 1.0, h - 1.0]]), self.frame.shape, margin=0.0)
        return photo_view(crop_outline_photo(self.alignment), self.frame.shape)

    # --- points ----------------------------------------------------------------------------
    def _need_face(self) -> None:
        if self.frame is None:
            raise EditorError("upload a clip first")
        if self.alignment is None:
            raise EditorError(f"frame {self.index} has no face to edit; choose another keyframe with the slider")
        if self.busy:
            raise EditorError("a render is running in this tab; press Stop first")

    def add_point(self, xy_photo) -> str:
        """Add a handle or its target at keyframe pixel (x, y); returns the status line.

        Raises:
            EditorError: no face on the keyframe, or the point lies outside the face's crop.
        """
        self._need_face()
        x, y = float(xy_photo[0]), float(xy_photo[1])
        try:  # the drag can only move what lies in the face's crop
            crop_click(pl.to_crop(np.array([[x, y]]), self.alignment)[0], self.alignment.size)
        except EditorError:
            raise EditorError(
                f"({x:.1f}, {y:.1f}) lies outside the edited region of keyframe {self.index}; "
                "click inside the green outline around the face"
            ) from None
        with self.lock:
            self.clicks = Clicks(self.clicks.points + ((x, y),))
            self.preview = None
        kind = "target" if self.clicks.pending_handle is None else "handle"
        return f"{kind} at ({x:.1f}, {y:.1f}) keyframe px"

    def click(self, xy_display) -> str:
        """A click on the canvas (display pixels) as a point in keyframe pixels (`add_point`)."""
        self._need_face()
        return self.add_point(photo_from_display(xy_display, self.view()))

    def edit_points(self, change: Callable[[Clicks], Clicks], message: str) -> str:
        """Apply a `editor.state` change (undo_click, clear_clicks, ...) to the points."""
        if self.busy:
            raise EditorError("a render is running in this tab; press Stop first")
        with self.lock:
            self.clicks, self.preview = change(self.clicks), None
        return message

    def points(self) -> pl.DragPoints:
        """The complete pairs as `DragPoints` on the keyframe.

        Raises:
            EditorError: no clip, no face on the keyframe, or no complete pair.
        """
        self._need_face()
        if len(self.clicks) == 0:
            raise EditorError("click a handle and then its target on the keyframe first")
        return pl.DragPoints(self.clicks.handles, self.clicks.targets, frame=self.index)

    # --- preview and render ----------------------------------------------------------------
    def _edit(self, model: LoadedModel, config: pl.PipelineConfig, on_frame, points: pl.DragPoints):
        from pipeline.video.edit import edit_video

        with self.device_lock:
            return edit_video(
                self.clip,
                points,
                model,
                self.out,
                config,
                self.video,
                overwrite=True,
                extra={"inputs": {"clip": self.clip_name, "source": "editor"}, "checkpoint": model.checkpoint_json()},
                progress=False,
                on_frame=on_frame,
            )

    def run_preview(self, model: LoadedModel, config: pl.PipelineConfig) -> str:
        """Edit the keyframe (face track, inversion, drag, composite) and keep its composite; returns the status.

        The edit is kept in the render's work folder: "Render clip" with the same points and
        settings continues from it.
        """
        from pipeline.video.work import work_folder_for

        points = self.points()
        if self.busy:
            raise EditorError("a render is running in this tab; press Stop first")
        self.busy = True
        try:
            result = self._edit(model, config, lambda done, total: True, points)
        finally:
            self.busy = False
        edited = work_folder_for(self.out) / "keyframe" / "edited.png"
        photo = read_image(edited)
        with self.lock:
            self.preview = photo
        s = result.keyframe.summary
        return (
            f"keyframe {self.index} edited: {s['drag_steps']} drag steps, handles {s['final_distance_photo']:.1f} px "
            "from their targets; press Render clip to carry the edit to every frame"
        )

    def render(self, model: LoadedModel, config: pl.PipelineConfig) -> Iterator[RenderUpdate]:
        """Render the clip (`edit_video` in a worker thread), streaming progress in frames.

        Stop (`self.stop`) ends it after the current frame, keeping the finished frames: a
        later render with the same points and settings resumes. Closing the iteration early
        (the client went away) stops it too and waits up to `server.stop_wait_s`.

        Yields:
            `RenderUpdate`s, the last with finished=True (`outputs` then holds the files).
        """
        points = self.points()
        with self.lock:
            if self.busy:
                raise EditorError("a render is already running in this tab")
            self.busy, self.outputs = True, []
        self.stop.clear()
        total = self.info.frame_count
        started: list[tuple[float, int]] = []  # (time, frames done) when the first frame was due

        def run(emit: Callable[[object], None]):
            def on_frame(done: int, count: int) -> bool:
                emit((done, count))
                return self.stop.is_set()

            return self._edit(model, config, on_frame, points)

        stream = ThreadStream(run, name="render")
        with self.lock:
            self._stream = stream
        try:
            yield RenderUpdate(0, total, "following the face and editing the keyframe...")
            for done, count in stream:
                now = time.perf_counter()
                if not started:
                    started.append((now, done))
                t0, d0 = started[0]
                rate = f" ({(done - d0) / (now - t0):.2f} frames/s)" if done > d0 and now > t0 else ""
                yield RenderUpdate(done, count, f"rendering: {done} of {count} frames{rate}")
            result = stream.result
        finally:
            if stream.running:  # the consumer left before the end
                self._stop_render(stream)
            self.busy = False
        done = sum(1 for record in result.frames if "seconds" in record)
        if not result.complete:
            yield RenderUpdate(done, total, _stopped(done, total), finished=True)
            return
        with self.lock:
            self.outputs = [result.out / name for name in ("edited.mp4", "comparison.mp4", "report.json")]
        edited = sum(1 for r in result.frames if r.get("changed_pixels", 0) > 0)
        found = sum(1 for r in result.frames if r.get("found"))
        message = f"rendered {total} frames: the edit reached {edited} of the {found} frames with the face"
        yield RenderUpdate(total, total, message, finished=True, complete=True)

    def _stop_render(self, stream: ThreadStream) -> bool:
        self.stop.set()
        if stream.join(self.server.stop_wait_s):
            return True
        log.warning("editor: a render did not stop within %.0f s", self.server.stop_wait_s)
        return False

    def close(self) -> None:
        """Free the tab: stop a running render and wait for its thread; the files are the app's to remove."""
        with self.lock:
            stream = self._stream
        if stream is not None and stream.running:
            self._stop_render(stream)
        with self.lock:
            self.clear()

    # --- what the page shows ---------------------------------------------------------------
    def canvas(self) -> np.ndarray | None:
        """uint8 RGB: the keyframe around the face, the crop outline and the points (None without a clip)."""
        if self.frame is None:
            return None
        pending = self.clicks.pending_handle
        handles = self.clicks.handles if pending is None else np.concatenate([self.clicks.handles, [pending]])
        outline = None if self.alignment is None else crop_outline_photo(self.alignment)
        return view_image(self.frame, self.view(), handles, self.clicks.targets, outline)

    def preview_image(self) -> np.ndarray | None:
        """uint8 RGB: the edited keyframe, the same region as the canvas (None before a preview)."""
        if self.preview is None:
            return None
        return view_image(self.preview, self.view(), None, None, None)

    def points_json(self) -> dict:
        c = self.clicks
        return {
            "frame": self.index,
            "handles_photo": c.handles.tolist(),
            "targets_photo": c.targets.tolist(),
            "pending_handle": None if c.pending_handle is None else list(c.pending_handle),
        }


def _stopped(done: int, total: int) -> str:
    return f"stopped after {done} of {total} frames; press Render clip again to resume from there"


def view_image(photo, view: PhotoView, handles_photo, targets_photo, outline_photo) -> np.ndarray:
    """The region `view` of `photo` as the canvas shows it, points and crop outline drawn (`editor.view.view_image`)."""
    x0, y0, x1, y1 = view.box
    return draw_view(photo[y0:y1, x0:x1], view, handles_photo, targets_photo, outline_photo)
