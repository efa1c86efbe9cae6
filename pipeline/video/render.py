"""Render the frames of a video edit: each frame inverted, edited and composited, resumably.

A *run* is a stretch of consecutive frames where the chosen face was found in one shot. Inside
a run each frame's inversion starts from the previous frame's latent and the composite layers
are smoothed over time; a run starts from the keyframe's pivot. Frames without the chosen face
are written unchanged (their PNG holds the decoded frame's bytes). Runs are independent, so
torchrun ranks can share them out; a resumed run continues from the last finished frame with
the latent and layers saved beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from align import align_landmarks, paste_back
from align.composite import composite_from_layers, composite_layers
from common.fileio import atomic_save
from inversion import metrics
from pipeline.config import PipelineConfig
from pipeline.video.config import VideoConfig
from pipeline.video.frames import FrameInverter, LayerSmoother
from pipeline.video.keyframe import KeyframeEdit
from pipeline.video.work import VideoWork, state_dict

__all__ = ["frame_runs", "frames_of_rank", "render_frames"]


def frame_runs(faces: Sequence) -> list[tuple[int, int]]:
    """[(start, stop)) of the runs: consecutive frames with the face found, in one shot.

    Args:
        faces: per frame, an `align.track.TrackedFace` (with `.shot`) or None.
    """
    runs: list[tuple[int, int]] = []
    start = None
    for i, face in enumerate(faces):
        continues = face is not None and start is not None and faces[i - 1] is not None
        if continues and faces[i - 1].shot == face.shot:
            continue
        if start is not None:
            runs.append((start, i))
        start = i if face is not None else None
    if start is not None:
        runs.append((start, len(faces)))
    return runs


def frames_of_rank(faces: Sequence, rank: int = 0, world_size: int = 1) -> list[int]:
    """The frames rank `rank` renders: every world_size-th run, and frames without the face by index."""
    runs = frame_runs(faces)
    mine = [i for k, (a, b) in enumerate(runs) if k % world_size == rank for i in range(a, b)]
    mine += [i for i, face in enumerate(faces) if face is None and i % world_size == rank]
    return sorted(mine)


class _Renderer:
    """One rank's frame loop state: the inverter, the smoother and the previous frame."""

    def __init__(
        self, key: KeyframeEdit, config: PipelineConfig, video: VideoConfig, work: VideoWork, runs: dict[int, int]
    ):
        self.key, self.config, self.video, self.work = key, config, video, work
        self.runs = runs  # run start -> run stop
        self.inverter: FrameInverter | None = None
        self.smoother = LayerSmoother(video.layer_smoothing)
        self.previous: tuple[int, object] | None = None  # (frame, ws)
        self.run_G: tuple[int, object] | None = None  # (run start, its generator)

    def _anchor(self, index: int, run_start: int) -> int | None:
        """The frame whose tuned generator edits frame `index`; None = the keyframe's generator.

        With `tune_runs` a run is tuned on its first frame (`tune_every` 0) or on every
        `tune_every`-th frame; the stretch holding the keyframe keeps the keyframe's generator.
        """
        video = self.video
        if not video.tune_runs:
            return None
        stop = self.runs[run_start]
        anchor = run_start
        if video.tune_every > 0:
            anchor = run_start + (index - run_start) // video.tune_every * video.tune_every
            stop = min(stop, anchor + video.tune_every)
        return None if anchor <= self.key.frame < stop else anchor

    def generator(self, index: int, run_start: int, crop: np.ndarray, ws_init: torch.Tensor, steps: int):
        """(the generator that edits frame `index`, its latent if computed here, else None).

        A generator is PTI-tuned on its anchor frame (`_anchor`) from that frame's inversion in
        the keyframe's generator, and kept in the work folder for a resume.
        """
        anchor = self._anchor(index, run_start)
        if anchor is None:
            return self.key.G, None
        if self.run_G is not None and self.run_G[0] == anchor:
            return self.run_G[1], None
        from stylegan import generator_from_dict, generator_to_dict

        path = self.work.run_generator_path(anchor)
        ws = None
        if path.is_file():
            G = generator_from_dict(
                torch.load(path, map_location="cpu", weights_only=True), device=self.inverter.device
            )
        else:
            ws = self.inverter.invert(crop, ws_init, steps)
            tuned = self.inverter.tune(crop, ws)
            atomic_save(generator_to_dict(tuned), path)
            G = generator_from_dict(generator_to_dict(tuned), device=self.inverter.device)  # as a resume loads it
        self.run_G = (anchor, G)
        return G, ws

    def start(self, index: int, run_start: int):
        """(ws to start from, steps) for frame `index`; restores the smoother on a resumed run."""
        key, video = self.key, self.video
        if index == key.frame:
            return key.pivot, 0  # the keyframe is its own pivot: its edit is the photo edit's
        if index == run_start:
            self.smoother.reset()
            return key.pivot, video.shot_steps
        if self.previous is not None and self.previous[0] == index - 1:
            return self.previous[1], video.frame_steps
        state = self.work.state(index - 1)  # resumed mid-run
        if state is None:
            self.smoother.reset()
            return key.pivot, video.shot_steps
        self.smoother.restore(state.get("field"), state.get("weight"))
        return torch.from_numpy(state["ws"]), video.frame_steps

    def frame(
        self, index: int, photo: np.ndarray, landmarks: np.ndarray, run_start: int
    ) -> tuple[np.ndarray, dict, dict]:
        """(the edited frame, its figures, its state for the next frame)."""
        if self.inverter is None:
            self.inverter = FrameInverter(self.key.G, self.config.inversion, self.video, self.key.offset)
        ws_init, steps = self.start(index, run_start)
        size = int(self.key.G.img_resolution)
        alignment = align_landmarks(photo, landmarks, size, self.config.align)
        G, tuned_ws = self.generator(index, run_start, alignment.crop, ws_init, steps)
        if tuned_ws is None:
            edit = self.inverter.edit(alignment.crop, ws_init, steps, G)
        else:  # the generator was just tuned on this frame, at this latent
            edit = self.inverter.edit(alignment.crop, tuned_ws, 0, G)
        paste = self.config.paste
        field = weight = None
        if paste.composite == "warp":
            key = self.key
            layers = composite_layers(
                alignment,
                edit.edited,
                edit.reconstruction,
                key.handles_crop,
                key.final_handles_crop,
                key.mask_crop,
                paste,
            )
            field, weight = self.smoother(*layers)
            out = composite_from_layers(photo, alignment, edit.edited, edit.reconstruction, field, weight, paste).photo
        else:
            out = paste_back(photo, alignment, edit.edited, edit.reconstruction, config=paste)
        self.previous = (index, edit.ws)
        record = {
            "inversion_steps": int(steps),
            "tuned_generator": G is not self.key.G,
            "reconstruction_psnr": float(metrics.psnr(np.array(alignment.crop), edit.reconstruction)),
            "changed_pixels": int(np.count_nonzero(np.any(out != photo, axis=2))),
        }
        return out, record, state_dict(edit.ws, field, weight)


