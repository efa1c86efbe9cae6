"""A face model on real held-out faces: inversion quality and the mouth drag test.

UTKFace faces in `training/data/utkface_holdout.txt` were never trained on. Each is aligned
the way the model was trained (`pipeline.model_defaults.model_face_preset`), inverted with
W, W+ and PTI (W+ and PTI start from the same W projection, as `inversion.invert` does), and
edited by the drag test:

  *Drag test*: both mouth corners (iBUG landmarks 48 and 54 of the aligned crop) are
  dragged outward along the eye axis by 10% of the distance between the eye centres. The
  edit passes when the drag converges, dlib still finds a face in the edited crop, the
  mouth gets wider and the eye landmarks (36-47) move less than 1.5 px on average.
  Landmarks are compared between the reconstruction and the edited crop, both measured the
  same way (dlib on a 4x enlarged copy), so detector bias cancels.

Used by `python -m evaluation.face_model_report` and by the tests; needs dlib's models (align/) and the
UTKFace folder (../shared/data/utkface).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from align import AlignConfig, align_face, detect_faces, face_landmarks, load_photo
from align.errors import AlignError
from draggan import DragConfig, drag
from evaluation.composite_quality import edit_points
from inversion import InversionConfig
from inversion.api import lpips_losses, target_to_tensor
from inversion.metrics import lpips_distance, psnr, ssim
from inversion.project import generator_with_noise, project_w, project_wplus
from inversion.pti import pivotal_tuning
from stylegan import Generator, uint8_from_ws
from training.dataset import HOLDOUT_PATH, load_holdout

__all__ = [
    "EYES",
    "MOUTH_CORNERS",
    "heldout_crops",
    "crop_landmarks",
    "InvertedFace",
    "invert_face",
    "mouth_targets",
    "DragTestResult",
    "mouth_drag_test",
]

EYES = slice(36, 48)  # iBUG 68: right eye 36-41, left eye 42-47
MOUTH_CORNERS = (48, 54)  # iBUG 68: outer mouth corners
LANDMARK_UPSCALE = 4  # dlib's HOG detector needs faces of ~80 px; a 64-px crop is enlarged 4x


def heldout_crops(
    utkface_dir: str | os.PathLike,
    size: int,
    align_config: AlignConfig,
    count: int,
    holdout: str | os.PathLike = HOLDOUT_PATH,
) -> list[tuple[str, object]]:
    """The first `count` held-out faces (hold-out list order) that dlib aligns.

    Args:
        utkface_dir: folder of UTKFace crops (../shared/data/utkface).
        size: crop side (the generator's resolution).
        align_config: framing of the model's training crops.
        count: how many aligned faces to return.
        holdout: the hold-out list.

    Returns:
        [(file name, align.Alignment)], at most `count`; faces dlib does not find are skipped.
    """
    out = []
    for name in load_holdout(holdout):
        path = Path(utkface_dir) / name
        if not path.is_file():
            continue
        try:
            out.append((name, align_face(load_photo(path), size, config=align_config)))
        except AlignError:
            continue
        if len(out) == count:
            break
    return out


def crop_landmarks(image: np.ndarray) -> np.ndarray | None:
    """The 68 landmarks of the largest face dlib finds in a small crop, or None.

    Args:
        image: uint8 (R, R, 3) RGB, e.g. a 64-px generator image.

    Returns:
        (68, 2) float64 in the image's pixels (x right, y down, pixel centres at integers), or None.
    """
    big = cv2.resize(image, None, fx=LANDMARK_UPSCALE, fy=LANDMARK_UPSCALE, interpolation=cv2.INTER_CUBIC)
    faces = detect_faces(big)
    if not faces:
        return None
    points = face_landmarks(big, faces[0].box)
    # Pixel centres at integers in both images: x_small = (x_big + 0.5) / s - 0.5.
    return (points + 0.5) / LANDMARK_UPSCALE - 0.5


@dataclass(frozen=True, eq=False)
class InvertedFace:
    """One face inverted with each method.

    Attributes:
        ws: method -> (1, num_ws, w_dim) pivot.
        G: method -> the generator to edit with ('pti': the tuned copy; 'pti-noise': tuned with
            the projection's optimised noise written in; 'w', 'w+': G with that noise).
        reconstruction: method -> uint8 (R, R, 3).
        seconds: method -> seconds (W+ and PTI include the shared W projection).
    """

    ws: dict
    G: dict
    reconstruction: dict
    seconds: dict


def invert_face(
    G: Generator,
    crop: np.ndarray,
    config: InversionConfig,
    methods=("w", "w+", "pti"),
    pti_noise: tuple[bool, ...] = (False,),
) -> InvertedFace:
    """Inverts one aligned crop with every method from one shared W projection.

    Args:
        G: the generator (not modified).
        crop: uint8 (R, R, 3) aligned crop.
        config: the inversion settings (the model's defaults).
        methods: any of 'w', 'w+', 'pti'.
        pti_noise: for PTI, whether the projection's optimised noise maps are written into the
            tuned generator (True, as `inversion.invert` with `optimize_noise`) or G's own
            noise is kept (False); one entry per variant ('pti' / 'pti-noise').

    Returns:
        InvertedFace.
    """
    target = target_to_tensor(np.array(crop), G)
    device = G.device
    lpips, pti_lpips = lpips_losses(config, device)
    t = time.perf_counter()
    w_avg, w_std = G.mean_w(num_samples=config.w_avg_samples, seed=config.seed)
    proj = project_w(G, target, lpips, w_avg, float(w_std), config)
    t_w = time.perf_counter() - t
    ws, gens, seconds = {}, {}, {}
    if "w" in methods:
        # G itself when the projection kept G's noise maps (no copy).
        ws["w"], gens["w"], seconds["w"] = proj.ws, generator_with_noise(G, proj.noise) if proj.noise else G, t_w
    if "w+" in methods:
        t = time.perf_counter()
        plus = project_wplus(G, target, lpips, proj.ws, float(w_std), config, noise=proj.noise)
        gens["w+"] = generator_with_noise(G, plus.noise) if plus.noise else G
        ws["w+"], seconds["w+"] = plus.ws, t_w + time.perf_counter() - t
    if "pti" in methods:
        for keep_noise in pti_noise:
            t = time.perf_counter()
            tuned = pivotal_tuning(G, proj.ws, target, pti_lpips, config, noise=proj.noise if keep_noise else None)
            key = "pti-noise" if keep_noise else "pti"
            ws[key], gens[key], seconds[key] = proj.ws, tuned.G, t_w + time.perf_counter() - t
    recon = {key: uint8_from_ws(gens[key], ws[key], force_fp32=True)[0] for key in ws}
    return InvertedFace(ws=ws, G=gens, reconstruction=recon, seconds=seconds)


def reconstruction_scores(reconstruction: np.ndarray, target: np.ndarray, backbone: str | None = None) -> dict:
    """{'psnr', 'ssim', 'lpips'} of a reconstruction against its target (LPIPS-squeeze, the shipped backbone)."""
    return {
        "psnr": psnr(target, reconstruction),
        "ssim": ssim(target, reconstruction),
        "lpips": lpips_distance(target, reconstruction, net="squeeze", backbone=backbone),
    }


def mouth_targets(landmarks_crop: np.ndarray, fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Handles at both mouth corners and targets moved outward along the eye axis.

    The 'mouth-wider' edit of `evaluation.composite_quality.edit_points`, in crop pixels.

    Args:
        landmarks_crop: (68, 2) iBUG landmarks in crop pixels.
        fraction: drag length as a fraction of the distance between the eye centres.

    Returns:
        (handles_crop, targets_crop), each (2, 2) float64: [left corner 48, right corner 54].
    """
    return edit_points(landmarks_crop, "mouth-wider", fraction)


@dataclass(frozen=True)
class DragTestResult:
    """Outcome of `mouth_drag_test` on one face.

    Attributes:
        converged: the drag reached its stop distance.
        final_distance: max handle-to-target distance after the drag (crop px).
        face_found: dlib finds a face (and its landmarks) in the edited crop.
        mouth_width_change: mouth-corner distance, edited minus reconstruction (crop px; None without a face).
        eye_shift: mean displacement of the eye landmarks 36-47 (crop px; None without a face).
        steps: drag steps taken.
    """

    converged: bool
    final_distance: float
    face_found: bool
    mouth_width_change: float | None
    eye_shift: float | None
    steps: int

    @property
    def passed(self) -> bool:
        """Converged, face found, mouth wider, eyes still (< 1.5 px)."""
        return (
            self.converged
            and self.face_found
            and self.mouth_width_change is not None
            and self.mouth_width_change > 0
            and self.eye_shift < 1.5
        )


def mouth_drag_test(
    G_edit: Generator,
    ws: torch.Tensor,
    landmarks_crop: np.ndarray,
    reconstruction: np.ndarray,
    config: DragConfig = DragConfig(),
    fraction: float = 0.1,
) -> DragTestResult:
    """Drags both mouth corners outward by `fraction` of the eye distance and checks the result.

    Args:
        G_edit: the generator to edit with (e.g. the PTI-tuned copy).
        ws: (1, num_ws, w_dim) pivot.
        landmarks_crop: (68, 2) landmarks of the aligned crop (from the photo's alignment).
        reconstruction: uint8 (R, R, 3), G_edit's image of ws (the "before" for landmarks).
        config: the drag settings (the model's defaults).
        fraction: drag length / eye distance.

    Returns:
        DragTestResult.
    """
    handles, targets = mouth_targets(landmarks_crop, fraction)
    size = int(G_edit.img_resolution)
    handles, targets = np.clip(handles, 0, size - 1), np.clip(targets, 0, size - 1)
    result = drag(G_edit, ws, handles, targets, config=config)
    final = float(np.hypot(*(np.asarray(result.handles) - targets).T).max())
    before, after = crop_landmarks(reconstruction), crop_landmarks(result.image)
    if after is None or before is None:
        return DragTestResult(bool(result.converged), final, after is not None, None, None, int(result.steps))

    def width(points: np.ndarray) -> float:
        return float(np.hypot(*(points[MOUTH_CORNERS[1]] - points[MOUTH_CORNERS[0]])))

    eye_shift = float(np.hypot(*(after[EYES] - before[EYES]).T).mean())
    return DragTestResult(
        bool(result.converged), final, True, width(after) - width(before), eye_shift, int(result.steps)
    )
