"""The server-side state of the editor: loaded models and one `Session` per browser tab.

Sessions are keyed by Gradio's per-tab session hash, so two tabs (or two API clients)
never share a photo, latent, tuned generator, points or history. A session is freed when
its tab closes (`Blocks.unload`) or after `idle_timeout_s` without a request.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import pipeline as pl
from editor.session import Session
from editor.settings import ServerOptions

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
        generators: label -> generator, offered before the registry (tests inject tiny models).
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
        self._sessions: dict[str, Session] = {}
        self._models: dict[str, pl.LoadedModel] = {}
        for label, G in (generators or {}).items():
            self._models[label] = pl.LoadedModel(label, G.eval().requires_grad_(False))
        self.default_checkpoint = checkpoint
        self.default_model = self.model(checkpoint)

    # --- models ----------------------------------------------------------------------------
    def checkpoint_choices(self) -> list[str]:
        """The dropdown: injected and loaded models first, then every registered checkpoint."""
        return list(dict.fromkeys([*self._models, *pl.REGISTRY]))

    def model(self, value: str, progress: bool = True) -> pl.LoadedModel:
        """Load (once) a registered checkpoint or a file, through `pipeline` / `stylegan.load_generator`.

        Raises:
            UnknownCheckpointError: a file outside the checkpoints folder (without
                `allow_any_checkpoint`) or an unknown name.
            MissingWeightsError: a registered file that is missing and cannot be downloaded.
        """
        value = str(value).strip()
        with self._lock:
            if value in self._models:
                return self._models[value]
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
        resolved = pl.resolve_checkpoint(
            value_to_resolve, self.checkpoints_dir, allow_download=self.allow_download, progress=progress
        )
        G = pl.load_checkpoint(resolved, device=str(pl.resolve_device(self.server.device)))
        config = pl.PipelineConfig(use_cache=not self.server.no_cache, cache_dir=self.server.cache_dir)
        model = pl.LoadedModel(value, G, resolved, pl.generator_identity(resolved, G, config))
        with self._lock:
            return self._models.setdefault(value, model)

    # --- sessions --------------------------------------------------------------------------
    def session(self, sid: str) -> Session:
        """The tab's session (created on first use); also frees sessions idle for too long."""
        self.sweep()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                session = Session(sid, self.temp_dir / "sessions" / _safe(sid), self.server)
                session.model = self.default_model
                self._sessions[sid] = session
        session.touched = time.monotonic()
        return session

    def has_session(self, sid: str) -> bool:
        with self._lock:
            return sid in self._sessions

    def close_session(self, sid: str) -> None:
        """Free a tab's state and its files (tab closed)."""
        with self._lock:
            session = self._sessions.pop(sid, None)
        if session is not None:
            session.stop.set()
            shutil.rmtree(session.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> list[str]:
        """Free every session idle for more than `idle_timeout_s` (a running drag counts as activity).

        Returns:
            The freed session ids.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [sid for sid, s in self._sessions.items() if not s.busy and now - s.touched > self.idle_timeout_s]
        for sid in idle:
            self.close_session(sid)
        return idle

    def close(self) -> None:
        """Free every session, and the temporary folder if the app made it."""
        for sid in list(self._sessions):
            self.close_session(sid)
        if self._own_temp:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def _safe(sid: str) -> str:
    return "".join(c for c in str(sid) if c.isalnum() or c in "-_")[:64] or "anonymous"
