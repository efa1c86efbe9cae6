"""`VideoConfig`: how a drag made on one keyframe is carried to every frame of a clip."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import PipelineError

__all__ = ["VideoConfig"]


@dataclass(frozen=True)
class VideoConfig:
    """The video-only settings (the photo stages keep their `PipelineConfig`).

    Attributes:
        landmark_sigma: frames; the Gaussian that smooths the face's landmarks over time before
            each frame is aligned (STIT, Tzaban et al. 2022, smooths the alignment the same way);
            0 = raw landmarks.
        frame_steps: W+ steps inverting a frame, warm-started from the previous frame's latent
            (measured on the benchmark's photos clip, `evaluation.video_quality`: 10 steps
            reconstruct as well as 30, 23.5 dB mean, in 36% less time per frame).
        shot_steps: W+ steps for the first frame of a run (a new shot, or the face back after a
            gap), started from the keyframe's pivot.
        frame_lr: peak learning rate of those steps.
        temporal_weight: pull of a frame's latent toward the previous frame's
            (`InversionConfig.wplus_pivot_weight` of the warm-started steps): steadier latents.
        layer_smoothing: in [0, 1); the composite's field and weight are blended with the previous
            frame's as `s * previous + (1 - s) * current` inside a run; 0 = off (flicker 1.02
            instead of 1.01 on the benchmark's clip).
        tolerance: face descriptor distance under which a face is the chosen person
            (face_recognition's 0.6).
        tune_runs: PTI-tune a copy of the keyframe's generator on the first frame of every
            other run (another shot, or the face back after a gap; `InversionConfig.pti_steps`):
            the keyframe's generator reconstructs another shot's lighting and pose poorly (the
            benchmark clip's third shot: 20.0 dB without, 23.2 dB with, and white spots without).
        tune_every: with `tune_runs`, tune a new copy every this many frames of a run (1 = PTI on
            every frame); 0 = only on a run's first frame.
    """

    landmark_sigma: float = 1.5
    frame_steps: int = 10
    shot_steps: int = 100
    frame_lr: float = 0.01
    temporal_weight: float = 0.0
    layer_smoothing: float = 0.5
    tolerance: float = 0.6
    tune_runs: bool = True
    tune_every: int = 0

    def __post_init__(self) -> None:
        if not self.landmark_sigma >= 0:
            raise PipelineError(f"landmark_sigma must be >= 0 frames, got {self.landmark_sigma}")
        if self.tune_every < 0:
            raise PipelineError(f"tune_every must be >= 0 frames (0 = once a run), got {self.tune_every}")
        if self.frame_steps < 0 or self.shot_steps < 0:
            raise PipelineError(
                f"frame_steps and shot_steps must be >= 0, got {self.frame_steps} and {self.shot_steps}"
            )
        if not self.frame_lr > 0:
            raise PipelineError(f"frame_lr must be > 0, got {self.frame_lr}")
        if not 0.0 <= self.layer_smoothing < 1.0:
            raise PipelineError(f"layer_smoothing must be in [0, 1), got {self.layer_smoothing}")
        if not 0.0 < self.tolerance <= 2.0:
            raise PipelineError(f"tolerance must be in (0, 2], got {self.tolerance}")
        if not self.temporal_weight >= 0:
            raise PipelineError(f"temporal_weight must be >= 0, got {self.temporal_weight}")
