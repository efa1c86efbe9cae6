"""Writing the results of an edit: images, comparison, video, latents and report, atomically.

Everything is written into a staging folder beside the output folder and moved into place
only when complete (`staged_output_dir`), so a failure or Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from common.paths import check_output_location, os_error_reason, show_path
from pipeline.errors import OutputError

__all__ = [
    "check_output_dir",
    "staged_output_dir",
    "remove_stale_staging",
    "write_png",
    "display_scale",
    "draw_points",
    "comparison_image",
    "write_video",
]

HANDLE_RGB = (230, 40, 40)  # red: handles (where points start / are now)
TARGET_RGB = (40, 110, 255)  # blue: targets
ARROW_RGB = (255, 255, 255)  # white arrow handle -> target, drawn over a dark outline
MIN_DISPLAY = 512  # small crops (e.g. 64 px) are enlarged to about this size for viewing


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_output_dir(
    out_dir: str | os.PathLike, overwrite: bool = False, protected: tuple[str | os.PathLike, ...] = ()
) -> Path:
    """Validate an output folder before any work is done, and clear what killed runs left there.

    The folder must be creatable: a probe file is created and removed in its nearest
    existing ancestor (`common.paths.check_output_location`), so an unwritable location
    fails now, not after an hour of computing. Staging folders that a killed run left beside
    it are removed (`remove_stale_staging`).

    Args:
        out_dir: the folder the results go to.
        overwrite: allow replacing an existing non-empty folder.
        protected: input files (photo, points, mask) that must never be overwritten or deleted.

    Returns:
        `out_dir` as an absolute Path.

    Raises:
        OutputError: `out_dir` cannot be written (permissions, name too long, a file in the
            way), is a file, is non-empty without `overwrite`, or holds an input.
    """
    out = check_output_location(out_dir, "--out", OutputError, fix="choose another --out folder")
    for p in protected:
        if p is not None and _is_within(Path(p), out):
            raise OutputError(f"output folder {out} contains the input {p}; choose another --out folder")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder; choose a folder path")
    if out.is_dir():
        try:
            not_empty = any(out.iterdir())
        except OSError as exc:
            raise OutputError(
                f"--out {show_path(out)}: cannot list the folder, {os_error_reason(exc)}; choose another --out folder"
            ) from None
        if not_empty and not overwrite:
            raise OutputError(
                f"output folder {out} already exists and is not empty; pass --overwrite or choose another --out"
            )
    remove_stale_staging(out)
    return out


def _staging_prefix(out: Path) -> str:
    # The owner's process id is part of the name, so a later run can tell a folder left by a
    # killed run from one a concurrent run is still writing.
    return f".{out.name}.{os.getpid()}."


def _owner_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: leave it alone
    return True


def remove_stale_staging(out_dir: str | os.PathLike) -> list[Path]:
    """Remove the hidden staging folders of `out_dir` whose run no longer exists (it was killed).

    A staging folder `.<name>.<pid>.<random>.partial` is removed when process <pid> is gone. A
    `.old` folder (the previous results, moved aside during the final swap) is put back as
    `out_dir` if the run was killed between the two renames and `out_dir` is missing, else removed.

    Args:
        out_dir: the output folder (need not exist).

    Returns:
        The folders removed or restored.
    """
    out = Path(out_dir).expanduser().absolute()
    head = f".{out.name}."
    try:
        candidates = [
            p for p in out.parent.iterdir() if p.name.startswith(head) and p.name.endswith((".partial", ".old"))
        ]
    except OSError:
        return []
    cleaned = []
    for folder in candidates:
        pid_text = folder.name[len(head) :].split(".", 1)[0]
        if not pid_text.isdigit() or _owner_alive(int(pid_text)):
            continue
        if folder.name.endswith(".old") and (folder / "old").is_dir() and not out.exists():
            os.replace(folder / "old", out)  # the killed run had moved the previous results aside
        shutil.rmtree(folder, ignore_errors=True)
        cleaned.append(folder)
    return cleaned


def _missing_ancestors(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


@contextlib.contextmanager
def staged_output_dir(out_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces `out_dir`, on any error it is removed.

    The staging folder is created in `out_dir`'s parent (same file system, so the final
    step is a rename). An existing `out_dir` is only touched after everything was
    written, and only with `overwrite`. On failure nothing is left: not the staging folder,
    nor the parent folders this call created.
    """
    out = Path(out_dir).expanduser().absolute()
    created = _missing_ancestors(out.parent)
    ok = False
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(out), suffix=".partial", dir=out.parent))
    try:
        yield staging
        if out.exists():
            if any(out.iterdir()) and not overwrite:
                raise OutputError(
                    f"output folder {out} appeared while running and is not empty; "
                    "pass --overwrite or choose another --out"
                )
            trash = Path(tempfile.mkdtemp(prefix=_staging_prefix(out), suffix=".old", dir=out.parent))
            os.replace(out, trash / "old")
            try:
                os.replace(staging, out)
            except BaseException:
                os.replace(trash / "old", out)  # put the previous results back
                raise
            finally:
                shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
        ok = True
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if not ok:
            for folder in created:  # deepest first; only if still empty
                with contextlib.suppress(OSError):
                    folder.rmdir()


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 (H, W, 3) RGB (or (H, W) grey) image as PNG (lossless)."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise OutputError(f"write_png expects a uint8 (H, W[, 3]) image, got {arr.dtype} {arr.shape}")
    Image.fromarray(np.ascontiguousarray(arr)).save(path, format="PNG")
    return Path(path)


