"""Synthetic test clips for the video edit's tests and benchmark (issue 20).

Two kinds, both deterministic for their arguments:

* **photos**: a virtual camera over still photos. `photo_clip_frames` pans, zooms and slightly
  rotates over one photo (parameters eased from start to end value, plus an optional gentle
  hand-held wobble whose phases come from `seed`); `cut_clip` concatenates such shots with
  hard cuts. The default clip (`default_photo_parts`) is obama.jpg, a cut to biden.jpg alone
  (the chosen face absent), then a cut to obama3.jpg beside biden.jpg (the same person again,
  in another photo, beside a second person).
* **walk**: `latent_walk_frames` renders a smooth walk in W of a generator (the face model):
  keyframe latents from consecutive seeds, joined by a Catmull-Rom spline.

`sine_audio` makes a sine tone track and `make_test_clip` a small clip of distinct `wave_frames`
(and optionally that tone), for tests of reading, writing and the audio copy.

    python -m evaluation.video_clips --kind photos --out clip.mp4 [--frames 64 --size 384x256 --audio]
    python -m evaluation.video_clips --kind walk --out walk.mp4 [--checkpoint face-64 --size 256x256]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from common.errors import DragPipelineError, one_line
from common.images import read_image
from common.paths import shared_data
from pipeline.errors import ClipError
from pipeline.io.clip import ClipWriter, ffmpeg_exe
from pipeline.io.drawing import side_by_side

__all__ = [
    "Camera",
    "photo_clip_frames",
    "cut_clip",
    "side_by_side_photo",
    "latent_walk_frames",
    "default_photo_parts",
    "sine_audio",
    "make_test_clip",
    "wave_frames",
    "main",
]


@dataclass(frozen=True)
class Camera:
    """A virtual camera move over one photo, each parameter eased from its first to its second value.

    Attributes:
        center: (x, y) the view's centre at the start, in fractions of the photo's width and height.
        zoom: (start, end) magnification; 1 shows the largest centred region of the photo with
            the frame's aspect ratio (the photo covers the frame), 2 shows half of it.
        pan: (dx, dy) total shift of the view over the shot, in fractions of the frame size
            (x right, y down; 0.1 moves the view a tenth of the frame width to the right).
        rotate_deg: (start, end) camera roll in degrees (counter-clockwise image rotation).
        shake: amplitude of the hand-held wobble in fractions of the frame size (0 = none).
        seed: picks the wobble's phases.
    """

    center: tuple[float, float] = (0.5, 0.5)
    zoom: tuple[float, float] = (1.0, 1.1)
    pan: tuple[float, float] = (0.05, 0.02)
    rotate_deg: tuple[float, float] = (-2.0, 2.0)
    shake: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if min(self.zoom) <= 0:
            raise ValueError(f"Camera zoom must be > 0, got {self.zoom}")
        if self.shake < 0:
            raise ValueError(f"Camera shake must be >= 0, got {self.shake}")


def _ease(t: float) -> float:
    return t * t * (3.0 - 2.0 * t)  # smoothstep: the camera starts and stops gently


def _frame_from_photo(photo_size: tuple[int, int], size: tuple[int, int], zoom: float, center, shift, angle: float):
    """2x3 affine `frame_from_photo`: photo point `center` (moved by `shift` frame pixels) to the frame centre."""
    pw, ph = photo_size
    w, h = size
    scale = max(w / pw, h / ph) * zoom
    cx, cy = center[0] * (pw - 1), center[1] * (ph - 1)
    rotation = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    # cv2 keeps (cx, cy) fixed; move it to the frame centre, minus the view's shift.
    rotation[0, 2] += (w - 1) / 2.0 - cx - shift[0]
    rotation[1, 2] += (h - 1) / 2.0 - cy - shift[1]
    return rotation


def photo_clip_frames(
    photo: np.ndarray, frames: int, size: tuple[int, int] = (256, 256), camera: Camera = Camera()
) -> Iterator[np.ndarray]:
    """A virtual camera moving smoothly over a photo.

    *Convention*: x right, y down; the view's centre starts on `camera.center`. Borders that
    the move uncovers repeat the edge pixels (never a mirrored second copy of a face).

    Args:
        photo: uint8 (H, W, 3) RGB.
        frames: number of frames (>= 1).
        size: (width, height) of the frames.
        camera: the move.

    Yields:
        uint8 (size[1], size[0], 3) RGB frames.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    w, h = size
    photo_size = (photo.shape[1], photo.shape[0])
    phases = np.random.RandomState(camera.seed).uniform(0, 2 * math.pi, size=4)
    for i in range(frames):
        t = _ease(i / (frames - 1)) if frames > 1 else 0.0
        zoom = camera.zoom[0] + (camera.zoom[1] - camera.zoom[0]) * t
        angle = camera.rotate_deg[0] + (camera.rotate_deg[1] - camera.rotate_deg[0]) * t
        u = i / max(frames - 1, 1)
        wobble = camera.shake * np.array(
            [math.sin(2 * math.pi * 0.7 * u + phases[0]) + 0.5 * math.sin(2 * math.pi * 1.9 * u + phases[1]),
             math.sin(2 * math.pi * 0.5 * u + phases[2]) + 0.5 * math.sin(2 * math.pi * 1.3 * u + phases[3])]
        )  # fmt: skip
        shift = ((camera.pan[0] * t + wobble[0]) * w, (camera.pan[1] * t + wobble[1]) * h)
        matrix = _frame_from_photo(photo_size, size, zoom, camera.center, shift, angle)
        yield cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def cut_clip(
    parts: Sequence[tuple[np.ndarray, int, Camera]], size: tuple[int, int] = (256, 256)
) -> Iterator[np.ndarray]:
    """Shots over photos, one after the other with hard cuts.

    Args:
        parts: (photo uint8 (H, W, 3), number of frames, camera move) per shot.
        size: (width, height) of the frames.

    Yields:
        uint8 (size[1], size[0], 3) RGB frames, sum of the parts' frame counts in all.
    """
    for photo, frames, camera in parts:
        yield from photo_clip_frames(photo, frames, size, camera)


