"""Photo alignment for DragGAN editing: photo -> aligned crop + exact `crop_from_photo`, and back.

Faces are found with dlib and cropped the FFHQ way (`align_face`); any other subject is
cropped from a box (`align_box`) or the centre (`align_center`). Each returns an
`Alignment` whose 3x3 `crop_from_photo` describes the crop exactly, so points
(`to_crop`, `to_photo`) and pixels (`paste_back`, or `composite_warp`, which moves the photo's own
pixels) go back to the photo without drift.

*Convention*: points are float (x, y), x right, y down, pixel centres at integer
coordinates; images are uint8 (H, W, 3) RGB.

In a video, `FaceTracker` / `track_faces` follow one person's face by identity across shot cuts,
and `smooth_landmarks` smooths its landmarks over time within each shot (STIT).
"""

from align.alignment import (
    Alignment,
    align_box,
    align_center,
    align_face,
    align_landmarks,
    points_outside_crop,
    to_crop,
    to_photo,
)
from align.composite import CompositeResult, composite_warp
from align.config import FACE_PRESET_FIELDS, FACE_PRESETS, AlignConfig, PasteConfig, face_preset_values
from align.errors import AlignError, FaceModelError, NoFaceFoundError, PhotoError
from align.faces import FaceDetection, detect_faces, face_landmarks, face_model_path
from align.geometry import crop_from_quad, crop_from_rect, ffhq_quad, transform_points
from align.identity import face_descriptor, identity_distance, identity_similarity
from align.paste import change_mask, paste_back
from align.photo import load_photo, to_rgb_uint8
from align.shots import SHOT_THRESHOLD, ShotDetector, shot_change, shot_distance
from align.track import (
    IDENTITY_TOLERANCE,
    FaceTracker,
    TrackedFace,
    smooth_landmarks,
    track_faces,
    track_from_json,
    track_to_json,
)
from align.warp import warp_to_crop

__all__ = [
    "Alignment",
    "AlignConfig",
    "PasteConfig",
    "FACE_PRESETS",
    "FACE_PRESET_FIELDS",
    "face_preset_values",
    "AlignError",
    "NoFaceFoundError",
    "PhotoError",
    "FaceModelError",
    "align_face",
    "align_landmarks",
    "align_box",
    "align_center",
    "to_crop",
    "to_photo",
    "points_outside_crop",
    "paste_back",
    "composite_warp",
    "CompositeResult",
    "change_mask",
    "load_photo",
    "to_rgb_uint8",
    "detect_faces",
    "face_landmarks",
    "face_model_path",
    "identity_similarity",
    "identity_distance",
    "face_descriptor",
    "FaceDetection",
    "ffhq_quad",
    "crop_from_quad",
    "crop_from_rect",
    "transform_points",
    "warp_to_crop",
    "IDENTITY_TOLERANCE",
    "SHOT_THRESHOLD",
    "TrackedFace",
    "ShotDetector",
    "shot_distance",
    "shot_change",
    "FaceTracker",
    "track_faces",
    "smooth_landmarks",
    "track_to_json",
    "track_from_json",
]
