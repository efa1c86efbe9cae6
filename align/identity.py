"""Face identity: dlib face-recognition descriptors, compared by cosine similarity or distance.

It lives in `align` because `align` is the only package that imports dlib and knows where
its model files are (`align.faces.face_model_path`, the `face_recognition_models` package):
dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`, 128-d
descriptors) with the frontal (HOG) detector. The inversion benchmark, a measuring tool,
reports `identity_similarity` (5-point landmarks) beside PSNR / SSIM / LPIPS; the composite
benchmark reports `identity_distance` (68-point landmarks, Euclidean, as face_recognition's
`face_distance` with `model="large"`; it uses 0.6 as its same-person threshold).
"""

from __future__ import annotations

import math

import numpy as np

from align.errors import AlignError
from align.faces import _dlib, _hog_detector, _predictor_68, detect_faces, dlib_model
from common.images import check_rgb_pair

__all__ = ["identity_similarity", "identity_distance", "face_descriptor", "IDENTITY_MIN_SIZE"]

# dlib's frontal detector finds faces of about 80 px and more; images are upsampled to at
# least this size before detection and landmarking.
IDENTITY_MIN_SIZE = 256


def _upsample(img: np.ndarray) -> np.ndarray:
    size = min(img.shape[:2])
    if size >= IDENTITY_MIN_SIZE:
        return np.ascontiguousarray(img)
    import cv2

    s = IDENTITY_MIN_SIZE / size
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_CUBIC)


def identity_similarity(target: np.ndarray, reconstruction: np.ndarray) -> float:
    """Cosine similarity of dlib face-recognition descriptors of target and reconstruction.

    The face is detected in the target only (largest frontal face; images smaller than
    256 px are upsampled first) and the same box is used for the reconstruction, which is
    the same aligned crop: a poor reconstruction then scores low instead of failing detection.

    Args:
        target, reconstruction: uint8 (H, W, 3) RGB of the same size.

    Returns:
        Similarity in [-1, 1], 1 for identical images, or NaN when no face is found in the
        target. dlib's descriptors share a large common component, so different people
        still score high (0.80-0.89 on pairs of UTKFace crops): compare methods by
        differences, not by absolute values.

    Raises:
        AlignError: the images are not uint8 (H, W, 3) of the same size.
        FaceModelError: dlib or its models are not installed (exit code 3).
    """
    check_rgb_pair(target, reconstruction, "identity_similarity", AlignError)
    detector = _hog_detector()
    predictor = dlib_model("shape_predictor", "shape_predictor_5_face_landmarks.dat")
    recognizer = dlib_model("face_recognition_model_v1", "dlib_face_recognition_resnet_model_v1.dat")
    a, b = _upsample(target), _upsample(reconstruction)
    boxes = detector(a, 0)
    if len(boxes) == 0:
        boxes = detector(a, 1)
    if len(boxes) == 0:
        return math.nan
    box = max(boxes, key=lambda r: r.width() * r.height())
    da = np.asarray(recognizer.compute_face_descriptor(a, predictor(a, box)))
    db = np.asarray(recognizer.compute_face_descriptor(b, predictor(b, box)))
    return float(np.dot(da, db) / max(np.linalg.norm(da) * np.linalg.norm(db), 1e-12))


def _recognizer():
    return dlib_model("face_recognition_model_v1", "dlib_face_recognition_resnet_model_v1.dat")


def face_descriptor(photo: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """dlib's 128-d face-recognition descriptor of the face in `box` (68-point landmarks, no jitter).

    Args:
        photo: uint8 (H, W, 3) RGB.
        box: (x0, y0, x1, y1) float photo pixels, exclusive ends (as `detect_faces` gives).

    Returns:
        (128,) float64 descriptor (dlib's unit-scale embedding).

    Raises:
        FaceModelError: dlib or its models are not installed (exit code 3).
    """
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    rect = _dlib().rectangle(x0, y0, max(x0, x1 - 1), max(y0, y1 - 1))
    image = np.ascontiguousarray(photo)
    return np.asarray(_recognizer().compute_face_descriptor(image, _predictor_68()(image, rect)), np.float64)


def identity_distance(
    original: np.ndarray, edited: np.ndarray, box: tuple[float, float, float, float] | None = None
) -> float:
    """Euclidean distance of dlib face descriptors of a photo and its edit (0 = the same face).

    The face is found in `original` (largest, `detect_faces`) unless `box` is given; the same
    box is used in `edited`, whose landmarks are predicted anew, so they follow the edit. The
    descriptor follows expression too: compare an edit against a reference edit, not against 0.

    Args:
        original, edited: uint8 (H, W, 3) RGB of the same size.
        box: (x0, y0, x1, y1) float photo pixels of the face, or None to detect it.

    Returns:
        Distance >= 0 (face_recognition calls < 0.6 the same person), NaN when no face is found.

    Raises:
        AlignError: the images are not uint8 (H, W, 3) of the same size.
        FaceModelError: dlib or its models are not installed (exit code 3).
    """
    check_rgb_pair(original, edited, "identity_distance", AlignError)
    if box is None:
        faces = detect_faces(original)
        if not faces:
            return math.nan
        box = faces[0].box
    return float(np.linalg.norm(face_descriptor(original, box) - face_descriptor(edited, box)))
