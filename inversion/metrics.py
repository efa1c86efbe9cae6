"""Reconstruction metrics between a target and its reconstruction, both uint8 (H, W, 3) RGB.

    psnr(a, b)                 dB, inf for identical images
    ssim(a, b)                 scikit-image SSIM over the 3 channels, 1 for identical images
    mse(a, b)                  mean squared error with intensities scaled to [0, 1]
    lpips_distance(a, b, ...)  LPIPS (any backbone available offline), 0 for identical images
    identity_similarity(a, b)  cosine similarity of dlib face descriptors, NaN without a face

The identity metric uses dlib's face-recognition ResNet
(`dlib_face_recognition_resnet_model_v1.dat`, 128-d descriptors) with the
frontal face detector and 5-point landmarks, all shipped in the
`face_recognition_models` package. dlib is imported lazily, only for it.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import torch

from inversion.errors import InversionError, MissingWeightsError
from inversion.lpips_loss import LPIPSLoss

# dlib's detector finds faces of about 80 px and more; crops are upsampled to
# at least this size before detection and landmarking.
IDENTITY_MIN_SIZE = 256


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, img in (("a", a), ("b", b)):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise InversionError(f"metric image {name} must be uint8 (H, W, 3) RGB, got {desc}: convert it first")
    if a.shape != b.shape:
        raise InversionError(f"metric images differ in size ({a.shape} vs {b.shape}): resize the reconstruction "
                             f"to the target first")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of uint8 (H, W, 3) images, with intensities scaled to [0, 1]."""
    _check_pair(a, b)
    d = (a.astype(np.float64) - b.astype(np.float64)) / 255.0
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 255) of uint8 (H, W, 3) images; inf when identical."""
    m = mse(a, b)
    return math.inf if m == 0 else float(-10.0 * math.log10(m))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (scikit-image, Gaussian-free 7x7 window, data range 255) of uint8 (H, W, 3) images.

    Returns:
        Mean SSIM over pixels and channels in [-1, 1]; 1 for identical images.
    """
    from skimage.metrics import structural_similarity

    _check_pair(a, b)
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def lpips_distance(a: np.ndarray, b: np.ndarray, net: str = "alex", backbone: str | os.PathLike | None = None,
                   device: torch.device | str = "cpu",
                   max_resolution: int | None = None, min_resolution: int = 64) -> float:
    """LPIPS distance of uint8 (H, W, 3) images (0 for identical images).

    Args:
        a, b: the images.
        net: 'alex' (the usual metric), 'vgg' or 'squeeze'.
        backbone: see `inversion.lpips_loss.resolve_backbone` (None = torchvision's cache).
        device: where to compute.
        max_resolution: area-downsample larger images first; None = native size.
        min_resolution: bilinearly upsample smaller images first.

    Raises:
        MissingWeightsError: the backbone is not available offline.
    """
    _check_pair(a, b)
    loss = LPIPSLoss.build(net, backbone, device, max_resolution, min_resolution)
    with torch.no_grad():
        return float(loss(_to_tensor(a, device), _to_tensor(b, device))[0])


def _to_tensor(img: np.ndarray, device: torch.device | str) -> torch.Tensor:
    t = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].to(device, torch.float32)
    return t / 127.5 - 1


def face_recognition_models_dir() -> Path:
    """The `models/` folder of the installed `face_recognition_models` package.

    The package is located, not imported: importing it needs pkg_resources.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError("identity similarity needs dlib's models: pip install face_recognition_models")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@functools.lru_cache(maxsize=1)
def _dlib_models():
    try:
        import dlib
    except ImportError as exc:
        raise MissingWeightsError("identity similarity needs dlib: pip install dlib-bin") from exc
    models = face_recognition_models_dir()
    files = {"predictor": models / "shape_predictor_5_face_landmarks.dat",
             "recognizer": models / "dlib_face_recognition_resnet_model_v1.dat"}
    for path in files.values():
        if not path.is_file():
            raise MissingWeightsError(f"dlib model {path.name} not found in {models}: "
                                      f"reinstall face_recognition_models")
    return (dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(files["predictor"])),
            dlib.face_recognition_model_v1(str(files["recognizer"])))


def _upsample_for_dlib(img: np.ndarray) -> np.ndarray:
    size = min(img.shape[:2])
    if size >= IDENTITY_MIN_SIZE:
        return np.ascontiguousarray(img)
    import cv2

    s = IDENTITY_MIN_SIZE / size
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_CUBIC)


def identity_similarity(target: np.ndarray, reconstruction: np.ndarray) -> float:
    """Cosine similarity of dlib face-recognition descriptors of target and reconstruction.

    The face is detected in the target only (largest frontal face; images
    smaller than 256 px are upsampled first) and the same box is used for the
    reconstruction, which is the same aligned crop: a poor reconstruction then
    scores low instead of failing detection.

    Args:
        target, reconstruction: uint8 (H, W, 3) RGB of the same size.

    Returns:
        Similarity in [-1, 1], 1 for identical images, or NaN when no face is
        found in the target. dlib's descriptors share a large common component,
        so different people still score high (0.80-0.89 on pairs of UTKFace
        crops): compare methods by differences, not by absolute values.

    Raises:
        MissingWeightsError: dlib or its models are not installed.
    """
    _check_pair(target, reconstruction)
    dlib, detector, predictor, recognizer = _dlib_models()
    a, b = _upsample_for_dlib(target), _upsample_for_dlib(reconstruction)
    boxes = detector(a, 0)
    if len(boxes) == 0:
        boxes = detector(a, 1)
    if len(boxes) == 0:
        return math.nan
    box = max(boxes, key=lambda r: r.width() * r.height())
    da = np.asarray(recognizer.compute_face_descriptor(a, predictor(a, box)))
    db = np.asarray(recognizer.compute_face_descriptor(b, predictor(b, box)))
    return float(np.dot(da, db) / max(np.linalg.norm(da) * np.linalg.norm(db), 1e-12))


def reconstruction_metrics(target: np.ndarray, reconstruction: np.ndarray, lpips_net: str = "alex",
                           lpips_backbone: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                           identity: bool = True) -> dict[str, float]:
    """Every metric at once: {'psnr', 'ssim', 'mse', 'lpips', 'id'} ('id' NaN without a face or when off)."""
    return {
        "psnr": psnr(target, reconstruction),
        "ssim": ssim(target, reconstruction),
        "mse": mse(target, reconstruction),
        "lpips": lpips_distance(target, reconstruction, lpips_net, lpips_backbone, device=device),
        "id": identity_similarity(target, reconstruction) if identity else math.nan,
    }
