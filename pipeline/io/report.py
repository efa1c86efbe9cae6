"""The files an edit leaves behind: PNGs, comparison, video, `latents.pt` and `report.json`.

`write_results` fills a folder (the CLI passes a staging folder, see
`pipeline.io.outputs.staged_output_dir`, which owns where and how a folder is written);
`build_report` is the JSON-safe summary (its "checkpoint" entry comes from
`pipeline.models.LoadedModel.checkpoint_json`).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from align import to_photo
from pipeline.config import config_to_json
from pipeline.edit import EditResult
from pipeline.errors import PipelineError
from pipeline.frames import render_drag_frames
from pipeline.io.drawing import comparison_image, display_scale, draw_points
from pipeline.io.outputs import write_png
from pipeline.io.video import write_video
from stylegan import generator_from_dict, generator_to_dict

__all__ = ["REPORT_VERSION", "LATENTS_FORMAT", "versions", "build_report", "write_results", "load_latents"]

REPORT_VERSION = 1
LATENTS_FORMAT = "draggan-pipeline.latents"
IMAGE_FILES = ("edited.png", "aligned.png", "reconstruction.png", "edited_crop.png", "comparison.png")


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("draggan-pipeline")
    except Exception:  # noqa: BLE001 - running from a source checkout that is not installed
        return "0.1.0+source"


def versions() -> dict:
    """Versions of Python, the platform and the libraries that shape the result."""
    import cv2
    import PIL

    out = {
        "draggan_pipeline": _package_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
    }
    for name in ("torchvision", "lpips", "skimage", "dlib"):
        try:
            module = __import__(name)
            out["scikit-image" if name == "skimage" else name] = str(getattr(module, "__version__", "unknown"))
        except Exception:  # noqa: BLE001 - optional
            pass
    if torch.cuda.is_available():
        out["cuda"] = torch.version.cuda
    return out


def _num(x) -> float | str | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


def _pts(a: np.ndarray) -> list:
    return np.round(np.asarray(a, dtype=np.float64), 4).tolist()


def build_report(result: EditResult, extra: dict | None = None) -> dict:
    """The JSON-safe summary of an edit (what `report.json` holds).

    Args:
        result: from `pipeline.edit_photo`.
        extra: more top-level entries (the CLI adds 'inputs', 'checkpoint', 'outputs', ...).

    Returns:
        dict with 'versions', 'device', 'config', 'seconds', 'metrics', 'cache_hit',
        'alignment', 'points', 'drag', 'inversion' and the `extra` entries.
    """
    a = result.alignment
    d = result.drag
    history_photo = to_photo(d.history.reshape(-1, 2), a).reshape(d.history.shape)
    report = {
        "report_version": REPORT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
        "device": result.device,
        "config": config_to_json(result.config),
        "seconds": {k: round(float(v), 4) for k, v in result.seconds.items()},
        "metrics": {
            "reconstruction": {
                k: (_num(v) if isinstance(v, (int, float)) or v is None else v) for k, v in result.metrics.items()
            }
        },
        "cache_hit": bool(result.cache_hit),
        "cache_key": result.cache_key,
        "alignment": {
            "mode": a.kind,
            "size": a.size,
            "photo_size": [a.photo_shape[1], a.photo_shape[0]],
            "crop_from_photo": np.asarray(a.crop_from_photo).tolist(),
            "content_box": list(a.content_box),
            "face_box": None if a.face_box is None else [float(v) for v in a.face_box],
            "faces_found": len(a.all_face_boxes),
        },
        "points": {
            "handles_photo": _pts(result.handles_photo),
            "targets_photo": _pts(result.targets_photo),
            "handles_crop": _pts(result.handles_crop),
            "targets_crop": _pts(result.targets_crop),
            "mask": result.mask_crop is not None,
            "mask_crop_fraction": None if result.mask_crop is None else float(result.mask_crop.mean()),
        },
        "drag": {
            "steps": int(d.steps),
            "converged": bool(d.converged),
            "stopped_by_callback": bool(d.stopped_by_callback),
            "final_handles_crop": _pts(result.final_handles_crop),
            "final_handles_photo": _pts(result.final_handles_photo),
            "final_distances_crop": _pts(result.distances_crop),
            "final_distances_photo": _pts(result.distances_photo),
            "history_crop": _pts(d.history),
            "history_photo": _pts(history_photo),
            "losses": [_num(round(float(v), 6)) for v in d.losses],
        },
        "inversion": {
            "method": result.inversion.method,
            "tuned_generator": bool(result.inversion.tuned),
            "final_losses": {k: _num(v[-1]) for k, v in result.inversion.losses.items() if len(v)},
            "steps": {k: len(v) for k, v in result.inversion.losses.items()},
            "seconds": {k: round(float(v), 4) for k, v in result.inversion.timings.items()},
        },
    }
    if extra:
        report.update(extra)
    return report


def _write_latents(path: Path, result: EditResult, checkpoint: dict | None) -> None:
    inv = result.inversion
    payload = {
        "format": LATENTS_FORMAT,
        "version": 1,
        "method": inv.method,
        "pivot_ws": inv.ws.detach().cpu().to(torch.float32).contiguous(),
        "edited_ws": result.drag.ws.detach().cpu().to(torch.float32).contiguous(),
        "handles_crop": torch.from_numpy(np.ascontiguousarray(result.handles_crop)),
        "targets_crop": torch.from_numpy(np.ascontiguousarray(result.targets_crop)),
        "final_handles_crop": torch.from_numpy(np.ascontiguousarray(result.final_handles_crop)),
        "crop_from_photo": torch.from_numpy(np.array(result.alignment.crop_from_photo)),  # a writable copy
        "checkpoint": json.dumps(checkpoint) if checkpoint else None,
        # The generator to render ws with: stored when it differs from the checkpoint
        # (PTI's tuned copy, or optimised noise maps), in the same form as
        # `InversionResult.save` (`stylegan.generator_to_dict`).
        "generator": generator_to_dict(inv.G) if inv.tuned else None,
    }
    torch.save(payload, path)


def load_latents(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """Read a `latents.pt` written by the pipeline (`torch.load(weights_only=True)`: no code runs).

    Returns:
        dict with 'method', 'pivot_ws', 'edited_ws' ((1, num_ws, w_dim) float32), the points,
        'crop_from_photo' and 'G' (a `stylegan.Generator` when the file holds the tuned
        generator, else None: use the checkpoint named in 'checkpoint').

    Raises:
        PipelineError: the file is missing, unreadable or not a latents file of the pipeline.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise PipelineError(
            f"cannot read latents file {path} ({' '.join(str(exc).split())[:200]}); "
            "pass the latents.pt of a pipeline run"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != LATENTS_FORMAT:
        raise PipelineError(f"{path} is not a latents file written by the pipeline; pass the latents.pt of a run")
    G = None
    if data.get("generator") is not None:
        G = generator_from_dict(data["generator"], device=device, source=f"{path} (tuned generator)")
    out = dict(data)
    out["G"] = G
    out["checkpoint"] = json.loads(data["checkpoint"]) if data.get("checkpoint") else None
    return out


def _video_frames(result: EditResult) -> list[np.ndarray]:
    d = result.drag
    frames, steps = render_drag_frames(result.inversion.G, d)
    if not d.frame_latents:  # a drag without snapshots: from the reconstruction to the edit
        frames, steps = [result.reconstruction_crop, *frames], [0, *steps]
    scale = display_scale(result.alignment.size)
    return [
        draw_points(f, d.history[min(s, len(d.history) - 1)], result.targets_crop, arrows=True, scale=scale)
        for f, s in zip(frames, steps)
    ]


def write_results(result: EditResult, folder: str | os.PathLike, extra: dict | None = None) -> list[str]:
    """Write every output of an edit into `folder` (which must exist).

    Files: edited.png, aligned.png, reconstruction.png, edited_crop.png, comparison.png,
    composite_field.png / composite_weight.png (`--debug-composite`), drag.mp4 / drag.gif
    (when `result.config.video`), latents.pt, report.json.

    Args:
        result: from `pipeline.edit_photo`.
        folder: destination folder.
        extra: more report entries (see `build_report`); its 'checkpoint' entry is also
            stored in latents.pt.

    Returns:
        The written file names, report.json last.
    """
    folder = Path(folder)
    t = time.perf_counter()
    written = []
    for name, image in (
        ("edited.png", result.edited_photo),
        ("aligned.png", result.alignment.crop),
        ("reconstruction.png", result.reconstruction_crop),
        ("edited_crop.png", result.edited_crop),
    ):
        write_png(folder / name, image)
        written.append(name)
    write_png(
        folder / "comparison.png",
        comparison_image(
            result.alignment.crop,
            result.edited_crop,
            result.handles_crop,
            result.targets_crop,
            result.final_handles_crop,
        ),
    )
    written.append("comparison.png")
    if result.composite is not None:  # --debug-composite
        from align.composite import field_image, weight_image

        write_png(folder / "composite_field.png", field_image(result.composite.field_crop))
        write_png(folder / "composite_weight.png", weight_image(result.composite.weight_crop))
        written += ["composite_field.png", "composite_weight.png"]
    if result.config.video is not None:
        video = write_video(folder, _video_frames(result), result.config.video, result.config.video_fps)
        written.append(video.name)
    checkpoint = (extra or {}).get("checkpoint")
    _write_latents(folder / "latents.pt", result, checkpoint)
    written.append("latents.pt")
    written.append("report.json")
    report = build_report(result, extra)
    report["seconds"]["write"] = round(time.perf_counter() - t, 4)
    report["outputs"] = written
    with open(folder / "report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, allow_nan=False)
        f.write("\n")
    return written
