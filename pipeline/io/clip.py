"""Video clips in and out: content detection, probing, streaming frames, an atomic H.264 writer.

Everything goes through imageio-ffmpeg's bundled ffmpeg binary (libx264 and aac built in), so
no system ffmpeg is needed. Frames at this API are uint8 (H, W, 3) RGB, one at a time: memory
stays bounded whatever the clip's length.

Rule for `is_video` (by content, never by the file name): a file PIL opens as a still image is
an image, whatever its extension (a PNG named `.mp4`, and animated GIFs too: the photo path
reads their first frame); otherwise it is a video when ffmpeg decodes at least two frames of
a video stream from it (mp4, mov, mkv, webm, avi, ... whatever container ffmpeg reads). A
single-frame video file is not a video (there is nothing to track through time).

Frame indices are exact: `read_frames` passes every decoded frame through (`-fps_mode
passthrough`, no duplicates or drops to a constant rate), and `ClipInfo.frame_count` counts
frames decoded the same way.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from common.paths import show_path
from pipeline.errors import ClipError, OutputError

__all__ = [
    "ClipInfo",
    "ClipWriter",
    "even_size",
    "ffmpeg_exe",
    "has_audio",
    "is_video",
    "probe_clip",
    "read_frames",
    "write_clip",
]

# Exact rounding and full-resolution chroma in the RGB <-> YUV conversions: without them a
# round trip comes back about one grey level darker on average (measured with this ffmpeg).
_SWS_FLAGS = "accurate_rnd+full_chroma_int+bicubic"
DEFAULT_CRF = 18  # x264: 18 is about visually lossless; 0 is lossless, 51 worst (x264 docs)


@dataclass(frozen=True)
class ClipInfo:
    """What `probe_clip` finds in a video file.

    Attributes:
        path: the file.
        width: frame width in pixels, as decoded (after the container's rotation).
        height: frame height in pixels.
        fps: frames per second (the stream's average rate).
        frame_count: exactly the number of frames `read_frames` yields.
        has_audio: the file has an audio stream.
        duration: seconds, as the container states it.
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    has_audio: bool
    duration: float


def ffmpeg_exe() -> str:
    """The path of imageio-ffmpeg's bundled ffmpeg binary.

    Raises:
        ClipError: imageio-ffmpeg is not installed or has no binary for this platform.
    """
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise ClipError(f"ffmpeg is unavailable ({exc}); install it with `pip install imageio-ffmpeg`") from None


def even_size(width: int, height: int) -> tuple[int, int]:
    """The encoded size of a (width, height) frame: yuv420p needs even sizes, so odd ones grow by one."""
    return width + width % 2, height + height % 2


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, text=True, errors="replace"
    )


def _stream_lines(path: Path) -> list[str]:
    """ffmpeg's 'Stream #0:i ...' lines for `path` (empty when ffmpeg cannot read it)."""
    proc = _run(["-i", str(path)])  # no output file: ffmpeg prints the streams and exits 1
    return [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("Stream #")]


def has_audio(path: str | os.PathLike) -> bool:
    """Whether ffmpeg finds an audio stream in `path` (False for unreadable files)."""
    return any(": Audio:" in line for line in _stream_lines(Path(path)))


def _decoded_frames(path: Path, limit: int | None = None) -> int:
    """Frames ffmpeg decodes from the first video stream (passthrough timing), at most `limit`."""
    args = ["-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
    if limit is not None:
        args += ["-frames:v", str(limit)]
    proc = _run([*args, "-f", "null", "-"])
    if proc.returncode != 0:
        return 0
    counts = re.findall(r"frame=\s*(\d+)", proc.stderr)
    return int(counts[-1]) if counts else 0


def _is_still_image(path: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False


def is_video(path: str | os.PathLike) -> bool:
    """Whether `path` holds a video clip, decided by its content (see the module docstring's rule).

    Args:
        path: any file; a missing or unreadable one is not a video.

    Returns:
        False for anything PIL opens as a still image (whatever its extension) and for files
        ffmpeg cannot decode two video frames from; True otherwise.
    """
    path = Path(path)
    if not path.is_file() or _is_still_image(path):
        return False
    return _decoded_frames(path, limit=2) >= 2


def _check_clip_file(path: Path) -> None:
    if not path.exists():
        raise ClipError(f"video {show_path(path)} does not exist; check the path")
    if not path.is_file():
        raise ClipError(f"video {show_path(path)} is not a file; pass a video file")
    if not os.access(path, os.R_OK):
        raise ClipError(f"video {show_path(path)} cannot be read (permission denied); check its permissions")


def _meta(path: Path) -> dict:
    import imageio_ffmpeg

    ffmpeg_exe()
    frames = imageio_ffmpeg.read_frames(str(path))
    try:
        return next(frames)
    except (OSError, RuntimeError, StopIteration) as exc:
        first = str(exc).strip().splitlines()[-1:] or [""]
        raise ClipError(
            f"video {show_path(path)} cannot be read by ffmpeg ({first[0][:120]}); pass a video file ffmpeg reads"
        ) from None
    finally:
        frames.close()


def probe_clip(path: str | os.PathLike) -> ClipInfo:
    """Size, rate, exact frame count and audio of a video file (decodes it once to count frames).

    Args:
        path: the video file.

    Returns:
        Its `ClipInfo`.

    Raises:
        ClipError: the file is missing, unreadable, not a video or has no decodable frame.
    """
    path = Path(path).expanduser()
    _check_clip_file(path)
    stat = path.stat()
    # Counting decodes the whole clip: a run probes the same file from the command line, the
    # job and the edit, so the answer is kept for as long as the file is unchanged.
    return _probe(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _probe(path: Path, size: int, mtime_ns: int) -> ClipInfo:
    """`probe_clip` of a checked file (`size` and `mtime_ns` make a changed file a new entry)."""
    lines = _stream_lines(path)
    if not any(": Video:" in line for line in lines):
        raise ClipError(f"{show_path(path)} has no video stream ffmpeg can read; pass a video file (mp4, mov, ...)")
    meta = _meta(path)
    count = _decoded_frames(path)
    if count < 1:
        raise ClipError(f"video {show_path(path)} has no decodable frame; re-encode it or pass another file")
    width, height = (int(v) for v in meta["size"])
    fps = float(meta.get("fps") or 0.0)
    duration = float(meta.get("duration") or (count / fps if fps else 0.0))
    return ClipInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        frame_count=count,
        has_audio=any(": Audio:" in line for line in lines),
        duration=duration,
    )


def read_frames(path: str | os.PathLike, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Streams a clip's frames with their indices, from frame `start` to the end.

    Frames before `start` are decoded but dropped inside ffmpeg (a `select` filter on the
    decoded frame number: exact, whatever the keyframes and timestamps), so they are never
    converted or piped. Closing the generator early stops ffmpeg.

    Args:
        path: the video file.
        start: index of the first frame to yield (0-based, >= 0).

    Yields:
        (index, frame) with frame uint8 (H, W, 3) RGB, a fresh array each time.

    Raises:
        ClipError: the file is missing or ffmpeg cannot read it.
    """
    import imageio_ffmpeg

    if start < 0:
        raise ClipError(f"start frame must be >= 0, got {start}; pass a frame index of the clip")
    path = Path(path).expanduser()
    _check_clip_file(path)
    ffmpeg_exe()
    params = ["-map", "0:v:0", "-fps_mode", "passthrough", "-sws_flags", _SWS_FLAGS]
    if start:
        params += ["-vf", f"select=gte(n\\,{int(start)})"]
    frames = imageio_ffmpeg.read_frames(str(path), output_params=params)
    try:
        try:
            meta = next(frames)
        except (OSError, RuntimeError) as exc:
            raise ClipError(f"video {show_path(path)} cannot be read by ffmpeg ({exc}); pass a video file") from None
        width, height = (int(v) for v in meta["size"])
        for index, raw in enumerate(frames, start=start):
            yield index, np.frombuffer(raw, np.uint8).reshape(height, width, 3).copy()
    finally:
        frames.close()  # imageio-ffmpeg stops (and if need be kills) the process


def _staging_path(path: Path, tag: str) -> Path:
    # Beside `path` (same file system, so the final rename is atomic), hidden, and with `path`'s
    # extension so that ffmpeg picks the same container.
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".{tag}{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(name)


def _remove(path: Path | None) -> None:
    if path is not None and path.exists():
        path.unlink()


class ClipWriter:
    """Writes a clip frame by frame: H.264 yuv420p (+faststart), audio copied from another file, atomically.

    Frames stream into an ffmpeg process that encodes a staging file beside `path`. On a clean
    exit the audio of `audio_from` (when it has an audio stream) is muxed in (stream copy when
    the container takes it, else AAC), then the staging file is renamed onto `path`. On any
    exception (KeyboardInterrupt included) ffmpeg is killed and the staging files are removed:
    `path` is either the whole clip or untouched. Same frame count and fps as written.

    Odd sizes: yuv420p needs even width and height, so an odd frame is padded by one
    replicated pixel on the right and/or bottom (`even_size`; `size` is the encoded size).
    Crop `[:height, :width]` after reading to get the original pixels back.

    Usage:
        with ClipWriter("edited.mp4", w, h, fps, audio_from="clip.mp4") as writer:
            for frame in frames:
                writer.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,  # frame width in pixels (odd is padded, see the class docstring)
        height: int,  # frame height in pixels
        fps: float,  # frames per second (> 0)
        audio_from: str | os.PathLike | None = None,  # file whose audio is copied; None = no audio
        crf: int = DEFAULT_CRF,  # x264 constant rate factor, 0 (lossless) .. 51 (worst)
        preset: str = "medium",  # x264 speed/size trade-off ('ultrafast' .. 'veryslow')
    ):
        if width < 1 or height < 1:
            raise OutputError(f"clip size must be positive, got {width}x{height}; pass the frames' size")
        if not fps > 0:
            raise OutputError(f"clip fps must be > 0, got {fps}; pass the source clip's fps")
        if not 0 <= crf <= 51:
            raise OutputError(f"crf must be in [0, 51], got {crf}; 18 is about visually lossless")
        self.path = Path(path).expanduser()
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.size = even_size(self.width, self.height)
        self.audio_from = None if audio_from is None else Path(audio_from)
        self.crf, self.preset = int(crf), preset
        self.frames_written = 0
        self._proc: subprocess.Popen | None = None
        self._staging: Path | None = None
        self._log = None

    def __enter__(self) -> ClipWriter:
        exe = ffmpeg_exe()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._staging = _staging_path(self.path, "video")
        except OSError as exc:
            raise OutputError(
                f"cannot write beside {show_path(self.path)} ({exc.strerror}); choose another folder"
            ) from None
        w, h = self.size
        cmd = [exe, "-hide_banner", "-nostdin", "-y", "-v", "error"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{self.fps!r}", "-i", "-"]
        cmd += ["-sws_flags", _SWS_FLAGS]
        cmd += ["-an", "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p"]
        cmd += ["-fps_mode", "passthrough", "-movflags", "+faststart", str(self._staging)]
        self._log = tempfile.TemporaryFile()
        # Own session: a Ctrl-C in the terminal reaches Python, which kills ffmpeg itself, instead of
        # ffmpeg finishing a file on its own.
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True
            )
        except OSError as exc:
            self._log.close()
            _remove(self._staging)
            raise ClipError(f"cannot start ffmpeg ({exc}); reinstall imageio-ffmpeg") from None
        return self

    def write(self, frame: np.ndarray) -> None:
        """Appends one frame.

        Args:
            frame: uint8 (height, width, 3) RGB.
        """
        if self._proc is None:
            raise OutputError("ClipWriter.write outside its `with` block; open it with `with ClipWriter(...)`")
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
            raise OutputError(
                f"clip frames must be uint8 ({self.height}, {self.width}, 3), got {frame.dtype} {frame.shape}; "
                "convert or resize the frame"
            )
        pad_w, pad_h = self.size[0] - self.width, self.size[1] - self.height
        if pad_w or pad_h:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError):
            raise OutputError(f"ffmpeg stopped while writing {show_path(self.path)}: {self._error_text()}") from None
        self.frames_written += 1

    def _error_text(self) -> str:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip().splitlines()
        return text[-1][:200] if text else "no message"

    def _abort(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None and self._proc.stdin:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        _remove(self._staging)

    def _finish(self) -> None:
        if self.frames_written == 0:
            raise OutputError(f"no frame was written to {show_path(self.path)}; write at least one frame")
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise OutputError(f"ffmpeg could not encode {show_path(self.path)}: {self._error_text()}")
        video = self._staging
        if self.audio_from is not None and has_audio(self.audio_from):
            muxed = _staging_path(self.path, "muxed")
            try:
                _mux_audio(video, self.audio_from, muxed)
                os.replace(muxed, video)
            finally:
                _remove(muxed)
        os.replace(video, self.path)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            self._abort()  # no-op after a clean finish (staging renamed, ffmpeg done)
            if self._log is not None:
                self._log.close()
            self._proc = None


def _mux_audio(video: Path, audio_from: Path, out: Path) -> None:
    """`video`'s stream with `audio_from`'s first audio stream into `out`: copy, else AAC."""
    base = ["-y", "-v", "error", "-i", str(video), "-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0"]
    base += ["-c:v", "copy", "-movflags", "+faststart"]
    for audio_codec in (["-c:a", "copy"], ["-c:a", "aac", "-b:a", "192k"]):
        proc = _run([*base, *audio_codec, str(out)])
        if proc.returncode == 0:
            return
    last = proc.stderr.strip().splitlines()[-1:] or ["no message"]
    raise OutputError(f"could not copy the audio of {show_path(audio_from)}: {last[0][:200]}; pass audio_from=None")


def write_clip(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    audio_from: str | os.PathLike | None = None,
    crf: int = DEFAULT_CRF,
) -> Path:
    """Writes frames as an H.264 clip through `ClipWriter` (atomic; audio copied from `audio_from`).

    Args:
        path: the clip to write (its extension picks the container, e.g. .mp4).
        frames: uint8 (H, W, 3) RGB frames, all the same size, at least one (streamed).
        fps: frames per second.
        audio_from: a file whose audio stream is copied in, or None.
        crf: x264 constant rate factor (0 lossless .. 51 worst).

    Returns:
        The written path.
    """
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise OutputError(f"write_clip got no frames for {show_path(path)}; pass at least one frame")
    h, w = np.asarray(first).shape[:2]
    with ClipWriter(path, w, h, fps, audio_from=audio_from, crf=crf) as writer:
        writer.write(first)
        for frame in iterator:
            writer.write(frame)
    return writer.path