def display_scale(size: int) -> int:
    """Integer enlargement for viewing a size x size crop: small crops get bigger (64 -> x8)."""
    return max(1, int(math.ceil(MIN_DISPLAY / max(1, size))) if size < MIN_DISPLAY else 1)


def _enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return np.ascontiguousarray(image).copy()
    return cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_NEAREST)


def _to_display(points: np.ndarray, scale: int) -> np.ndarray:
    # Pixel centres at integer coordinates: pixel centre c of the original lands at
    # c * scale + (scale - 1) / 2 after a nearest-neighbour enlargement.
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) * scale + (scale - 1) * 0.5


def draw_points(
    image: np.ndarray, handles: np.ndarray | None, targets: np.ndarray | None, arrows: bool = True, scale: int = 1
) -> np.ndarray:
    """Draw handles (red dots), targets (blue rings) and handle -> target arrows on an enlarged copy.

    *Convention*: points are (x, y) pixels of `image` (before enlargement), x right, y
    down, pixel centres at integer coordinates.

    Args:
        image: uint8 (H, W, 3) RGB (not modified).
        handles, targets: (N, 2) float or None.
        arrows: draw an arrow from each handle to its target.
        scale: integer enlargement applied first (nearest neighbour).

    Returns:
        uint8 (H * scale, W * scale, 3) RGB.
    """
    canvas = _enlarge(np.asarray(image, dtype=np.uint8), scale)
    side = max(canvas.shape[:2])
    radius = max(3, side // 100)
    thickness = max(1, side // 300)
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px

    def fx(p: np.ndarray) -> tuple[int, int]:
        return int(round(p[0] * (1 << shift))), int(round(p[1] * (1 << shift)))

    h = None if handles is None else _to_display(handles, scale)
    t = None if targets is None else _to_display(targets, scale)
    # Targets are rings and handles dots, and the arrow is drawn between them, so that even a
    # short drag shows where it goes.
    if t is not None:
        for p in t:
            cv2.circle(canvas, fx(p), radius << shift, (0, 0, 0), thickness + 3, cv2.LINE_AA, shift)
            cv2.circle(canvas, fx(p), radius << shift, TARGET_RGB, thickness + 1, cv2.LINE_AA, shift)
    if arrows and h is not None and t is not None:
        for a, b in zip(h, t):
            length = float(np.hypot(*(b - a)))
            tip = min(0.5, 2.0 * radius / length) if length > 0 else 0.3
            cv2.arrowedLine(canvas, fx(a), fx(b), (0, 0, 0), thickness + 2, cv2.LINE_AA, shift, tip)
            cv2.arrowedLine(canvas, fx(a), fx(b), ARROW_RGB, thickness, cv2.LINE_AA, shift, tip)
    if h is not None:
        small = max(2, (radius * 2) // 3)
        for p in h:
            cv2.circle(canvas, fx(p), small << shift, (0, 0, 0), thickness + 2, cv2.LINE_AA, shift)
            cv2.circle(canvas, fx(p), small << shift, HANDLE_RGB, -1, cv2.LINE_AA, shift)
    return canvas


def comparison_image(
    before: np.ndarray,
    after: np.ndarray,
    handles_before: np.ndarray,
    targets: np.ndarray,
    handles_after: np.ndarray,
    gap: int = 8,
) -> np.ndarray:
    """Side-by-side crop before | after, with handle -> target arrows on both.

    Args:
        before: uint8 (R, R, 3), the aligned crop (what the user pointed at).
        after: uint8 (R, R, 3), the edited crop.
        handles_before: (N, 2) handle points in crop pixels, as given.
        targets: (N, 2) target points in crop pixels.
        handles_after: (N, 2) final tracked handle points in crop pixels.
        gap: white pixels between the panels (after enlargement).

    Returns:
        uint8 (R*s, 2*R*s + gap, 3) RGB with s = `display_scale(R)`.
    """
    scale = display_scale(before.shape[0])
    left = draw_points(before, handles_before, targets, arrows=True, scale=scale)
    right = draw_points(after, handles_after, targets, arrows=True, scale=scale)
    spacer = np.full((left.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def _even(image: np.ndarray) -> np.ndarray:
    # H.264/MPEG-4 encoders want even frame sizes.
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
    """H.264 in yuv420p (what browsers and common players decode), through imageio-ffmpeg's own ffmpeg.

    Returns False, leaving no file, when imageio-ffmpeg or its encoder is unavailable.
    """
    try:
        import imageio_ffmpeg
    except ImportError:
        return False
    first = _even(frames[0])
    h, w = first.shape[:2]
    # macro_block_size 2: only even sizes are needed for yuv420p (no rescaling to multiples of 16);
    # +faststart puts the index first so a browser can start playing before the whole file is loaded.
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (w, h),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        macro_block_size=2,
        ffmpeg_log_level="error",
        output_params=["-movflags", "+faststart"],
    )
    try:
        writer.send(None)
        for f in frames + [frames[-1]] * fps:  # hold the last frame for a second
            writer.send(np.ascontiguousarray(_even(f)))
        writer.close()
    except (OSError, RuntimeError):
        writer.close()
        if path.exists():
            path.unlink()
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
