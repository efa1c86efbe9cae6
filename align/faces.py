"""Face detection and 68-point landmarks with dlib (the only dlib user in the project).

dlib is imported lazily so that `import align` stays fast. The detector and predictor
files come from the PyPI package `face_recognition_models`; nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from align.config import AlignConfig
from align.errors import FaceModelError

__all__ = ["FaceDetection", "detect_faces", "face_landmarks", "face_model_path"]

_MODELS_PACKAGE = "face_recognition_models"


def face_model_path(filename: str) -> Path:
    """Path of a model file shipped in the `face_recognition_models` package.

    The package is located with `importlib.util.find_spec` (importing it needs
    `pkg_resources`, which recent setuptools no longer provides).

    Args:
        filename: e.g. 'shape_predictor_68_face_landmarks.dat', 'mmod_human_face_detector.dat'.

    Returns:
        Path to the existing file.

    Raises:
        FaceModelError: the package or the file is missing.
    """
    spec = importlib.util.find_spec(_MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelError(
            f"the dlib face models are missing: package {_MODELS_PACKAGE!r} is not installed; "
            f"run `pip install {_MODELS_PACKAGE}` (or use align_box / align_center, which need no model)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / filename
        if path.is_file():
            return path
    raise FaceModelError(
        f"{filename} not found in {list(spec.submodule_search_locations)}; reinstall it with "
        f"`pip install --force-reinstall {_MODELS_PACKAGE}`"
    )


def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise FaceModelError(f"dlib is not installed ({exc}); run `pip install dlib-bin`") from exc
    return dlib


@functools.cache
def _hog_detector():
    return _dlib().get_frontal_face_detector()


@functools.cache
def dlib_model(constructor: str, filename: str):
    """A dlib model built once per process from a `face_recognition_models` file.

    Args:
        constructor: the dlib class, e.g. 'shape_predictor', 'face_recognition_model_v1'.
        filename: the model file (see `face_model_path`).

    Raises:
        FaceModelError: dlib, the package or the file is missing.
    """
    return getattr(_dlib(), constructor)(str(face_model_path(filename)))


def _cnn_detector():
    return dlib_model("cnn_face_detection_model_v1", "mmod_human_face_detector.dat")


def _predictor_68():
    return dlib_model("shape_predictor", "shape_predictor_68_face_landmarks.dat")


@dataclass(frozen=True)
class FaceDetection:
    """One detected face.

    Attributes:
        box: (x0, y0, x1, y1) float in photo pixels, x1 / y1 exclusive (like photo[y0:y1, x0:x1]).
        score: detector confidence (HOG: SVM margin, > 0 by default; CNN: mmod confidence).
    """

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def _detection_scale(height: int, width: int, config: AlignConfig) -> tuple[float, int]:
    """(resize factor for the detection copy, number of dlib upsamplings)."""
    pixels = height * width
    if pixels > config.detect_max_pixels:
        return math.sqrt(config.detect_max_pixels / pixels), 0
    upsample = 0
    while upsample < config.detect_upsample and pixels * 4 ** (upsample + 1) <= config.detect_max_pixels:
        upsample += 1
    return 1.0, upsample


def detect_faces(photo: np.ndarray, config: AlignConfig = AlignConfig()) -> list[FaceDetection]:
    """Find faces with dlib, largest first.

    Big photos are detected on a copy downscaled to `config.detect_max_pixels` (speed;
    the HOG detector finds faces of ~80 px and more in that copy); small photos are
    upsampled up to `config.detect_upsample` times (finds faces down to ~40 px).

    *Convention*: boxes in photo pixels, (x0, y0, x1, y1) with exclusive ends.

    Args:
        photo: uint8 (H, W, 3) RGB.
        config: `detector`, `detect_max_pixels`, `detect_upsample` are used.

    Returns:
        Detections sorted by box area, largest first (ties: left to right); may be empty.
    """
    h, w = photo.shape[:2]
    factor, upsample = _detection_scale(h, w, config)
    image = photo
    if factor < 1.0:
        size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
        image = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    fx, fy = image.shape[1] / w, image.shape[0] / h
    image = np.ascontiguousarray(image)

    found: list[tuple[object, float]] = []
    if config.detector == "hog":
        rects, scores, _ = _hog_detector().run(image, upsample, 0.0)
        found = list(zip(rects, scores, strict=True))
    else:
        found = [(d.rect, d.confidence) for d in _cnn_detector()(image, upsample)]

    detections = []
    for rect, score in found:
        # dlib rectangles are inclusive pixel indices of the detection image; their area
        # [left - 0.5, right + 0.5] maps to [left / f - 0.5, (right + 1) / f - 0.5] in the photo.
        box = (rect.left() / fx, rect.top() / fy, (rect.right() + 1) / fx, (rect.bottom() + 1) / fy)
        detections.append(FaceDetection(box=tuple(float(v) for v in box), score=float(score)))
    detections.sort(key=lambda d: (-d.area, d.box[0], d.box[1]))
    return detections


def face_landmarks(photo: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The 68 iBUG landmarks of the face in `box`, predicted on the full-resolution photo.

    Uses dlib's `shape_predictor_68_face_landmarks.dat`, which is trained on boxes of
    dlib's HOG detector. Only a window around the box is handed to dlib (the predictor
    samples pixels near the box; a window of 3x the box gives identical results and keeps
    12-MP photos cheap).

    *Convention*: x right, y down, pixel centres at integer coordinates (photo pixels).

    Args:
        photo: uint8 (H, W, 3) RGB.
        box: (x0, y0, x1, y1) float in photo pixels, exclusive ends.

    Returns:
        (68, 2) float64 (x, y) in photo pixels (dlib rounds them to whole pixels).
    """
    dlib = _dlib()
    h, w = photo.shape[:2]
    x0, y0, x1, y1 = box
    left, top = int(round(x0)), int(round(y0))
    right, bottom = max(left, int(round(x1)) - 1), max(top, int(round(y1)) - 1)
    side = max(right - left, bottom - top) + 1
    wx0, wy0 = max(0, left - side), max(0, top - side)
    wx1, wy1 = min(w, right + side + 1), min(h, bottom + side + 1)
    window = np.ascontiguousarray(photo[wy0:wy1, wx0:wx1])
    rect = dlib.rectangle(left - wx0, top - wy0, right - wx0, bottom - wy0)
    shape = _predictor_68()(window, rect)
    points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
    return points + np.array([wx0, wy0], dtype=np.float64)