def render_frames(
    clip,
    faces: Sequence,
    landmarks: Sequence,
    key: KeyframeEdit,
    config: PipelineConfig,
    video: VideoConfig,
    work: VideoWork,
    frames: Sequence[int],
    progress: bool = True,
    stop_after: int | None = None,
    on_frame: Callable[[int, int], bool | None] | None = None,
) -> int:
    """Render `frames` (those not finished yet) into the work folder; returns how many were rendered.

    Args:
        clip: the clip's path (`pipeline.io.clip.read_frames` streams it).
        faces: per frame, the `TrackedFace` or None; landmarks: per frame, smoothed (68, 2) or None.
        key: the keyframe's edit; config, video: the run's settings; work: the work folder.
        frames: the frames this rank renders (`frames_of_rank`).
        progress: a progress bar in frames per second.
        stop_after: render at most this many frames, then return (tests of resuming).
        on_frame: called as on_frame(done, total) before the first frame and after each one,
            done = frames of `frames` finished (earlier runs' included), total = len(frames);
            a true return stops rendering there (the editor's progress and Stop), as
            `stop_after` does. None = no calls.
    """
    from common.progress import progress_bar
    from pipeline.io.clip import read_frames

    pending = [i for i in frames if not work.done(i)]
    finished_before = len(frames) - len(pending)
    if on_frame is not None and on_frame(finished_before, len(frames)):
        return 0
    if not pending:
        return 0
    mine, last = set(pending), max(pending)
    runs = frame_runs(faces)
    run_start = {i: a for a, b in runs for i in range(a, b)}
    renderer = _Renderer(key, config, video, work, dict(runs))
    bar = progress_bar(total=len(pending), desc="frames", unit="frame", disable=not progress, leave=False)
    rendered = 0
    stream = read_frames(clip, start=min(pending))
    try:
        for index, photo in stream:
            if index > last or (stop_after is not None and rendered >= stop_after):
                break
            if index not in mine:
                continue
            t = time.perf_counter()
            face = faces[index]
            record = {"frame": index, "found": face is not None}
            state = None
            if face is None:
                out = photo
            else:
                out, figures, state = renderer.frame(index, photo, landmarks[index], run_start[index])
                record.update(shot=int(face.shot), identity_distance=float(face.distance), **figures)
            record["seconds"] = time.perf_counter() - t
            work.write_frame(index, out, record, state)
            if face is not None and index != run_start[index]:
                work.drop_state(index - 1)  # only the last frame of a run is continued from
            rendered += 1
            bar.update(1)
            if on_frame is not None and on_frame(finished_before + rendered, len(frames)):
                break
    finally:
        stream.close()  # stops ffmpeg when the loop ends early
        bar.close()
    return rendered
