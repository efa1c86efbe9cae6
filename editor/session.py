"""One browser tab's editing session and the steps it runs (photo, seed, invert, drag, outputs).

Everything heavy goes through `pipeline`: `align_photo`, `invert_crop` (with the inversion
cache), `drag_crop` (its callback is the Stop button and the live preview), `paste_edit`
(the composite `run_pipeline.py` writes edited.png with, also applied to every live-preview
frame, so the page shows the photo as it will be written), and `write_results`, the code
`run_pipeline.py` writes its files with. Gradio is not
imported here, so the API and benchmark scripts use the same functions as the page.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

import pipeline as pl
from common.device import release_cached_memory, same_device
from common.random import seeded
from editor.errors import EditorError
from editor.preview import PreviewCompositor
from editor.settings import EditorSettings, ServerOptions
from editor.state import Clicks, history_push, history_reset, history_undo
from editor.steps import DragUpdate, Step
from editor.stream import ThreadStream
from pipeline.models import LoadedModel

__all__ = ["PREVIEW_FRAMES", "Session"]

log = logging.getLogger("editor")

# Live-preview frames per drag. A frame is one full synthesis, which at 64 px costs more than a
# drag step (local features stop at b32); one every max_steps / 10 steps keeps the editor within
# 10% of `draggan.drag` (python -m benchmarks.editor). The streamed frames are also composited
# into the photo in the page's thread, within a time budget (`editor.preview`). The drag video
# does not use them: like the CLI's, it is rendered from latent snapshots after the drag
# (`pipeline.render_drag_frames`).
PREVIEW_FRAMES = 10
PREVIEW_MAX_STRIDE = 30  # but at least one frame every 30 steps, however high the step cap


class Session:
    """A tab's state: photo, alignment, inversion, tuned generator, points, mask and history.

    Methods that change it hold `lock`; `stop` is an Event the drag checks after every step.
    The device work (inversion, seed, drag) holds `device_lock`, which the app's tabs share:
    a drag whose tab went away cannot run beside the next tab's job, even if it outlives the
    event that started it.
    """

    def __init__(self, sid: str, folder: Path, server: ServerOptions, device_lock: threading.Lock | None = None):
        self.sid = sid
        self.folder = Path(folder)
        self.server = server
        self.lock = threading.RLock()
        self.device_lock = threading.Lock() if device_lock is None else device_lock
        self.stop = threading.Event()
        self.busy = False
        self.closed = False
        self.touched = time.monotonic()
        self.model: LoadedModel | None = None  # shared read-only by every tab
        self.settings = EditorSettings()
        self._stream: ThreadStream | None = None  # the latest drag's worker
        self.clear()

    def clear(self) -> None:
        """Forget the photo and everything derived from it."""
        self.photo: np.ndarray | None = None
        self.photo_name = ""
        self.alignment = None
        self.config: pl.PipelineConfig | None = None
        self.inversion = None
        self.G_edit = None
        self.device: torch.device | None = None  # where G_edit runs
        self.offloaded = False  # G_edit was moved to the CPU while the tab was idle (`offload`)
        self.cache_hit = False
        self.cache_key: str | None = None
        self.metrics: dict = {}
        self.seconds: dict = {}
        self.history: tuple[Step, ...] = ()
        self.clicks = Clicks()
        self.mask_crop: np.ndarray | None = None  # what the drag takes (`set_mask`)
        self.mask_photo: np.ndarray | None = None  # what the user painted, photo pixels
        self.outputs: list[Path] = []
        self._edited: tuple[Step, np.ndarray] | None = None  # (history tip, its composite) once computed

    # --- start: photo or seed ------------------------------------------------------------
    def set_photo(self, path: str | Path, max_upload_bytes: int | None = None) -> None:
        """Read and align an uploaded photo (checks size, pixel count and that it is an image).

        Raises:
            DragPipelineError (EditorError among them): with a message for the page.
        """
        path = Path(path)
        if max_upload_bytes is not None and path.stat().st_size > max_upload_bytes:
            raise EditorError(
                f"the upload is {path.stat().st_size / 2**20:.1f} MB, over the "
                f"{max_upload_bytes / 2**20:.0f} MB limit; send a smaller file"
            )
        try:
            photo = pl.load_photo(path, max_pixels=self._config().align.max_photo_pixels)
        except pl.DragPipelineError as exc:  # name the upload, not the server's temporary path
            raise type(exc)(str(exc).replace(str(path), path.name)) from None
        with self.lock:
            self.clear()
            self.photo, self.photo_name = photo, path.name
            self.align()

    def _config(self) -> pl.PipelineConfig:
        config = self.settings.to_config(self.server)
        info = None if self.model is None or self.model.resolved is None else self.model.resolved.info
        # The model's own settings (face framing, small-model steps and radii) where the user set none.
        return pl.config_for_model(config, self.model.G, info)

    def align(self) -> None:
        """(Re)cut the crop with the current settings (face number, box, centre); drops the inversion."""
        if self.photo is None:
            raise EditorError("upload a photo first")
        config = self._config()
        with self.lock:
            self.alignment = pl.align_photo(self.photo, self.model.size, config)
            self.config = config
            self.inversion, self.history, self.clicks, self.outputs = None, (), Clicks(), []
            self.mask_crop = self.mask_photo = None

    def invert(self) -> None:
        """Invert the aligned crop (reusing the inversion cache) and start the history from it."""
        if self.alignment is None:
            raise EditorError("upload a photo first")
        config = self.config
        device = pl.resolve_device(config.device)
        t = time.perf_counter()
        with self.device_lock, seeded(config.seed):
            G = self.model.G if same_device(next(self.model.G.parameters()).device, device) else self.model.G.to(device)
            inverted = pl.invert_crop(G, self.alignment.crop, config, self.model.generator_id, progress=True)
            inversion = inverted.inversion
            G_edit = inversion.G.to(device)
            reconstruction = pl.uint8_from_ws(G_edit, inversion.ws)[0]
            self.seconds = {"invert": time.perf_counter() - t}
            # Inside the same seeded RNG as `edit_photo`, so that even a random LPIPS backbone
            # gives the CLI's numbers.
            metrics = pl.reconstruction_metrics(reconstruction, np.array(self.alignment.crop), config, device)
        with self.lock:
            self.inversion, self.G_edit, self.device, self.offloaded = inversion, G_edit, device, False
            self.cache_hit, self.cache_key = inverted.cache_hit, inverted.cache_key
            self.metrics = metrics
            self.history = (Step(inversion.ws.detach().cpu(), reconstruction),)
            self.clicks, self.outputs = Clicks(), []

    def start_from_seed(self, seed: int, truncation_psi: float) -> None:
        """Start from a generated image (no photo, no inversion), as DragGAN's demo does."""
        if not 0.0 <= float(truncation_psi) <= 1.0:
            raise EditorError(f"truncation psi must be in [0, 1], got {truncation_psi}")
        with self.lock:
            self.clear()
            config = dataclasses.replace(self._config(), align_mode="center", box=None, face_index=None)
            device = pl.resolve_device(config.device)
            with self.device_lock:
                G = self.model.G.to(device)
                start = pl.seed_start(G, int(seed), float(truncation_psi))
                seed_inversion = pl.seed_inversion(G, start, config)
            self.alignment, self.inversion = seed_inversion.alignment, seed_inversion.inversion
            image, ws = start.image, start.ws
            self.photo, self.photo_name, self.config, self.G_edit = image, f"seed{int(seed)}.png", config, G
            self.device = device
            self.metrics = {"psnr": float("inf"), "ssim": 1.0, "lpips": 0.0}
            self.history = (Step(ws, image),)

    # --- mask -----------------------------------------------------------------------------
    def set_mask(self, mask_photo: np.ndarray | None) -> None:
        """Use a mask painted on the photo: `mask_crop` is `pipeline.mask_to_crop` of it, as for `--mask`.

        Args:
            mask_photo: bool (H, W) the photo's size, True = may move
                (`editor.state.mask_photo_from_strokes`); None = no mask (everything may move).

        Raises:
            EditorError: no pixel of the crop may move.
        """
        mask_crop = None
        if mask_photo is not None:
            try:
                mask_crop = pl.mask_to_crop(mask_photo, self.alignment, self.config.mask_threshold)
            except pl.PointsError:
                raise EditorError(
                    "the mask leaves no pixel inside the green outline free to move; paint a smaller area "
                    "or switch the mask mode"
                ) from None
        with self.lock:
            self.mask_photo, self.mask_crop = mask_photo, mask_crop

    # --- drag ------------------------------------------------------------------------------
    def _drag_config(self) -> pl.PipelineConfig:
        """The inversion's config with the page's current drag options (and their `user_options`).

        The drag options may change between drags; alignment and inversion stay as inverted.
        """
        fresh, inverted = self._config(), self.config
        options = [o for o in fresh.user_options if o.startswith("drag.") or o in inverted.user_options]
        options += [o for o in inverted.user_options if not o.startswith("drag.") and o not in options]
        return dataclasses.replace(inverted, drag=fresh.drag, user_options=tuple(options))

    def drag(self) -> Iterator[DragUpdate]:
        """Run a drag from the current latent, streaming a preview every rendered frame.

        Preview frames are rendered every max_steps / `PREVIEW_FRAMES` steps. The drag keeps
        the CLI's latent snapshots (`pipeline.video_drag_config`), from which the download's
        video is rendered as `run_pipeline.py --video` renders it. Stop (`self.stop`) ends
        the drag after the current step and keeps its result. Closing the iteration early
        (the client went away, the event was cancelled) stops the drag too and waits up to
        `server.stop_wait_s` for its thread, so the device is free when the event ends.

        Yields:
            `DragUpdate`s, the last one with done=True (the history then holds the result).
        """
        if not self.history:
            raise EditorError("invert a photo or generate an image from a seed first")
        if len(self.clicks) == 0:
            raise EditorError("click a handle point and then its target on the image first")
        config = self._drag_config()
        current = self.history[-1]
        handles, targets, mask, mask_photo = self.clicks.handles, self.clicks.targets, self.mask_crop, self.mask_photo
        starts, ends = self._drag_paths()
        compositor = PreviewCompositor(
            self.photo, self.alignment, self.history[0].image, self.config, starts, ends, handles, mask, mask_photo
        )
        frames_wanted = max(PREVIEW_FRAMES, -(-config.drag.max_steps // PREVIEW_MAX_STRIDE))
        self.stop.clear()

        def run(emit: Callable[[tuple], None]):
            def on_step(step: int, tracked: np.ndarray, frame) -> bool:
                if frame is not None:
                    emit((step, tracked, frame))
                return self.stop.is_set()

            G = self._generator_on_device()  # before the device lock: `start_from_seed` takes them the other way
            with self.device_lock:
                return pl.drag_crop(
                    G,
                    current.ws,
                    handles,
                    targets,
                    mask,
                    config,
                    progress=False,
                    callback=on_step,
                    preview_frames=frames_wanted,
                )

        stream = ThreadStream(run, name=f"drag-{self.sid[:8]}")
        with self.lock:  # `offload` leaves a busy tab alone
            self.busy, self._stream = True, stream
        try:
            for step, tracked, frame in stream:
                dist = float(np.hypot(*(tracked - targets).T).max())
                message = f"step {step}: max distance {dist:.1f} px"
                preview = compositor.offer(frame, tracked)  # None when over its time budget
                yield DragUpdate(frame, tracked, step, dist, message=message, composite=preview)
            result = stream.result
            with self.lock:  # `close` waits, so a closed tab's folder is not written again
                if self.closed:  # the tab was closed during the drag: nothing to keep or write
                    return
                self.seconds["drag"] = stream.seconds
                self.last_drag_span = stream.span  # (start, end) monotonic: the queue runs one drag at a time
                self._push_drag(Step(result.ws, result.image, result, handles, targets, mask, config, mask_photo))
                self.outputs = self.write_outputs()
                photo = self.edited_photo()
        finally:
            if stream.running:  # the consumer left before the end
                self._stop_drag(stream)
            self.busy = False
        dist = float(np.hypot(*(result.handles - targets).T).max())
        why = "stopped" if result.stopped_by_callback else "converged" if result.converged else "step cap reached"
        message = f"{why} after {result.steps} steps; max distance {dist:.1f} px"
        yield DragUpdate(result.image, result.handles, result.steps, dist, True, message, lambda: photo)

    def _drag_paths(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every finished drag's handles and their tracked ends ((N_i, 2) crop px each), oldest first."""
        drags = [step for step in self.history if step.drag is not None]
        return [step.handles_crop for step in drags], [step.drag.handles for step in drags]

    def edited_photo(self) -> np.ndarray | None:
        """uint8 (H, W, 3): the photo with the current edit composited, as edited.png holds it.

        The photo itself before any drag (None without one); computed once per history entry.
        """
        with self.lock:
            if self.photo is None or not self.history or self.history[-1].drag is None:
                return self.photo
            return self._composite(self.history[-1])

    def _composite(self, last: Step) -> np.ndarray:
        """The photo with history entry `last` composited (`pipeline.paste_edit`), cached for the tip."""
        if self._edited is None or self._edited[0] is not last:
            # Every drag's handles and tracked ends: the composite moves the photo near all of them.
            starts, ends = self._drag_paths()
            starts, ends = np.concatenate(starts), np.concatenate(ends)
            reconstruction = self.history[0].image
            masks = (last.mask_crop, last.mask_photo)  # the photo mask keeps its bytes, as the CLI's --mask
            photo = pl.paste_edit(
                self.photo, self.alignment, last.image, reconstruction, self.config, starts, ends, *masks
            )
            self._edited = (last, photo)
        return self._edited[1]

    def _stop_drag(self, stream: ThreadStream) -> bool:
        """Set Stop and wait (at most `server.stop_wait_s`) for the drag's thread; True when it has ended."""
        self.stop.set()
        if stream.join(self.server.stop_wait_s):
            return True
        log.warning("editor: the drag of session %s did not stop within %.0f s", self.sid[:8], self.server.stop_wait_s)
        return False

    def _generator_on_device(self):
        """G_edit, moved back to its device first if `offload` moved it to the CPU."""
        with self.lock:
            if self.offloaded:
                self.G_edit.to(self.device)  # in place: the inversion's G is the same module
                self.offloaded = False
            return self.G_edit

    def offload(self) -> bool:
        """Move this tab's own generator (PTI's tuned copy) to the CPU; the next drag moves it back.

        Only a tab that is not dragging (nor holding its lock), whose generator is its own (not the
        model every tab shares) and sits on an accelerator is offloaded; the device's cached memory
        is then released.

        Returns:
            True when the generator was moved.
        """
        if not self.lock.acquire(blocking=False):  # in use right now (and a sweep must not wait for it)
            return False
        try:
            shared = self.model is not None and self.G_edit is self.model.G
            on_cpu = self.device is None or self.device.type == "cpu"
            if self.busy or self.offloaded or self.G_edit is None or shared or on_cpu:
                return False
            self.G_edit.to("cpu")  # in place: the inversion's G is the same module
            self.offloaded = True
            device = self.device
        finally:
            self.lock.release()
        release_cached_memory(device)
        return True

    def use_model(self, model: LoadedModel) -> None:
        """Edit with `model` from now on: everything derived from the previous one is dropped."""
        with self.lock:
            device = self.device
            self.model = model
            self.clear()
        if device is not None:
            release_cached_memory(device)

    def close(self) -> None:
        """Free the tab: stop a running drag and wait for its thread (`server.stop_wait_s`), drop its generators."""
        with self.lock:
            self.closed = True
            stream = self._stream
        if stream is not None and stream.running:
            self._stop_drag(stream)
        with self.lock:
            device = self.device
            self.clear()
            self._stream = None
        if device is not None:
            release_cached_memory(device)

    def _push_drag(self, step: Step) -> None:
        """Append a finished drag to the history; its tracked handles keep their targets, new clicks start new pairs."""
        with self.lock:
            self.history = history_push(self.history, step)
            self.clicks = Clicks(
                tuple(
                    p
                    for h, t in zip(step.drag.handles, step.targets_crop)
                    for p in ((float(h[0]), float(h[1])), (float(t[0]), float(t[1])))
                )
            )

    def undo_drag(self) -> None:
        with self.lock:
            self.history = history_undo(self.history)
            self.clicks, self.outputs = Clicks(), []

    def reset(self) -> None:
        """Back to the inverted (or generated) original; points and mask are cleared."""
        with self.lock:
            self.history = history_reset(self.history)
            self.clicks, self.outputs = Clicks(), []
            self.mask_crop = self.mask_photo = None

    # --- results ---------------------------------------------------------------------------
    def edit_result(self) -> pl.EditResult:
        """The current edit as the `pipeline.EditResult` the CLI builds (last drag's points)."""
        last = self.history[-1] if self.history else None
        if last is None or last.drag is None:
            raise EditorError("drag first: there is no edit to save yet")
        a = self.alignment
        reconstruction = self.history[0].image
        edited_photo = self._composite(last)
        return pl.EditResult(
            photo=self.photo,
            edited_photo=edited_photo,
            alignment=a,
            reconstruction_crop=reconstruction,
            edited_crop=last.image,
            handles_photo=pl.to_photo(last.handles_crop, a),
            targets_photo=pl.to_photo(last.targets_crop, a),
            handles_crop=last.handles_crop,
            targets_crop=last.targets_crop,
            mask_crop=last.mask_crop,
            inversion=self.inversion,
            drag=last.drag,
            seconds=dict(self.seconds),
            metrics=self.metrics,
            cache_hit=self.cache_hit,
            cache_key=self.cache_key,
            device=str(pl.resolve_device(self.config.device)),
            config=last.config or self.config,
        )

    def write_outputs(self) -> list[Path]:
        """Write edited.png, comparison.png, drag.mp4/gif, latents.pt, report.json (`pipeline.write_results`).

        Returns:
            The written files, in a fresh folder of this session's temporary folder.
        """
        result = self.edit_result()
        out = self.folder / f"edit{len(self.history) - 1}-{int(time.time() * 1000)}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        argv = [
            "--image",
            self.photo_name,
            "--points",
            "points.json",
            *self.settings.to_options(self.server).to_argv(),
            "--checkpoint",
            self.model.label,
        ]
        extra = {
            "inputs": {
                "image": self.photo_name,
                "photo_size": [int(self.photo.shape[1]), int(self.photo.shape[0])],
                "points": None,
                "mask": None,
                "num_points": len(result.handles_crop),
                "source": "editor",
            },
            "checkpoint": self.model.checkpoint_json(),
            "command": shlex.join(["run_pipeline.py", *argv]),
        }
        names = pl.write_results(result, out, extra)
        return [out / n for n in names]
