"""The server-side state of the editor: loaded models and one `Session` per browser tab.

Sessions are keyed by Gradio's per-tab session hash, so two tabs (or two API clients)
never share a photo, latent, tuned generator, points or history. A session is freed when
its tab closes (`Blocks.unload`) or after `idle_timeout_s` without a request; its tuned
generator moves to the CPU after `ServerOptions.offload_after_s` without one. At most
`ServerOptions.max_models` loaded checkpoints are kept, the least recently picked dropped
first: on a GPU server, device memory then holds the models in use and the tuned
generators of the tabs in use, not everything anyone ever loaded.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import pipeline as pl
from common.device import release_cached_memory
from editor.session import Session
from editor.settings import ServerOptions
from editor.video import VideoSession

__all__ = ["EditorApp"]


class EditorApp:
    """Models, sessions and limits shared by every tab of one editor process.

    Args:
        server: device, LPIPS and cache options.
        checkpoint: the default model: a registered name, a file under `checkpoints_dir`, or
            a key of `generators`.
        checkpoints_dir: where checkpoint files live (None = `pipeline.default_checkpoints_dir()`).
        allow_any_checkpoint: accept checkpoint files outside `checkpoints_dir`.
        allow_download: download registered checkpoints that are missing (else a message
            naming the file to fetch).
        max_upload_mb: refuse larger uploads.
        idle_timeout_s: free a tab's state after this long without a request.
        temp_dir: the app's temporary folder (outputs are written and served only from here);
            None = a new folder that `close` removes.
        generators: label -> generator, offered before the registry (tests inject tiny models);
            never dropped (they cannot be loaded again).
    """

    def __init__(
        self,
        server: ServerOptions = ServerOptions(),
        checkpoint: str = pl.DEFAULT_CHECKPOINT,
        checkpoints_dir: str | Path | None = None,
        allow_any_checkpoint: bool = False,
        allow_download: bool = True,
        max_upload_mb: float = 20.0,
        idle_timeout_s: float = 3600.0,
        temp_dir: str | Path | None = None,
        generators: dict | None = None,
    ):
        self.server = server
        self.checkpoints_dir = Path(checkpoints_dir) if checkpoints_dir else pl.default_checkpoints_dir()
        self.allow_any_checkpoint = allow_any_checkpoint
        self.allow_download = allow_download
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.max_upload_mb = max_upload_mb
        self.idle_timeout_s = idle_timeout_s
        self._own_temp = temp_dir is None
        self.temp_dir = Path(tempfile.mkdtemp(prefix="draggan-editor-") if temp_dir is None else temp_dir).resolve()
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.device_lock = threading.Lock()  # one heavy job on the device at a time (see `Session`)
        self._sessions: dict[str, Session] = {}
        self._videos: dict[str, VideoSession] = {}  # a tab's clip (the Video tab), made on first use
        self._injected = {
            label: pl.LoadedModel(label, G.eval().requires_grad_(False)) for label, G in (generators or {}).items()
        }
        self._models: OrderedDict[str, pl.LoadedModel] = OrderedDict()  # loaded: least recently picked first
        self.default_checkpoint = checkpoint
        self.model(checkpoint)

    @property
    def default_model(self) -> pl.LoadedModel:
        """The model a new tab starts with (loaded again if it was dropped)."""
        return self.model(self.default_checkpoint)

    # --- models ----------------------------------------------------------------------------
    def checkpoint_choices(self) -> list[str]:
        """The dropdown: injected and loaded models first, then every registered checkpoint."""
        return list(dict.fromkeys([*self._injected, *self._models, *pl.REGISTRY]))

    def loaded_models(self) -> list[str]:
        """The loaded checkpoints the app keeps, least recently picked first (injected ones not included)."""
        with self._lock:
            return list(self._models)

    def model(self, value: str, progress: bool = True) -> pl.LoadedModel:
        """Load a registered checkpoint or a file (`pipeline` / `stylegan.load_generator`), or reuse it.

        The app keeps the `ServerOptions.max_models` most recently picked checkpoints; picking
        one more drops the least recently picked (tabs that use it keep it until they pick
        another model or close). A dropped checkpoint picked again is taken back from a tab
        that still uses it, else loaded again.

        Raises:
            UnknownCheckpointError: a file outside the checkpoints folder (without
                `allow_any_checkpoint`) or an unknown name.
            MissingWeightsError: a registered file that is missing and cannot be downloaded.
        """
        value = str(value).strip()
        with self._lock:
            if value in self._injected:
                return self._injected[value]
            model = self._models.get(value)
            if model is None:  # dropped, but maybe still used by a tab: no second copy
                used = (s.model for s in self._sessions.values() if s.model is not None)
                model = next((m for m in used if m.label == value and m.resolved is not None), None)
        if model is None:
            model = self._load(value, progress)
        with self._lock:
            model = self._models.setdefault(value, model)
            self._models.move_to_end(value)
            dropped = [self._models.popitem(last=False)[1] for _ in range(len(self._models) - self.server.max_models)]
        self._release_models(dropped)
        return model

    def _load(self, value: str, progress: bool) -> pl.LoadedModel:
        """Load a registered checkpoint or a file of the checkpoints folder (see `model`)."""
        if value not in pl.REGISTRY:
            path = Path(value).expanduser()
            if not path.is_absolute():
                path = self.checkpoints_dir / path
            path = path.resolve()
            if not self.allow_any_checkpoint and not path.is_relative_to(self.checkpoints_dir.resolve()):
                raise pl.UnknownCheckpointError(
                    f"checkpoint file {value} is outside the checkpoints folder {self.checkpoints_dir}; move it "
                    "there or start the editor with --allow-any-checkpoint"
                )
            value_to_resolve = str(path)
        else:
            value_to_resolve = value
        server = self.server
        config = pl.PipelineConfig(device=server.device, use_cache=not server.no_cache, cache_dir=server.cache_dir)
        return pl.load_model(value_to_resolve, config, self.checkpoints_dir, self.allow_download, progress, label=value)

    def _release_models(self, dropped: list[pl.LoadedModel]) -> None:
        """Return the device memory of dropped models that no tab uses any more."""
        with self._lock:
            in_use = {id(s.model) for s in self._sessions.values()}
        devices = {next(m.G.parameters()).device for m in dropped if id(m) not in in_use}
        dropped.clear()  # the last references: the models' tensors are freed now
        for device in devices:
            release_cached_memory(device)

    # --- sessions --------------------------------------------------------------------------
    def session(self, sid: str) -> Session:
        """The tab's session (created on first use); also frees (or offloads) sessions idle for too long."""
        self.sweep(keep=sid)
        with self._lock:
            session = self._sessions.get(sid)
        if session is None:
            model = self.default_model  # outside the lock: it may have to be loaded again
            with self._lock:
                session = self._sessions.get(sid)
                if session is None:
                    session = Session(sid, self.temp_dir / "sessions" / _safe(sid), self.server, self.device_lock)
                    session.model = model
                    self._sessions[sid] = session
        session.touched = time.monotonic()
        return session

    def video_session(self, sid: str) -> VideoSession:
        """The tab's video state (created on first use), beside its `session(sid)` (touched too)."""
        session = self.session(sid)
        with self._lock:
            video = self._videos.get(sid)
            if video is None:
                video = VideoSession(session.folder / "video", self.server, self.device_lock)
                self._videos[sid] = video
        return video

    def has_session(self, sid: str) -> bool:
        with self._lock:
            return sid in self._sessions

    def close_session(self, sid: str) -> None:
        """Free a tab's state and its files (tab closed): a running drag or render is stopped, its thread joined."""
        with self._lock:
            session = self._sessions.pop(sid, None)
            video = self._videos.pop(sid, None)
        if video is not None:
            video.close()
        if session is not None:
            session.close()
            shutil.rmtree(session.folder, ignore_errors=True)

    def sweep(self, now: float | None = None, keep: str | None = None) -> list[str]:
        """Free every session idle for more than `idle_timeout_s` (a running drag counts as activity).

        Also offloads the sessions idle for more than `ServerOptions.offload_after_s` (`offload_idle`).

        Args:
            now: `time.monotonic()` seconds (None = now).
            keep: a session not to offload (the one a request is about to use).

        Returns:
            The freed session ids.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            busy = {sid for sid, v in self._videos.items() if v.busy}
            idle = [
                sid
                for sid, s in self._sessions.items()
                if not s.busy and sid not in busy and now - s.touched > self.idle_timeout_s
            ]
        for sid in idle:
            self.close_session(sid)
        self.offload_idle(now, keep)
        return idle

    def offload_idle(self, now: float | None = None, keep: str | None = None) -> list[str]:
        """Move the tuned generators of sessions idle for more than `offload_after_s` to the CPU.

        `Session.offload` decides what moves (a tab's own generator on an accelerator, not while
        it drags); the session's next drag moves it back.

        Returns:
            The ids of the sessions offloaded now.
        """
        after = self.server.offload_after_s
        if after is None:
            return []
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [s for sid, s in self._sessions.items() if sid != keep and now - s.touched > after]
        return [s.sid for s in idle if s.offload()]

    def close(self) -> None:
        """Free every session, and the temporary folder if the app made it."""
        for sid in list(self._sessions):
            self.close_session(sid)
        if self._own_temp:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def _safe(sid: str) -> str:
    return "".join(c for c in str(sid) if c.isalnum() or c in "-_")[:64] or "anonymous"
