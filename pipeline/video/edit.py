"""`edit_video`: one drag on a keyframe, carried to every frame of a clip.

    clip --track (detection + identity, shots)--> the chosen face per frame, landmarks smoothed
         --keyframe: align, invert (PTI), drag--> tuned G, pivot, latent offset
         --every frame: align to smoothed landmarks, W+ warm start, G(ws + offset),
           photo-resolution composite smoothed over time--> frames (work folder, resumable)
         --encode--> edited.mp4, comparison.mp4 (audio copied), report.json, keyframe/

Memory stays bounded whatever the clip's length: frames are decoded, edited and written one at
a time (the work folder holds finished frames as lossless PNGs until the clip is encoded).
A killed run leaves its work folder; the rerun continues from the last finished frame and
produces what an uninterrupted run does. Under torchrun the runs of frames are shared out
across ranks (`pipeline.video.render.frames_of_rank`); rank 0 tracks, edits the keyframe and
encodes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.hashing import file_sha256
from pipeline.config import PipelineConfig, config_to_json
from pipeline.errors import PipelineError, PointsError
from pipeline.io.points import DragPoints, check_points_in_frame
from pipeline.model_defaults import config_for_model
from pipeline.models import LoadedModel
from pipeline.video.config import VideoConfig
from pipeline.video.keyframe import KeyframeEdit, keyframe_edit
from pipeline.video.render import frames_of_rank, render_frames
from pipeline.video.work import VideoWork, work_folder_for

__all__ = ["VideoEditResult", "edit_video", "work_key", "check_video_points"]


@dataclass(frozen=True, eq=False)
class VideoEditResult:
    """What `edit_video` did.

    Attributes:
        info: the input clip (`pipeline.io.clip.ClipInfo`).
        keyframe: the keyframe's `KeyframeEdit` (its drag summary in `.summary`).
        frames: one record per frame (report.json's 'frames'), in order.
        seconds: wall-clock seconds per stage ('track', 'keyframe', 'frames', 'encode', 'total').
        out: the output folder; written: its files (report.json last). Empty on ranks > 0.
        complete: every frame was rendered (False after `stop_after` or a stop by `on_frame`).
    """

    info: object
    keyframe: KeyframeEdit | None
    frames: list
    seconds: dict
    out: Path
    written: list
    complete: bool


def check_video_points(points: DragPoints, info, source: str = "the points file", config=None) -> None:
    """The keyframe exists, the points lie in the clip's frame, the config edits a face (before any model work).

    Raises:
        PointsError: a keyframe past the clip's end, or a point outside the frame.
        PipelineError: `config` asks for a box or centre crop (a clip is edited on its tracked face).
    """
    if config is not None and config.align_mode != "face":
        raise PipelineError(
            f"a clip is edited on its tracked face: align mode {config.align_mode!r} applies to photos only; "
            'drop --align / "align" (use --face-index N to pick the face)'
        )
    if points.frame >= info.frame_count:
        raise PointsError(
            f'{source}: "frame" {points.frame} is past the clip\'s last frame ({info.frame_count - 1}); '
            "give the keyframe's 0-based index"
        )
    for name, pts in (("handle", points.handles_photo), ("target", points.targets_photo)):
        check_points_in_frame(
            pts,
            info.width,
            info.height,
            name,
            f"the {info.width}x{info.height} frames of {Path(info.path).name}",
            "give (x, y) in the keyframe's pixels, x right, y down",
        )


def work_key(clip: Path, points: DragPoints, mask: np.ndarray | None, model: LoadedModel, config, video) -> str:
    """What a work folder is for: the clip's bytes, points, mask, model and settings (SHA-256)."""
    doc = {
        "clip": file_sha256(clip),
        "handles": points.handles_photo.tolist(),
        "targets": points.targets_photo.tolist(),
        "frame": points.frame,
        "mask": None if mask is None else hashlib.sha256(np.packbits(np.asarray(mask) > 0.5)).hexdigest(),
        "model": model.generator_id or model.label,
        "config": config_to_json(config),
        "video": video.__dict__,
        "format": 1,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _track(
    clip: Path, reference: np.ndarray, total: int, config: PipelineConfig, video: VideoConfig, work: VideoWork, progress
):
    """The chosen face per frame (cached in the work folder); `reference` is the keyframe, `total` the frame count."""
    from align.track import FaceTracker, track_from_json, track_to_json
    from common.fileio import atomic_write_text
    from common.progress import progress_bar
    from pipeline.io.clip import read_frames

    if work.track_path.is_file():
        return track_from_json(json.loads(work.track_path.read_text()))
    face_index = config.face_index if isinstance(config.face_index, int) else None
    tracker = FaceTracker(reference, face_index=face_index, config=config.align, tolerance=video.tolerance)
    faces = []
    with progress_bar(total=total, desc="track", unit="frame", disable=not progress, leave=False) as bar:
        for index, photo in read_frames(clip):
            faces.append(tracker.update(index, photo))
            bar.update(1)
    atomic_write_text(work.track_path, json.dumps(track_to_json(faces)))
    return faces


def _prepare(clip, points, model, config, video, work, mask_photo, extra, seconds, progress, say):
    """(faces, smoothed landmarks, `KeyframeEdit`): the track and the keyframe's drag (or their saved forms)."""
    from align.track import smooth_landmarks
    from pipeline.io.clip import probe_clip

    t = time.perf_counter()
    keyframe = _keyframe_photo(clip, points.frame)
    faces = _track(clip, keyframe, probe_clip(clip).frame_count, config, video, work, progress)
    seconds["track"] = time.perf_counter() - t
    found = sum(face is not None for face in faces)
    say(f"track: the chosen face in {found} of {len(faces)} frames ({seconds['track']:.1f}s)")
    landmarks = smooth_landmarks(faces, video.landmark_sigma)
    t = time.perf_counter()
    key = keyframe_edit(
        keyframe, points.frame, landmarks[points.frame], points, model, config, work, mask_photo, extra, progress, say
    )
    seconds["keyframe"] = time.perf_counter() - t
    return faces, landmarks, key


def _keyframe_photo(clip: Path, keyframe: int) -> np.ndarray:
    from pipeline.io.clip import read_frames

    frames = read_frames(clip, start=keyframe)
    try:
        return next(iter(frames))[1]
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def edit_video(
    clip: str | Path,
    points: DragPoints,
    model: LoadedModel,
    out: str | Path,
    config: PipelineConfig = PipelineConfig(),
    video: VideoConfig = VideoConfig(),
    mask_photo: np.ndarray | None = None,
    *,
    overwrite: bool = False,
    extra: dict | None = None,
    dist=None,
    progress: bool = True,
    log=None,
    stop_after: int | None = None,
    keep_work: bool = False,
    on_frame=None,
) -> VideoEditResult:
    """Edit a clip: the drag `points` on keyframe `points.frame`, carried to every frame.

    Args:
        clip: the video file (any container ffmpeg reads).
        points: handles / targets in the keyframe's pixels, `points.frame` the keyframe.
        model: the loaded generator (`pipeline.models.load_model`).
        out: the output folder (written atomically when every frame is done).
        config: the photo stages' settings (`config_for_model` is applied).
        video: the video settings (`VideoConfig`).
        mask_photo: (H, W) the user's mask on the keyframe (1 = may move), or None.
        overwrite: replace an existing output folder.
        extra: more report.json entries (inputs, checkpoint, command).
        dist: the `common.distributed.Distributed` of this process (None = a world of one).
        progress, log: progress bars and stage lines.
        stop_after: render at most this many frames and return without encoding (tests).
        keep_work: keep the work folder (the lossless frames, the track) after success, for
            measuring (`evaluation.video_quality`).
        on_frame: on_frame(done, total) -> bool, called before the first frame is rendered and
            after each (`render_frames`): progress in frames; a true return stops there and
            returns without encoding, the work folder kept for a resuming run (the editor's
            Stop; returning True at once edits only the keyframe: its preview).

    Returns:
        `VideoEditResult`.
    """
    from common.distributed import Distributed
    from pipeline.io.clip import probe_clip

    say = log or (lambda message: None)
    dist = dist or Distributed()
    t_start = time.perf_counter()
    clip, out = Path(clip).expanduser().absolute(), Path(out).expanduser().absolute()
    info = probe_clip(clip)
    check_video_points(points, info, config=config)
    config = config_for_model(config, model.G, model.resolved.info if model.resolved is not None else None)
    seconds: dict = {}
    with dist.main_first():  # rank 0 clears stale work, tracks and drags; the others then load it
        work = VideoWork(work_folder_for(out), work_key(clip, points, mask_photo, model, config, video))
        try:
            faces, landmarks, key = _prepare(
                clip, points, model, config, video, work, mask_photo, extra, seconds, progress, say
            )
        except BaseException:
            if dist.is_main:
                work.remove_if_unused()  # e.g. no face on the keyframe: leave nothing behind
            raise
    say(f"keyframe {points.frame}: {key.summary['drag_steps']} drag steps ({seconds['keyframe']:.1f}s)")
    t = time.perf_counter()
    mine = frames_of_rank(faces, dist.rank, dist.world_size)
    rendered = render_frames(clip, faces, landmarks, key, config, video, work, mine, progress, stop_after, on_frame)
    seconds["frames"] = time.perf_counter() - t
    say(f"frames: {rendered} rendered ({seconds['frames']:.1f}s)")
    dist.barrier()
    complete = all(work.done(i) for i in range(info.frame_count))
    records: list = []
    written: list = []
    if dist.is_main:  # the others are done: rank 0 alone reads the frames, encodes and clears
        records = [work.record(i) if work.done(i) else {"frame": i} for i in range(info.frame_count)]
    if complete and dist.is_main:
        from pipeline.video.output import write_video_outputs

        t = time.perf_counter()
        seconds["total"] = time.perf_counter() - t_start
        written = write_video_outputs(clip, info, work, out, records, key, config, video, seconds, extra, overwrite)
        seconds["encode"] = time.perf_counter() - t
        if not keep_work:
            work.remove()
    dist.barrier()
    seconds["total"] = time.perf_counter() - t_start
    return VideoEditResult(info, key, records, seconds, out, written, complete)