def side_by_side_photo(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two photos side by side at the smaller one's height (a frame with two people).

    Args:
        a: uint8 (H1, W1, 3), left.
        b: uint8 (H2, W2, 3), right.

    Returns:
        uint8 (H, W1' + W2', 3) with H = min(H1, H2) and each photo resized keeping its aspect.
    """
    height = min(a.shape[0], b.shape[0])

    def fit(image: np.ndarray) -> np.ndarray:
        width = max(1, round(image.shape[1] * height / image.shape[0]))
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)

    return side_by_side(fit(a), fit(b))


def _catmull_rom(p0, p1, p2, p3, t: float):
    # Uniform Catmull-Rom: passes through every key with a continuous first derivative.
    return 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t + (3 * p1 - p0 - 3 * p2 + p3) * t**3)


def latent_walk_frames(
    G,
    frames: int,
    seed: int = 0,
    truncation: float = 0.7,
    step: float = 0.05,
    size: tuple[int, int] | None = None,
) -> Iterator[np.ndarray]:
    """A smooth walk in W: keyframe latents of seeds seed, seed+1, ... joined by a Catmull-Rom spline.

    Args:
        G: the generator (not modified); unconditional.
        frames: number of frames (>= 1).
        seed: the first keyframe's seed (NVlabs' `seed_to_z`).
        truncation: truncation psi of the keyframes' w (1 = none).
        step: fraction of the way from one keyframe to the next per frame (0.05 = 20 frames apart).
        size: (width, height) to resize the frames to (bicubic), or None for G's resolution.

    Yields:
        uint8 (H, W, 3) RGB frames.
    """
    import torch

    from stylegan.generate import seed_to_z, uint8_from_ws

    if frames < 1 or not step > 0:
        raise ValueError(f"frames must be >= 1 and step > 0, got {frames} and {step}")
    device = next(G.parameters()).device
    keys = int(math.ceil((frames - 1) * step)) + 4  # one before the first and two after the last segment
    z = torch.cat([seed_to_z(seed + k, G.z_dim) for k in range(keys)]).to(device)
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=truncation)  # (keys, num_ws, w_dim)
    for i in range(frames):
        position = 1.0 + i * step  # key 0 only shapes the first segment's tangent
        k = int(math.floor(position))
        image = uint8_from_ws(G, _catmull_rom(ws[k - 1], ws[k], ws[k + 1], ws[k + 2], position - k)[None])[0]
        if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
            image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_CUBIC)
        yield image


def default_photo_parts(photos_dir: str | os.PathLike, frames: int = 64) -> list[tuple[np.ndarray, int, Camera]]:
    """The benchmark's photo clip: obama.jpg, a cut to biden.jpg alone, a cut to obama3.jpg beside biden.jpg.

    The chosen face (Obama) is in the first and last shots, in two different photos; the middle
    shot (a sixth of the frames) shows only the second person, so it must come out unchanged.

    Args:
        photos_dir: the folder of the shared photos (../shared/data/photos).
        frames: total frames: 3/8 the first shot, 1/6 the second, the rest the third.

    Returns:
        `cut_clip` parts.

    Raises:
        ClipError: a photo is missing (the shared data folder is absent).
    """
    photos_dir = Path(photos_dir)
    names = ("obama.jpg", "obama3.jpg", "biden.jpg")
    missing = [name for name in names if not (photos_dir / name).is_file()]
    if missing:
        raise ClipError(
            f"photos {', '.join(missing)} not found in {photos_dir}; pass --photos DIR or set DRAGGAN_SHARED"
        )
    obama, obama3, biden = (read_image(photos_dir / name, what="photo") for name in names)
    first, second = max(1, frames * 3 // 8), max(1, frames // 6)
    return [
        (obama, first, Camera((0.5, 0.3), (1.0, 1.15), (0.04, 0.03), (-3.0, 2.0), 0.004, 1)),
        (biden, second, Camera((0.5, 0.35), (1.2, 1.25), (0.02, 0.0), (0.0, 1.0), 0.004, 3)),
        (side_by_side_photo(obama3, biden), frames - first - second,
         Camera((0.55, 0.3), (1.3, 1.4), (-0.03, 0.02), (1.5, -1.5), 0.004, 2)),
    ]  # fmt: skip


def sine_audio(path: str | os.PathLike, seconds: float, frequency: float = 440.0) -> Path:
    """Writes a sine tone track (AAC in .m4a / .mp4, or whatever `path`'s extension picks).

    Args:
        path: the audio file.
        seconds: its duration (> 0).
        frequency: the tone in Hz.

    Returns:
        `path`.
    """
    path = Path(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    cmd += ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=44100:duration={seconds}"]
    cmd += ["-c:a", "aac", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClipError(f"ffmpeg could not write a sine track to {path}: {proc.stderr.strip()[-200:]}")
    return path


def wave_frames(frames: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Distinct smooth frames (moving colour waves) that H.264 keeps within a grey level or two.

    Args:
        frames: number of frames.
        size: (width, height).

    Yields:
        uint8 (height, width, 3) RGB.
    """
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    for i in range(frames):
        # Smooth waves whose phases move every frame: distinct frames that H.264 keeps closely.
        phase = 0.9 * i
        frame = np.stack(
            [128 + 90 * np.sin(2 * np.pi * (xx + 0.3 * yy) + phase), 128 + 90 * np.sin(2 * np.pi * yy - 0.7 * phase),
             128 + 90 * np.cos(2 * np.pi * (xx - yy) + 0.4 * phase)], axis=-1
        )  # fmt: skip
        yield np.round(frame).astype(np.uint8)


def make_test_clip(
    path: str | os.PathLike,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    fps: float = 25.0,
    audio: bool = True,
    crf: int = 10,
) -> list[np.ndarray]:
    """A small clip of distinct smooth frames, with a sine tone track when `audio`; for tests.

    Args:
        path: the clip to write (.mp4).
        frames: number of frames.
        size: (width, height).
        fps: frames per second.
        audio: add a 440 Hz tone as long as the clip.
        crf: x264 quality (low = close to the frames).

    Returns:
        The frames written, uint8 (H, W, 3) each.
    """
    path = Path(path)
    images = list(wave_frames(frames, size))
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tone = sine_audio(Path(tmp) / "tone.m4a", frames / fps) if audio else None
        with ClipWriter(path, size[0], size[1], fps, audio_from=tone, crf=crf) as writer:
            for image in images:
                writer.write(image)
    return images


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.video_clips", description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=("photos", "walk"), default="photos")
    p.add_argument("--out", required=True, help="the clip to write (e.g. clip.mp4)")
    p.add_argument("--frames", type=int, default=64, help="number of frames (default 64)")
    p.add_argument("--size", default=None, help="WxH (default 384x256 for photos, 256x256 for walk)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--audio", action="store_true", help="add a 440 Hz sine tone track")
    p.add_argument("--photos", default=None, help="photos folder (default ../shared/data/photos, env DRAGGAN_SHARED)")
    p.add_argument("--checkpoint", default="face-64", help="walk: registered name or generator file")
    p.add_argument("--seed", type=int, default=0, help="walk: first keyframe seed")
    p.add_argument("--truncation", type=float, default=0.7, help="walk: truncation psi")
    p.add_argument("--step", type=float, default=0.05, help="walk: keyframes per frame")
    return p


def _frames_for(args: argparse.Namespace, size: tuple[int, int]) -> Iterator[np.ndarray]:
    if args.kind == "photos":
        photos = Path(args.photos) if args.photos else shared_data("data/photos")
        return cut_clip(default_photo_parts(photos, args.frames), size)
    from hub.registry import load_checkpoint, resolve_checkpoint

    G = load_checkpoint(resolve_checkpoint(args.checkpoint, allow_download=False))
    return latent_walk_frames(G, args.frames, args.seed, args.truncation, args.step, size)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring). Returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        size = args.size or ("384x256" if args.kind == "photos" else "256x256")
        w, h = (int(v) for v in size.lower().split("x"))
        if args.frames < 2 or w < 2 or h < 2:
            raise ValueError
    except ValueError:
        print(f"error: bad --size {args.size!r} or --frames {args.frames}; use e.g. 256x256 and >= 2", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        frames = _frames_for(args, (w, h))
        with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as tmp:
            tone = sine_audio(Path(tmp) / "tone.m4a", args.frames / args.fps) if args.audio else None
            with ClipWriter(out, w, h, args.fps, audio_from=tone) as writer:
                for frame in frames:
                    writer.write(frame)
    except DragPipelineError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {out} ({writer.frames_written} frames, {w}x{h}, {args.fps:g} fps{', audio' if args.audio else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
