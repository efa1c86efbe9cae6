"""How a video edit holds up frame by frame: identity, reach, flicker, untouched frames, speed.

    python -m evaluation.video_quality --clip photos            # the shared photos, a cut, two people
    python -m evaluation.video_quality --clip walk              # a latent walk of the face model
    python -m evaluation.video_quality --clip my.mp4 --keyframe 10

A named edit (`evaluation.composite_quality.EDITS`, default both mouth corners outward by 0.15
eye distances) is placed on the keyframe's dlib landmarks and carried through the clip by
`pipeline.video.edit_video` (the model's default settings). Measured on the lossless frames
before encoding (the work folder is kept for this), against the decoded input frames:

  * identity: dlib descriptor distance between each edited frame and its original, in the
    tracked face's box (face_recognition calls < 0.6 the same person; it follows expression);
  * reach: per frame with the face, the edit's landmarks in the edited frame (dlib, the same
    box): remaining / initial distance to the frame's targets (the keyframe's targets carried
    by the frame's alignment); *visible* when <= `VISIBLE_REACH`;
  * flicker: mean absolute difference between consecutive frames inside the face's box (both
    frames with the face, same shot), edited divided by original (1.0 adds none);
  * untouched: frames without the chosen face that are byte-identical to the input;
  * seconds per frame (the whole edit: track, keyframe, frames, encoding, divided by the
    frames) and peak memory (`common.device.PeakMemory`).

Needs no network; the photos clip needs ../shared/data/photos.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from align import align_landmarks, to_crop, to_photo
from align.faces import detect_faces, face_landmarks
from align.identity import identity_distance
from align.track import smooth_landmarks, track_from_json
from common.errors import DragPipelineError, one_line
from common.images import read_image
from evaluation.composite_quality import EDITS, edit_points

__all__ = ["VISIBLE_REACH", "VideoScore", "score_video", "format_table", "main"]

VISIBLE_REACH = 0.8  # a frame shows the edit when its landmarks moved >= 20% of the way


@dataclass(frozen=True)
class VideoScore:
    """One clip's figures (see the module docstring)."""

    clip: str
    frames: int
    with_face: int
    visible: float  # fraction of the frames with the face
    identity_mean: float
    identity_max: float
    reach_mean: float
    psnr_mean: float  # the frames' reconstructions against their aligned crops (dB)
    flicker: float
    untouched: int  # frames without the face, byte-identical
    without_face: int
    seconds_per_frame: float
    peak_mib: float


def _box_mad(a: np.ndarray, b: np.ndarray, box) -> float:
    h, w = a.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    return float(np.abs(a[y0:y1, x0:x1].astype(np.float64) - b[y0:y1, x0:x1]).mean())


