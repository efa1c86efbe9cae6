"""Photo -> aligned crop: faces (FFHQ alignment), user boxes and centre crops.

Every mode produces one matrix `crop_from_photo` and resamples the photo once through it,
so points and pixels move between the two frames exactly (`to_crop`, `to_photo`,
`align.paste_back`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from align.config import AlignConfig
from align.errors import AlignError, NoFaceFoundError
from align.faces import detect_faces, face_landmarks
from align.geometry import box_to_rect, crop_from_quad, crop_from_rect, ffhq_quad, transform_points
from align.photo import check_photo
from align.warp import warp_to_crop

__all__ = [
    "Alignment",
    "align_face",
    "align_landmarks",
    "align_box",
    "align_center",
    "to_crop",
    "to_photo",
    "points_outside_crop",
]

Box = tuple[float, float, float, float]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Alignment:
    """An aligned crop and the exact transform between it and the photo.

    *Convention*: x right, y down, pixel centres at integer coordinates in both frames;
    crop pixel (i, j) shows the photo at photo_from_crop @ (j, i, 1).

    Attributes:
        crop: uint8 (size, size, 3) RGB, read-only.
        crop_from_photo: (3, 3) float64, read-only.
        photo_shape: (H, W) of the photo it was cut from.
        size: crop side in pixels.
        kind: 'face', 'box' or 'center'.
        landmarks_photo: (68, 2) float64 in photo pixels for faces, else None.
        face_box: the chosen face's detector box (x0, y0, x1, y1), exclusive ends, or None.
        all_face_boxes: every detected face box, largest first (empty for non-face modes).
        content_box: (x0, y0, x1, y1) crop pixel indices, exclusive ends, holding photo
            content; the rest (e.g. LSUN-car bars) is black. The whole crop by default.
    """

    crop: np.ndarray
    crop_from_photo: np.ndarray
    photo_shape: tuple[int, int]
    size: int
    kind: str
    landmarks_photo: np.ndarray | None = None
    face_box: Box | None = None
    all_face_boxes: tuple[Box, ...] = ()
    content_box: tuple[int, int, int, int] | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", _readonly(self.crop))
        object.__setattr__(self, "crop_from_photo", _readonly(np.asarray(self.crop_from_photo, dtype=np.float64)))
        if self.landmarks_photo is not None:
            object.__setattr__(self, "landmarks_photo", _readonly(np.asarray(self.landmarks_photo, dtype=np.float64)))
        object.__setattr__(self, "photo_shape", (int(self.photo_shape[0]), int(self.photo_shape[1])))
        if self.content_box is None:
            object.__setattr__(self, "content_box", (0, 0, self.size, self.size))
        if self.crop.shape != (self.size, self.size, 3) or self.crop.dtype != np.uint8:
            raise AlignError(
                f"Alignment.crop must be uint8 ({self.size}, {self.size}, 3), got {self.crop.dtype} {self.crop.shape}"
            )
        if self.crop_from_photo.shape != (3, 3):
            raise AlignError(f"Alignment.crop_from_photo must be 3x3, got {self.crop_from_photo.shape}")

    def __repr__(self) -> str:
        face = (
            ""
            if self.face_box is None
            else f", face_box={tuple(round(v, 1) for v in self.face_box)}, faces={len(self.all_face_boxes)}"
        )
        return (
            f"Alignment(kind={self.kind!r}, size={self.size}, photo_shape={self.photo_shape}, "
            f"content_box={self.content_box}{face})"
        )

    @property
    def photo_from_crop(self) -> np.ndarray:
        """(3, 3) float64 inverse of `crop_from_photo`."""
        return np.linalg.inv(self.crop_from_photo)

    @property
    def landmarks_crop(self) -> np.ndarray | None:
        """(68, 2) float64 landmarks in crop pixels, or None."""
        return None if self.landmarks_photo is None else to_crop(self.landmarks_photo, self)


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 8 <= int(size) <= 8192:
        raise AlignError(
            f"size must be an int in [8, 8192] (the generator's resolution, e.g. 256, 512, 1024), got {size!r}"
        )
    return int(size)


def _warp(photo: np.ndarray, crop_from_photo: np.ndarray, size: int, config: AlignConfig) -> np.ndarray:
    return warp_to_crop(
        photo,
        crop_from_photo,
        size,
        pad_mode=config.pad_mode,
        interpolation=config.interpolation,
        antialias=config.antialias,
    )


def align_landmarks(
    photo: np.ndarray,
    landmarks_photo: np.ndarray,
    size: int,
    config: AlignConfig = AlignConfig(),
) -> Alignment:
    """FFHQ-align a face whose 68 landmarks are known.

    The quad from `align.geometry.ffhq_quad` (multipliers from `config`) is mapped onto
    the crop's outer corners by one affine `crop_from_photo`, and the photo is resampled
    once (see `align.warp.warp_to_crop`; FFHQ's reflect + blur padding by default).

    *Convention*: x right, y down, pixel centres at integer coordinates.

    Args:
        photo: uint8 (H, W, 3) RGB.
        landmarks_photo: (68, 2) float (x, y) in photo pixels, iBUG layout.
        size: crop side (the generator's resolution).
        config: face geometry and resampling fields are used.

    Returns:
        Alignment with kind 'face' and no detector boxes.
    """
    photo = check_photo(photo, config.max_photo_pixels)
    size = _check_size(size)
    landmarks = np.asarray(landmarks_photo, dtype=np.float64)
    if landmarks.shape != (68, 2) or not np.all(np.isfinite(landmarks)):
        raise AlignError(f"landmarks_photo must be finite (68, 2) (x, y), got {landmarks.shape}")
    quad = ffhq_quad(landmarks, config.eye_scale, config.mouth_scale, config.center_shift)
    crop_from_photo = crop_from_quad(quad, size)
    crop = _warp(photo, crop_from_photo, size, config)
    return Alignment(
        crop=crop,
        crop_from_photo=crop_from_photo,
        photo_shape=photo.shape[:2],
        size=size,
        kind="face",
        landmarks_photo=landmarks,
    )


def align_face(
    photo: np.ndarray,
    size: int,
    face_index: int | None = None,
    config: AlignConfig = AlignConfig(),
) -> Alignment:
    """Detect faces, predict 68 landmarks and FFHQ-align one face.

    Detection runs on a downscaled copy of big photos; landmarks are predicted on the
    full-resolution photo. Faces partly outside the frame are aligned too: the crop is
    padded (`config.pad_mode`).

    *Convention*: x right, y down, pixel centres at integer coordinates.

    Args:
        photo: uint8 (H, W, 3) RGB (see `load_photo`).
        size: crop side (the generator's resolution: 256, 512, 1024 ...).
        face_index: which face, in the order of `Alignment.all_face_boxes` (largest
            first); None = the largest (same as 0).
        config: detection, face geometry and resampling settings.

    Returns:
        Alignment with kind 'face', the landmarks, the chosen box and all boxes.

    Raises:
        NoFaceFoundError: no face detected.
        AlignError: face_index out of range.
        FaceModelError: dlib or face_recognition_models is not installed.
    """
    photo = check_photo(photo, config.max_photo_pixels)
    size = _check_size(size)
    detections = detect_faces(photo, config)
    if not detections:
        raise NoFaceFoundError(
            f"no face found in the {photo.shape[1]}x{photo.shape[0]} photo ({config.detector} detector); "
            "for other subjects use align_box(photo, box, size) or align_center(photo, size)"
        )
    index = 0 if face_index is None else face_index
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(detections):
        raise AlignError(
            f"face_index {face_index!r} is out of range: {len(detections)} face(s) found; "
            f"use 0..{len(detections) - 1} (largest first)"
        )
    chosen = detections[int(index)]
    landmarks = face_landmarks(photo, chosen.box)
    aligned = align_landmarks(photo, landmarks, size, config)
    return dataclasses.replace(aligned, face_box=chosen.box, all_face_boxes=tuple(d.box for d in detections))


def _content_box(size: int, aspect: float) -> tuple[int, int, int, int]:
    # The generator's content centred in the square canvas: e.g. LSUN car, 512x384 with
    # 64-px black bars at the top and bottom (StyleGAN2 dataset_tool.py, create_lsun_wide).
    if aspect >= 1.0:
        height = min(size, max(1, int(round(size / aspect))))
        top = (size - height) // 2
        return 0, top, size, top + height
    width = min(size, max(1, int(round(size * aspect))))
    left = (size - width) // 2
    return left, 0, left + width, size


def _align_rect(photo: np.ndarray, rect: Box, size: int, kind: str, config: AlignConfig) -> Alignment:
    content = _content_box(size, config.content_aspect)
    x0, y0, x1, y1 = content
    crop_from_photo = crop_from_rect(rect, (x0 - 0.5, y0 - 0.5, x1 - 0.5, y1 - 0.5))
    crop = _warp(photo, crop_from_photo, size, config)
    if content != (0, 0, size, size):
        bars = np.zeros_like(crop)
        bars[y0:y1, x0:x1] = crop[y0:y1, x0:x1]
        crop = bars
    return Alignment(
        crop=crop,
        crop_from_photo=crop_from_photo,
        photo_shape=photo.shape[:2],
        size=size,
        kind=kind,
        content_box=content,
    )


def align_box(
    photo: np.ndarray,
    box: Box,
    size: int,
    config: AlignConfig = AlignConfig(),
) -> Alignment:
    """Crop a user box (any object: cat, dog, car ...) to the generator's frame.

    The box grows by `config.box_margin` on each side and is scaled as large as possible
    into the generator's content area (the whole square, or e.g. LSUN car's 512x384 band
    for `content_aspect=4/3`), centred; the shorter relative side gets extra context.
    Parts outside the photo are padded (`config.pad_mode`).

    *Convention*: `box` = (x0, y0, x1, y1) in photo pixel indices with exclusive ends,
    like `photo[y0:y1, x0:x1]` (floats allowed); pixel centres at integer coordinates.

    Args:
        photo: uint8 (H, W, 3) RGB.
        box: (x0, y0, x1, y1), x1 > x0, y1 > y0, overlapping the photo.
        size: crop side (the generator's resolution).
        config: `box_margin`, `content_aspect` and resampling fields are used.

    Returns:
        Alignment with kind 'box'.
    """
    photo = check_photo(photo, config.max_photo_pixels)
    size = _check_size(size)
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise AlignError(f"box must be 4 numbers (x0, y0, x1, y1), got {box!r}") from exc
    if not all(map(math.isfinite, (x0, y0, x1, y1))) or x1 <= x0 or y1 <= y0:
        raise AlignError(f"box {box!r} is empty or invalid; it needs x1 > x0 and y1 > y0 in photo pixels")
    h, w = photo.shape[:2]
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise AlignError(f"box {box!r} lies outside the {w}x{h} photo; give (x0, y0, x1, y1) in photo pixels")
    left, top, right, bottom = box_to_rect((x0, y0, x1, y1))
    mx, my = (right - left) * config.box_margin, (bottom - top) * config.box_margin
    return _align_rect(photo, (left - mx, top - my, right + mx, bottom + my), size, "box", config)


def align_center(photo: np.ndarray, size: int, config: AlignConfig = AlignConfig()) -> Alignment:
    """Crop the largest centred region with the generator's aspect (a square by default).

    *Convention*: x right, y down, pixel centres at integer coordinates.

    Args:
        photo: uint8 (H, W, 3) RGB.
        size: crop side (the generator's resolution).
        config: `content_aspect` and resampling fields are used (`box_margin` is not).

    Returns:
        Alignment with kind 'center'.
    """
    photo = check_photo(photo, config.max_photo_pixels)
    size = _check_size(size)
    h, w = photo.shape[:2]
    aspect = config.content_aspect
    rw, rh = (h * aspect, float(h)) if w / h > aspect else (float(w), w / aspect)
    cx, cy = (w - 1) * 0.5, (h - 1) * 0.5
    rect = (cx - rw / 2, cy - rh / 2, cx + rw / 2, cy + rh / 2)
    return _align_rect(photo, rect, size, "center", config)


def _check_alignment(alignment: Alignment) -> Alignment:
    if not isinstance(alignment, Alignment):
        raise AlignError(f"expected an align.Alignment, got {type(alignment).__name__}")
    return alignment


def to_crop(points_photo: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Map points from photo pixels to crop pixels.

    *Convention*: x right, y down, pixel centres at integer coordinates in both frames.

    Args:
        points_photo: (N, 2) float (x, y) in photo pixels.
        alignment: from `align_face` / `align_box` / `align_center`.

    Returns:
        (N, 2) float64 (x, y) in crop pixels; may lie outside [-0.5, size - 0.5]
        (see `points_outside_crop`).
    """
    return transform_points(_check_alignment(alignment).crop_from_photo, points_photo)


def to_photo(points_crop: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Map points from crop pixels back to photo pixels (the exact inverse of `to_crop`).

    *Convention*: x right, y down, pixel centres at integer coordinates in both frames.

    Args:
        points_crop: (N, 2) float (x, y) in crop pixels.
        alignment: the Alignment the crop came from.

    Returns:
        (N, 2) float64 (x, y) in photo pixels.
    """
    return transform_points(_check_alignment(alignment).photo_from_crop, points_crop)


def points_outside_crop(points_photo: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Which photo points fall outside the crop's content area (so cannot be edited there).

    *Convention*: a point is inside when its crop coordinates lie within the content
    box's pixel area, [x0 - 0.5, x1 - 0.5] x [y0 - 0.5, y1 - 0.5] (the whole crop,
    [-0.5, size - 0.5]^2, unless the generator has bars).

    Args:
        points_photo: (N, 2) float (x, y) in photo pixels.
        alignment: the Alignment.

    Returns:
        (N,) bool, True = outside.
    """
    pts = to_crop(points_photo, alignment)
    x0, y0, x1, y1 = alignment.content_box
    inside = (pts[:, 0] >= x0 - 0.5) & (pts[:, 0] <= x1 - 0.5) & (pts[:, 1] >= y0 - 0.5) & (pts[:, 1] <= y1 - 0.5)
    return ~inside
