"""The resumable work folder of a video edit: what a killed run leaves for the next one.

    .<out name>.video-work/            beside the output folder, removed after success
        key.txt                       what the work is for (clip, points, model, configs)
        track.json                    the face track (`align.track.track_to_json`)
        keyframe/                     the keyframe's photo edit (the files a photo edit writes)
        keyframe.pt                   its tuned generator, pivot, drag offset and handles
        runs/000040.pt                the generator tuned on frame 40 (a run's first frame)
        frames/000123.png             a finished frame (lossless; before encoding)
        frames/000123.json            its figures for report.json
        frames/000123.npz             its latent and smoothed composite layers (the next frame
                                      continues from them; dropped once it is finished)

A frame counts as finished when its PNG exists; every file is written to a temporary name and
renamed, PNG last, so a kill leaves either a whole frame or none. Work made for other inputs
(another key) is cleared before use.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from common.fileio import atomic_save, atomic_write, atomic_write_text
from pipeline.io.outputs import write_png

__all__ = ["VideoWork", "work_folder_for", "state_dict"]


def work_folder_for(out: Path) -> Path:
    """The work folder of output folder `out` (hidden, beside it)."""
    out = Path(out).expanduser().absolute()
    return out.parent / f".{out.name}.video-work"


class VideoWork:
    """A video edit's work folder (see the module docstring).

    Args:
        folder: the folder (`work_folder_for(out)`); created if missing.
        key: what the work is for; a folder holding another key is emptied first.
    """

    def __init__(self, folder: Path, key: str):
        self.folder = Path(folder)
        key_file = self.folder / "key.txt"
        if self.folder.exists() and (not key_file.is_file() or key_file.read_text() != key):
            shutil.rmtree(self.folder)
        (self.folder / "frames").mkdir(parents=True, exist_ok=True)
        if not key_file.is_file():
            atomic_write_text(key_file, key)
        self.track_path = self.folder / "track.json"
        self.keyframe_dir = self.folder / "keyframe"
        self.keyframe_path = self.folder / "keyframe.pt"

    def _frame(self, index: int, suffix: str) -> Path:
        return self.folder / "frames" / f"{index:06d}{suffix}"

    def frame_png(self, index: int) -> Path:
        return self._frame(index, ".png")

    def done(self, index: int) -> bool:
        """The frame is finished (its PNG and figures are written)."""
        return self.frame_png(index).is_file() and self._frame(index, ".json").is_file()

    def write_frame(self, index: int, image: np.ndarray, record: dict, state: dict | None = None) -> None:
        """Write a finished frame: its state (latent, layers), figures, then the PNG (last)."""
        if state is not None:
            atomic_write(self._frame(index, ".npz"), lambda f: np.savez(f, **state))
        atomic_write_text(self._frame(index, ".json"), json.dumps(record))
        png = self.frame_png(index)
        partial = png.with_name(f".{png.name}.partial")
        write_png(partial, image)
        os.replace(partial, png)

    def record(self, index: int) -> dict:
        return json.loads(self._frame(index, ".json").read_text())

    def state(self, index: int) -> dict | None:
        """The saved state of a finished frame ({'ws', 'field', 'weight'} numpy arrays), or None."""
        path = self._frame(index, ".npz")
        if not path.is_file():
            return None
        with np.load(path) as data:
            return {name: data[name] for name in data.files}

    def drop_state(self, index: int) -> None:
        """Delete a frame's saved state (the next frame, finished, is continued from instead)."""
        self._frame(index, ".npz").unlink(missing_ok=True)

    def save_keyframe(self, payload: dict) -> None:
        atomic_save(payload, self.keyframe_path)

    def load_keyframe(self) -> dict | None:
        if not self.keyframe_path.is_file():
            return None
        return torch.load(self.keyframe_path, map_location="cpu", weights_only=True)

    def run_generator_path(self, start: int) -> Path:
        """Where the generator tuned on frame `start` (a run's first frame, or every `tune_every`-th) is kept."""
        return self.folder / "runs" / f"{start:06d}.pt"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def remove_if_unused(self) -> None:
        """Remove the folder when it holds nothing a rerun could reuse (a run that failed at once)."""
        useful = self.track_path.is_file() or self.keyframe_path.is_file()
        if not useful and not any((self.folder / "frames").glob("*.png")):
            self.remove()


def state_dict(ws: torch.Tensor, field: np.ndarray | None, weight: np.ndarray | None) -> dict:
    """A frame's state for `VideoWork.write_frame`."""
    state = {"ws": ws.detach().cpu().numpy().astype(np.float32)}
    if field is not None:
        state["field"], state["weight"] = field.astype(np.float32), weight.astype(np.float32)
    return state
