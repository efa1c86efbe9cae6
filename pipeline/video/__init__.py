"""Drag a face in a video: one edit on a keyframe, carried to every frame (`edit_video`).

    python run_pipeline.py --image clip.mp4 --points pts.json     # "frame": N in pts.json

See `pipeline.video.edit` for the stages; `pipeline.cli.video` is the command line's path.
"""

from common.lazy import lazy_getattr

_LAZY = {
    "VideoConfig": "pipeline.video.config",
    "VideoEditResult": "pipeline.video.edit",
    "edit_video": "pipeline.video.edit",
    "frame_runs": "pipeline.video.render",
    "frames_of_rank": "pipeline.video.render",
    "work_folder_for": "pipeline.video.work",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
