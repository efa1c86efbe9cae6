"""The files of a video edit: edited.mp4, comparison.mp4, report.json and keyframe/.

Written into a staging folder that replaces the output folder only when complete
(`pipeline.io.outputs.staged_output_dir`): a kill while encoding leaves no half-written file.
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from common.images import read_image
from pipeline.config import config_to_json
from pipeline.io.outputs import staged_output_dir

__all__ = ["write_video_outputs", "video_report"]


def _summary(records: list[dict]) -> dict:
    found = [r for r in records if r.get("found")]
    changed = [r for r in found if r.get("changed_pixels", 0) > 0]
    seconds = [r["seconds"] for r in records if "seconds" in r]
    return {
        "frames": len(records),
        "frames_with_face": len(found),
        "frames_changed": len(changed),
        "mean_reconstruction_psnr": float(np.mean([r["reconstruction_psnr"] for r in found])) if found else None,
        "seconds_per_frame": float(np.mean(seconds)) if seconds else None,
    }


def video_report(info, records, key, config, video, seconds, extra) -> dict:
    """report.json of a video edit: the clip, the keyframe's drag, the settings, per-frame figures."""
    from pipeline.io.report import versions

    return {
        **(extra or {}),
        "kind": "video",
        "clip": {
            "path": str(info.path),
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frame_count": info.frame_count,
            "has_audio": info.has_audio,
        },
        "keyframe": {"frame": key.frame, **key.summary},
        "summary": _summary(records),
        "config": config_to_json(config),
        "video": dict(video.__dict__),
        "seconds": {k: float(v) for k, v in seconds.items()},
        "versions": versions(),
        "frames": records,
    }


def write_video_outputs(clip, info, work, out, records, key, config, video, seconds, extra, overwrite) -> list[str]:
    """Encode the work folder's frames and write every output file into `out` (atomically).

    Returns:
        The written names: edited.mp4, comparison.mp4, the keyframe's files (keyframe/...),
        report.json last.
    """
    from pipeline.io.clip import ClipWriter, read_frames

    audio = clip if info.has_audio else None
    written = []
    with staged_output_dir(out, overwrite=overwrite) as staging:
        with (
            ClipWriter(staging / "edited.mp4", info.width, info.height, info.fps, audio_from=audio) as edited,
            ClipWriter(staging / "comparison.mp4", 2 * info.width, info.height, info.fps, audio_from=audio) as both,
        ):
            for index, original in read_frames(clip):
                frame = read_image(work.frame_png(index))
                edited.write(frame)
                both.write(np.concatenate([original, frame], axis=1))
        written += ["edited.mp4", "comparison.mp4"]
        if work.keyframe_dir.is_dir():
            shutil.copytree(work.keyframe_dir, staging / "keyframe")
            written += [f"keyframe/{p.name}" for p in sorted((staging / "keyframe").iterdir())]
        report = video_report(info, records, key, config, video, seconds, extra)
        (staging / "report.json").write_text(json.dumps(report, indent=2, default=str))
        written.append("report.json")
    return written