def _union(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def score_video(clip: Path, work: Path, targets_crop: np.ndarray, edit: str, config, video, size: int) -> dict:
    """Per-frame identity, reach and flicker terms, from the work folder of a finished edit.

    Args:
        clip: the input clip; work: the kept work folder (`pipeline.video.work_folder_for`).
        targets_crop: (N, 2) the keyframe's targets in its crop.
        edit: the `EDITS` name (its landmark indices are the handles).
        config: the edit's `PipelineConfig` (after `config_for_model`: the face framing).
        video: its `VideoConfig` (the landmark smoothing).
        size: the generator's resolution.

    Returns:
        {'identity': [...], 'reach': [...], 'flicker_edited': [...], 'flicker_original': [...],
         'untouched': int, 'without_face': int} over the frames with (without) the face.
    """
    from pipeline.io.clip import read_frames

    faces = track_from_json(json.loads((work / "track.json").read_text()))
    smoothed = smooth_landmarks(faces, video.landmark_sigma)
    indices = list(EDITS[edit][0])
    out = {"identity": [], "reach": [], "flicker_edited": [], "flicker_original": [], "untouched": 0}
    out["without_face"] = sum(face is None for face in faces)
    previous = None
    for index, original in read_frames(clip):
        edited = read_image(work / "frames" / f"{index:06d}.png")
        face = faces[index]
        if face is None:
            out["untouched"] += int(np.array_equal(edited, original))
            previous = None
            continue
        out["identity"].append(identity_distance(original, edited, face.box))
        targets = to_photo(targets_crop, align_landmarks(original, smoothed[index], size, config.align))
        after = face_landmarks(edited, face.box)[indices]
        before = face.landmarks_photo[indices]
        initial = np.linalg.norm(before - targets, axis=1).sum()
        out["reach"].append(float(np.linalg.norm(after - targets, axis=1).sum() / max(initial, 1e-9)))
        if previous is not None and previous[0].shot == face.shot and previous[0].frame == index - 1:
            box = _union(previous[0].box, face.box)
            out["flicker_edited"].append(_box_mad(previous[2], edited, box))
            out["flicker_original"].append(_box_mad(previous[1], original, box))
        previous = (face, original, edited)
    return out


def _summarise(
    name: str, terms: dict, frames: int, seconds: float, peak: float, psnr: float = float("nan")
) -> VideoScore:
    identity = np.asarray(terms["identity"], np.float64)
    reach = np.asarray(terms["reach"], np.float64)
    n = len(reach)
    flicker_original = float(np.mean(terms["flicker_original"])) if terms["flicker_original"] else float("nan")
    flicker_edited = float(np.mean(terms["flicker_edited"])) if terms["flicker_edited"] else float("nan")
    return VideoScore(
        clip=name,
        frames=frames,
        with_face=n,
        visible=float(np.mean(reach <= VISIBLE_REACH)) if n else float("nan"),
        identity_mean=float(np.nanmean(identity)) if n else float("nan"),
        identity_max=float(np.nanmax(identity)) if n else float("nan"),
        reach_mean=float(np.nanmean(reach)) if n else float("nan"),
        psnr_mean=psnr,
        flicker=flicker_edited / flicker_original if flicker_original > 0 else float("nan"),
        untouched=int(terms["untouched"]),
        without_face=int(terms["without_face"]),
        seconds_per_frame=seconds / max(frames, 1),
        peak_mib=peak,
    )


def format_table(scores: list[VideoScore], device: str) -> str:
    """The benchmark's markdown table."""
    lines = [
        f"video edit quality ({device}; identity: < 0.6 is the same person; flicker: 1.0 adds none)",
        "",
        "| clip | frames | with the face | edit visible | identity, mean (max) | reach, mean | reconstruction PSNR | "
        "flicker | frames without the face untouched | s / frame | peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        lines.append(
            f"| {s.clip} | {s.frames} | {s.with_face} | {s.visible:.0%} | "
            f"{s.identity_mean:.3f} ({s.identity_max:.3f}) | {s.reach_mean:.2f} | {s.psnr_mean:.1f} dB | "
            f"{s.flicker:.2f} | {s.untouched}/{s.without_face} | {s.seconds_per_frame:.2f} | {s.peak_mib:.0f} |"
        )
    return "\n".join(lines)


def make_clip(kind: str, folder: Path, frames: int, checkpoint: str) -> Path:
    """The benchmark's clip: 'photos' (the shared photos, a cut, a second person) or 'walk' (the model)."""
    from evaluation import video_clips

    path = folder / f"{kind}.mp4"
    argv = ["--kind", kind, "--out", str(path), "--frames", str(frames)]
    if kind == "walk":
        argv += ["--checkpoint", checkpoint, "--size", "256x256"]
    if video_clips.main(argv) != 0:
        raise DragPipelineError(f"could not build the {kind} clip")
    return path


def run_clip(
    clip: Path, name: str, model, edit: str, amount: float, keyframe: int, folder: Path, video=None
) -> VideoScore:
    """Edit `clip` (the named edit on `keyframe`, `video` settings, default `VideoConfig()`) and score it."""
    import dataclasses

    from common.device import PeakMemory
    from pipeline.config import PipelineConfig
    from pipeline.io.clip import read_frames
    from pipeline.io.points import DragPoints
    from pipeline.model_defaults import config_for_model
    from pipeline.video import VideoConfig, edit_video, work_folder_for

    photo = next(frame for index, frame in read_frames(clip, start=keyframe))
    faces = detect_faces(photo)
    if not faces:
        raise DragPipelineError(f"{name}: no face on keyframe {keyframe}; pass --keyframe N")
    handles, targets = edit_points(face_landmarks(photo, faces[0].box), edit, amount)
    points = DragPoints(handles, targets, frame=keyframe)
    config = dataclasses.replace(config_for_model(PipelineConfig(device="cpu"), model.G), use_cache=False)
    video = video or VideoConfig()
    out = folder / f"{name}_edit"
    t = time.perf_counter()
    with PeakMemory("cpu") as memory:
        result = edit_video(clip, points, model, out, config, video, progress=True, keep_work=True)
    seconds = time.perf_counter() - t
    work = work_folder_for(out)
    size = int(model.G.img_resolution)
    keyframe_alignment = align_landmarks(
        photo,
        smooth_landmarks(track_from_json(json.loads((work / "track.json").read_text())), video.landmark_sigma)[
            keyframe
        ],
        size,
        config.align,
    )
    terms = score_video(clip, work, to_crop(targets, keyframe_alignment), edit, config, video, size)
    psnr = [r["reconstruction_psnr"] for r in result.frames if r.get("found")]
    return _summarise(
        name, terms, len(result.frames), seconds, memory.peak_mib, float(np.mean(psnr)) if psnr else float("nan")
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one row per clip."""
    from pipeline.config import PipelineConfig
    from pipeline.models import load_model

    p = argparse.ArgumentParser(prog="python -m evaluation.video_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", action="append", help="'photos', 'walk' or a video file (repeatable; default photos)")
    p.add_argument("--frames", type=int, default=64, help="frames of a built clip (default 64)")
    p.add_argument("--checkpoint", default="face-64")
    p.add_argument("--edit", default="mouth-wider", choices=sorted(EDITS))
    p.add_argument("--amount", type=float, default=0.15, help="eye distances (default 0.15)")
    p.add_argument("--keyframe", type=int, default=0)
    p.add_argument("--work", default=None, help="folder for clips and outputs (default: a temporary one)")
    p.add_argument("--frame-steps", type=int, default=None, help="VideoConfig.frame_steps (default its default)")
    p.add_argument("--shot-steps", type=int, default=None, help="VideoConfig.shot_steps")
    p.add_argument("--layer-smoothing", type=float, default=None, help="VideoConfig.layer_smoothing")
    p.add_argument("--no-tune-runs", action="store_true", help="edit every run with the keyframe's generator")
    p.add_argument("--tune-every", type=int, default=None, help="VideoConfig.tune_every (1 = PTI on every frame)")
    args = p.parse_args(argv)
    from pipeline.video import VideoConfig

    changes = {
        name: getattr(args, name)
        for name in ("frame_steps", "shot_steps", "layer_smoothing", "tune_every")
        if getattr(args, name) is not None
    }
    video = VideoConfig(**changes, tune_runs=not args.no_tune_runs)
    try:
        model = load_model(args.checkpoint, PipelineConfig(device="cpu", use_cache=False), allow_download=False)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.work or tmp)
            folder.mkdir(parents=True, exist_ok=True)
            scores = []
            for clip in args.clip or ["photos"]:
                path = (
                    make_clip(clip, folder, args.frames, args.checkpoint) if clip in ("photos", "walk") else Path(clip)
                )
                scores.append(
                    run_clip(
                        path,
                        clip if clip in ("photos", "walk") else path.stem,
                        model,
                        args.edit,
                        args.amount,
                        args.keyframe,
                        folder,
                        video,
                    )
                )
                print(f"{scores[-1]}", file=sys.stderr, flush=True)
    except DragPipelineError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    print(format_table(scores, f"cpu, {model.label}, {args.edit} {args.amount:g} eye distances, {video}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
