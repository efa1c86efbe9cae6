"""The drag video: frames -> `drag.mp4` (H.264, yuv420p) or `drag.gif`."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from pipeline.errors import ClipError, OutputError
from pipeline.io.clip import ClipWriter

__all__ = ["write_video"]


def _even(image: np.ndarray) -> np.ndarray:
    # yuv420p wants even frame sizes; the drag video drops the odd last row / column.
    h, w = image.shape[:2]
    return image[: h - h % 2, : w - w % 2]


def _write_gif(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration = max(20, int(round(1000 / fps)))
    durations = [duration] * len(images)
    durations[-1] = max(duration, 1000)  # hold the result for a second before looping
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False
    )
    return path


def _write_mp4(path: Path, frames: list[np.ndarray], fps: int) -> bool:
    """H.264 in yuv420p (what browsers and common players decode) through `pipeline.io.clip.ClipWriter`.

    Returns False, leaving no file, when imageio-ffmpeg or its encoder is unavailable.
    """
    first = _even(frames[0])
    h, w = first.shape[:2]
    try:
        with ClipWriter(path, w, h, fps) as writer:
            for f in frames + [frames[-1]] * fps:  # hold the last frame for a second
                writer.write(_even(f))
    except (ClipError, OutputError):
        return False
    return path.is_file() and path.stat().st_size > 0


def write_video(folder: str | os.PathLike, frames: list[np.ndarray], fmt: str = "mp4", fps: int = 10) -> Path:
    """Write drag frames as `drag.mp4` (H.264, yuv420p, even size) or `drag.gif` (PIL).

    The MP4 plays in browsers and common players: libx264 through imageio-ffmpeg,
    which ships its own ffmpeg binary. It falls back to GIF with a warning when that
    encoder is unavailable. Odd frame sizes lose their last row / column.

    Args:
        folder: where the file goes.
        frames: uint8 (H, W, 3) RGB frames, at least one, all the same size.
        fmt: 'mp4' or 'gif'.
        fps: frames per second.

    Returns:
        The written file.
    """
    if not frames:
        raise OutputError("write_video needs at least one frame; record frames with --video")
    folder = Path(folder)
    if fmt == "mp4":
        path = folder / "drag.mp4"
        if _write_mp4(path, frames, fps):
            return path
        if path.exists():
            path.unlink()
        warnings.warn(
            "imageio-ffmpeg cannot write H.264 MP4 here; wrote drag.gif instead", RuntimeWarning, stacklevel=2
        )
    elif fmt != "gif":
        raise OutputError(f"video format must be 'mp4' or 'gif', got {fmt!r}")
    return _write_gif(folder / "drag.gif", frames, fps)
