"""The frames of the drag video.

The drag keeps cheap latent snapshots (`DragConfig.latent_every`); the video is rendered from
them after the drag, by `render_drag_frames`, for the CLI, batch jobs and the editor alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from draggan import DragResult
from pipeline.config import PipelineConfig
from stylegan.generate import uint8_from_ws

VIDEO_FRAMES = 60  # frames of a drag video, about, whatever the step count (each costs one synthesis)


def video_drag_config(config: PipelineConfig, frames: int = VIDEO_FRAMES):
    """The `DragConfig` `drag_crop` runs: with a video, a latent snapshot about every max_steps / frames steps.

    Returns:
        `draggan.DragConfig` (config.drag itself when no snapshots are added).
    """
    drag_config = config.drag
    if config.video is not None and drag_config.latent_every == 0:
        # A video frame costs one full synthesis, so their number, not their rate, is fixed.
        drag_config = dataclasses.replace(drag_config, latent_every=max(1, drag_config.max_steps // frames))
    return drag_config


def render_drag_frames(G, result: DragResult) -> tuple[list[np.ndarray], list[int]]:
    """The frames of the drag video: the latent snapshots of `result`, rendered as the drag renders.

    Every writer of drag.mp4 / drag.gif (the CLI, batch jobs, the editor's downloads) calls
    this after the drag, so a video depends only on the snapshot schedule
    (`DragConfig.latent_every`), never on live-preview frames.

    Args:
        G: the generator the drag ran with.
        result: a `draggan.DragResult`; without snapshots the frames are its final image only.

    Returns:
        (frames, steps): uint8 (R, R, 3) RGB images and the step of each; the last frame is
        `result.image` (the final latent's image, not rendered twice).
    """
    if not result.frame_latents:
        return [result.image], [result.steps]
    frames = [
        result.image if step == result.steps else uint8_from_ws(G, ws)[0]
        for ws, step in zip(result.frame_latents, result.latent_steps)
    ]
    return frames, list(result.latent_steps)
