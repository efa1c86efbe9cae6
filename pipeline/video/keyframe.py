"""The keyframe of a video edit: the user's drag, made once, kept as a latent offset.

The keyframe is edited as a photo (`pipeline.edit.edit_aligned` on the crop aligned to its
smoothed landmarks): inversion with PTI, the drag, the composite. What every other frame
needs from it is saved in the work folder (so a resumed run does not drag again): the tuned
generator, the pivot, the drag's latent offset (edited - pivot), its handles in the crop and
the mask in the crop; the photo edit's own files go to `keyframe/` of the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from align import align_landmarks
from pipeline.config import PipelineConfig
from pipeline.edit import edit_aligned
from pipeline.io.report import write_results
from pipeline.models import LoadedModel
from pipeline.video.work import VideoWork
from stylegan import generator_from_dict, generator_to_dict

__all__ = ["KeyframeEdit", "keyframe_edit"]


@dataclass(frozen=True, eq=False)
class KeyframeEdit:
    """What the frames take from the keyframe's edit.

    Attributes:
        frame: the keyframe's index.
        G: the generator to edit with (PTI-tuned on the keyframe), eval, on the run's device.
        pivot: (1, num_ws, w_dim) float32 CPU, the keyframe's inversion.
        offset: (1, num_ws, w_dim) float32 CPU, the drag's final latent minus the pivot.
        handles_crop, final_handles_crop: (N, 2) float64 crop px, the drag's handles and
            their tracked end positions.
        mask_crop: (R, R) float32 (1 = may move) or None.
        summary: the drag's figures for report.json.
    """

    frame: int
    G: torch.nn.Module
    pivot: torch.Tensor
    offset: torch.Tensor
    handles_crop: np.ndarray
    final_handles_crop: np.ndarray
    mask_crop: np.ndarray | None
    summary: dict


def _summary(result) -> dict:
    return {
        "drag_steps": int(result.drag.steps),
        "converged": bool(result.drag.converged),
        "final_distance_crop": float(np.max(result.distances_crop)),
        "final_distance_photo": float(np.max(result.distances_photo)),
        "reconstruction_psnr": float(result.metrics["psnr"]),
        "cache_hit": bool(result.cache_hit),
        "seconds": {k: float(v) for k, v in result.seconds.items()},
    }


def _from_payload(payload: dict, frame: int, device: torch.device) -> KeyframeEdit:
    G = generator_from_dict(payload["G"], device=device)
    mask = payload.get("mask_crop")
    return KeyframeEdit(
        frame=frame,
        G=G,
        pivot=payload["pivot"],
        offset=payload["offset"],
        handles_crop=payload["handles_crop"].numpy(),
        final_handles_crop=payload["final_handles_crop"].numpy(),
        mask_crop=None if mask is None else mask.numpy(),
        summary=payload["summary"],
    )


def keyframe_edit(
    keyframe_photo: np.ndarray,
    frame: int,
    landmarks_photo: np.ndarray,
    points,
    model: LoadedModel,
    config: PipelineConfig,
    work: VideoWork,
    mask_photo: np.ndarray | None = None,
    extra: dict | None = None,
    progress: bool = True,
    log=None,
) -> KeyframeEdit:
    """Edit the keyframe (or load its saved edit from `work`).

    Args:
        keyframe_photo: uint8 (H, W, 3) RGB, the keyframe.
        frame: its index.
        landmarks_photo: (68, 2) its smoothed landmarks (the crop every frame is aligned like).
        points: the `DragPoints` (keyframe pixels).
        model: the loaded generator; config: the run's config (already `config_for_model`).
        work: the work folder (the edit is saved there, and reused when present).
        mask_photo: (H, W) the user's mask on the keyframe, or None.
        extra: report entries for the keyframe's report.json.
        progress, log: progress bars and stage lines.

    Returns:
        `KeyframeEdit`.
    """
    device = next(model.G.parameters()).device
    payload = work.load_keyframe()
    if payload is not None:
        return _from_payload(payload, frame, device)
    alignment = align_landmarks(keyframe_photo, landmarks_photo, int(model.G.img_resolution), config.align)
    result = edit_aligned(
        keyframe_photo,
        alignment,
        points.handles_photo,
        points.targets_photo,
        model.G,
        config,
        mask_photo=mask_photo,
        generator_id=model.generator_id,
        progress=progress,
        log=log,
    )
    work.keyframe_dir.mkdir(parents=True, exist_ok=True)
    write_results(result, work.keyframe_dir, extra)
    pivot = result.inversion.ws.detach().to("cpu", torch.float32)
    payload = {
        "G": generator_to_dict(result.inversion.G),
        "pivot": pivot,
        "offset": result.drag.ws.detach().to("cpu", torch.float32) - pivot,
        "handles_crop": torch.from_numpy(np.asarray(result.handles_crop, np.float64)),
        "final_handles_crop": torch.from_numpy(np.asarray(result.final_handles_crop, np.float64)),
        "mask_crop": None if result.mask_crop is None else torch.from_numpy(result.mask_crop),
        "summary": _summary(result),
    }
    work.save_keyframe(payload)
    return _from_payload(payload, frame, device)
