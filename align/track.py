"""Following one person's face through a video: shot cuts, identity, temporally smoothed landmarks.

The chosen face of a keyframe (largest, or `face_index` in `detect_faces` order) is the
reference identity: its dlib 128-d descriptor (`face_descriptor`). On every frame the faces
are detected and the one whose descriptor is nearest the reference is taken when it is
within `IDENTITY_TOLERANCE`; otherwise the frame has no tracked face (cut away, turned,
covered), and other people are never returned. Hard cuts are found from a cheap colour
statistic (`shot_change`), so that the landmarks can be smoothed over time inside a shot
(`smooth_landmarks`, after STIT) and never across a cut.

*Convention*: points and boxes in photo (frame) pixels, x right, y down, pixel centres at
integer coordinates; boxes (x0, y0, x1, y1) with exclusive ends; frames uint8 (H, W, 3) RGB.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from align.config import AlignConfig
from align.errors import AlignError, NoFaceFoundError
from align.faces import _hog_detector, detect_faces, face_landmarks
from align.identity import face_descriptor
from align.photo import check_photo
from align.shots import SHOT_THRESHOLD, ShotDetector, shot_change, shot_distance

__all__ = [
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

Box = tuple[float, float, float, float]

# face_recognition's same-person rule: descriptor distance <= 0.6 (`compare_faces(...,
# tolerance=0.6)`, face_recognition/api.py; dlib's model card: 99.38% on LFW at 0.6).
IDENTITY_TOLERANCE = 0.6


@dataclass(frozen=True, eq=False)
class TrackedFace:
    """The chosen face on one frame.

    Attributes:
        frame: frame index in the clip.
        box: detector box (x0, y0, x1, y1) float in photo pixels, exclusive ends (as `FaceDetection`).
        landmarks_photo: (68, 2) float64 raw dlib landmarks in photo pixels (read-only).
        distance: descriptor distance to the reference face (>= 0; < `IDENTITY_TOLERANCE`).
        shot: index of the shot the frame belongs to (0 for the first frame, +1 at each cut).
    """

    frame: int
    box: Box
    landmarks_photo: np.ndarray
    distance: float
    shot: int

    def __post_init__(self) -> None:
        landmarks = np.array(self.landmarks_photo, dtype=np.float64, copy=True)
        if landmarks.shape != (68, 2):
            raise AlignError(f"TrackedFace.landmarks_photo must be (68, 2), got {landmarks.shape}")
        if len(self.box) != 4:
            raise AlignError(f"TrackedFace.box must be (x0, y0, x1, y1), got {self.box!r}")
        landmarks.setflags(write=False)
        object.__setattr__(self, "landmarks_photo", landmarks)
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrackedFace):
            return NotImplemented
        return (self.frame, self.box, self.distance, self.shot) == (
            other.frame,
            other.box,
            other.distance,
            other.shot,
        ) and np.array_equal(self.landmarks_photo, other.landmarks_photo)

    __hash__ = None  # mutable-looking array field: not hashable, as Alignment


# ----------------------------------------------------------------------------------------
# Identity tracking


def _iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# Within a shot, a detection overlapping the previous frame's box by at least this much is
# the same face moved (faces do not move half their width between frames at video rates).
_CONTINUITY_IOU = 0.5


# Following a face inside a shot, the detector sees only a window of 3x the previous box,
# scaled so that the face is ~120 px there: HOG's 80 px window still finds it after the face
# shrinks by a third, and a 720p frame costs a tenth of a full detection.
_FOLLOW_FACE_PX = 120.0


def _detect_near(photo: np.ndarray, box: Box) -> list[Box]:
    """HOG detections in a window around `box`, in photo pixels (exclusive ends)."""
    h, w = photo.shape[:2]
    side = max(box[2] - box[0], box[3] - box[1], 1.0)
    x0, y0 = max(0, int(box[0] - side)), max(0, int(box[1] - side))
    x1, y1 = min(w, int(math.ceil(box[2] + side))), min(h, int(math.ceil(box[3] + side)))
    factor = min(_FOLLOW_FACE_PX / side, 2.0)
    size = (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor)))
    window = cv2.resize(photo[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    fx, fy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    rects, _, _ = _hog_detector().run(np.ascontiguousarray(window), 0, 0.0)
    # As detect_faces: inclusive dlib pixel indices -> exclusive photo box.
    return [
        (x0 + r.left() / fx, y0 + r.top() / fy, x0 + (r.right() + 1) / fx, y0 + (r.bottom() + 1) / fy) for r in rects
    ]


class FaceTracker:
    """Follows the chosen face of a keyframe through a stream of frames, by identity.

    Inside a shot, the detector first searches only a window around the previous frame's box
    (3x its side, scaled so the face is ~120 px): the one detection there that continues the
    track (IoU >= 0.5) is taken when its descriptor distance is below `tolerance / 2`
    (clearly the same person), or, with `verify_every` > 1, without a descriptor on all but
    every `verify_every`-th frame (carrying the last distance). Otherwise (first frame, after
    a cut, after a frame without the face, ambiguous or doubtful continuity) every face of the
    whole frame is detected (`detect_faces`, with its downscaling of large frames) and the
    one whose descriptor is nearest the reference is taken if below `tolerance`.
    """

    def __init__(
        self,
        reference_photo: np.ndarray,
        face_index: int | None = None,
        config: AlignConfig = AlignConfig(),
        tolerance: float = IDENTITY_TOLERANCE,
        box: Box | None = None,
        shot_threshold: float = SHOT_THRESHOLD,
        verify_every: int = 1,
    ) -> None:
        """Detects the reference face on the keyframe.

        Args:
            reference_photo: the keyframe, uint8 (H, W, 3) RGB.
            face_index: which face of the keyframe, in `detect_faces` order (largest first);
                None: the largest.
            config: detection settings (`detector`, `detect_max_pixels`, `detect_upsample`).
            tolerance: descriptor distance below which a face is the reference person.
            box: (x0, y0, x1, y1) face box on the keyframe, photo pixels, exclusive ends; used
                as given instead of detecting (then `face_index` must be None).
            shot_threshold: see `ShotDetector`.
            verify_every: descriptor on every n-th frame of a continuous track (1 = every frame).

        Raises:
            NoFaceFoundError: the keyframe has no face.
            AlignError: `face_index` out of range, or bad arguments.
        """
        photo = check_photo(reference_photo, config.max_photo_pixels, "reference_photo")
        if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 2):
            raise AlignError(f"FaceTracker tolerance must be in (0, 2), got {tolerance!r}")
        if not (isinstance(verify_every, int) and verify_every >= 1):
            raise AlignError(f"FaceTracker verify_every must be an int >= 1, got {verify_every!r}")
        if box is not None and face_index is not None:
            raise AlignError("give FaceTracker either box or face_index, not both")
        if box is None:
            faces = detect_faces(photo, config)
            if not faces:
                raise NoFaceFoundError(
                    'no face found on the keyframe; choose another keyframe ("frame" in the points file)'
                )
            index = 0 if face_index is None else face_index
            if not (isinstance(index, int) and 0 <= index < len(faces)):
                raise AlignError(
                    f"face_index {face_index!r} is out of range: the keyframe has {len(faces)} face(s), "
                    f"use 0..{len(faces) - 1}"
                )
            box = faces[index].box
        self.config = config
        self.tolerance = float(tolerance)
        self.verify_every = verify_every
        self.reference_box: Box = tuple(float(v) for v in box)
        self.reference_landmarks_photo = face_landmarks(photo, self.reference_box)
        self.reference_descriptor = face_descriptor(photo, self.reference_box)
        self.shots = ShotDetector(shot_threshold)
        self._last: TrackedFace | None = None
        self._since_verified = 0

    def _continuing(self, boxes: list[Box], shot: int) -> int | None:
        """Index of the one detection continuing the previous frame's track in this shot, else None."""
        if self._last is None or self._last.shot != shot:
            return None
        near = [i for i, b in enumerate(boxes) if _iou(b, self._last.box) >= _CONTINUITY_IOU]
        return near[0] if len(near) == 1 else None

    def _distance(self, photo: np.ndarray, box: Box) -> float:
        return float(np.linalg.norm(face_descriptor(photo, box) - self.reference_descriptor))

    def _follow(self, photo: np.ndarray, shot: int) -> tuple[Box, float] | None:
        """The face continuing the track, found near the previous box only, if it is clearly the same."""
        if self._last is None or self._last.shot != shot or self.config.detector != "hog":
            return None
        boxes = _detect_near(photo, self._last.box)
        keep = self._continuing(boxes, shot)
        if keep is None:
            return None
        if self._since_verified + 1 < self.verify_every:
            self._since_verified += 1
            return boxes[keep], self._last.distance
        distance = self._distance(photo, boxes[keep])
        if distance >= self.tolerance / 2:
            return None  # not clearly the same person: let every face of the frame compete
        self._since_verified = 0
        return boxes[keep], distance

    def _identify(self, photo: np.ndarray) -> tuple[Box, float] | None:
        """The face of the whole frame nearest the reference, if within tolerance."""
        self._since_verified = 0
        best: tuple[Box, float] | None = None
        for detection in detect_faces(photo, self.config):
            distance = self._distance(photo, detection.box)
            if best is None or distance < best[1]:
                best = detection.box, distance
        return best if best is not None and best[1] < self.tolerance else None

    def update(self, frame_index: int, photo: np.ndarray) -> TrackedFace | None:
        """The reference face on the next frame of the clip, or None when it is not there.

        Frames must come in clip order (the shot index compares consecutive calls).

        Args:
            frame_index: index of the frame in the clip (stored in the result).
            photo: uint8 (H, W, 3) RGB frame.

        Returns:
            The nearest face within `tolerance` of the reference, or None.
        """
        photo = check_photo(photo, self.config.max_photo_pixels, "frame")
        shot = self.shots.update(photo)
        found = self._follow(photo, shot)
        if found is None:
            found = self._identify(photo)
        if found is None:
            self._last = None
            return None
        self._last = TrackedFace(
            frame=int(frame_index),
            box=found[0],
            landmarks_photo=face_landmarks(photo, found[0]),
            distance=found[1],
            shot=shot,
        )
        return self._last


def track_faces(
    frames: Iterable[tuple[int, np.ndarray]],
    reference_photo: np.ndarray,
    face_index: int | None = None,
    config: AlignConfig = AlignConfig(),
    progress: Callable[[int], None] | None = None,
) -> list[TrackedFace | None]:
    """Runs a `FaceTracker` over a stream of frames (one at a time; frames are not kept).

    Args:
        frames: (frame_index, uint8 (H, W, 3) RGB frame) in clip order.
        reference_photo: the keyframe, uint8 (H, W, 3) RGB.
        face_index: which keyframe face (`detect_faces` order); None: the largest.
        config: detection settings.
        progress: called with the number of frames done after each frame, or None.

    Returns:
        One entry per frame, in stream order: the tracked face or None.

    Raises:
        NoFaceFoundError: the keyframe has no face.
        AlignError: `face_index` out of range.
    """
    tracker = FaceTracker(reference_photo, face_index=face_index, config=config)
    faces: list[TrackedFace | None] = []
    for frame_index, frame in frames:
        faces.append(tracker.update(frame_index, frame))
        if progress is not None:
            progress(len(faces))
    return faces


# ----------------------------------------------------------------------------------------
# Temporal smoothing


def _segments(faces: Sequence[TrackedFace | None]) -> list[list[int]]:
    """Runs of list positions with a face, the same shot and increasing frame indices."""
    runs: list[list[int]] = []
    previous: TrackedFace | None = None
    for i, face in enumerate(faces):
        if face is None:
            previous = None
            continue
        if previous is None or face.shot != previous.shot or face.frame <= previous.frame:
            runs.append([])
        runs[-1].append(i)
        previous = face
    return runs


def _local_linear(times: np.ndarray, points: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-weighted local linear fit of points (n, 68, 2) over times (n,), evaluated at each time."""
    radius = 3.0 * sigma
    out = points.copy()
    for k, t in enumerate(times):
        near = np.flatnonzero(np.abs(times - t) <= radius)
        if near.size < 2:
            continue
        d = times[near] - t
        w = np.exp(-0.5 * (d / sigma) ** 2)
        # Fit the residuals to the centre point, so that a constant track gives exactly 0
        # and the point comes back bit-for-bit (normalised weights: no drift of the mean).
        r = points[near] - points[k]
        s0, s1, s2 = w.sum(), (w * d).sum(), (w * d * d).sum()
        r0 = np.tensordot(w, r, axes=1)
        r1 = np.tensordot(w * d, r, axes=1)
        det = s0 * s2 - s1 * s1
        if det <= 1e-12 * s0 * s2:
            continue
        out[k] = points[k] + (s2 * r0 - s1 * r1) / det
    return out


def smooth_landmarks(faces: Sequence[TrackedFace | None], sigma: float = 1.5) -> list[np.ndarray | None]:
    """Landmarks smoothed over time inside each shot, so aligned crops do not jitter.

    STIT (Tzaban et al., "Stitch it in Time", 2022) makes the crops of a clip temporally
    coherent by smoothing the alignment over time before cropping: its `utils/alignment.py`
    (`crop_faces`) runs a Gaussian filter along time (`gaussian_filter1d`, `center_sigma`,
    `xy_sigma`) over the FFHQ quad's centre and axes of every frame of the clip. Here the
    68 landmarks are smoothed instead, so the crop still comes from `align_landmarks`, and
    only within one run of frames: same shot, face found on every frame between (a cut or
    a frame without the face ends a run; STIT's clips have neither). Each coordinate becomes
    a Gaussian-weighted (std `sigma` frames, cut at 3 sigma) *local linear* fit over its run.
    Away from a run's ends it equals the normalised Gaussian average; at the ends it stays
    unbiased (a plain filter pulls a moving face back towards where it stood). So a constant
    track comes back bit-for-bit, a linear motion stays linear everywhere, and independent
    jitter shrinks (std x ~1 / sqrt(2 sqrt(pi) sigma) inside a run: 0.43 at sigma 1.5).

    Args:
        faces: per-frame `TrackedFace` or None, in clip order (as `track_faces` returns);
            time is `TrackedFace.frame`.
        sigma: Gaussian std in frames, >= 0 (0: no smoothing).

    Returns:
        One entry per input: (68, 2) float64 smoothed landmarks in photo pixels, or None where
        the face was not found.

    Raises:
        AlignError: a negative or non-finite sigma.
    """
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise AlignError(f"smooth_landmarks sigma must be a finite number >= 0 (frames), got {sigma!r}")
    out: list[np.ndarray | None] = [None if f is None else np.array(f.landmarks_photo) for f in faces]
    if sigma == 0:
        return out
    for run in _segments(faces):
        times = np.array([faces[i].frame for i in run], dtype=np.float64)
        points = np.stack([faces[i].landmarks_photo for i in run]).astype(np.float64)
        for i, smoothed in zip(run, _local_linear(times, points, float(sigma)), strict=True):
            out[i] = smoothed
    return out


# ----------------------------------------------------------------------------------------
# Caching


def track_to_json(faces: Sequence[TrackedFace | None]) -> list:
    """A JSON-serialisable list for a track (floats round-trip exactly through `json`).

    Args:
        faces: per-frame `TrackedFace` or None.

    Returns:
        A list with None or {'frame', 'box', 'landmarks_photo', 'distance', 'shot'} per frame.
    """
    return [
        None
        if f is None
        else {
            "frame": f.frame,
            "box": [float(v) for v in f.box],
            "landmarks_photo": f.landmarks_photo.tolist(),
            "distance": float(f.distance),
            "shot": f.shot,
        }
        for f in faces
    ]


def track_from_json(data: list) -> list[TrackedFace | None]:
    """The track written by `track_to_json`.

    Raises:
        AlignError: the data is not such a list.
    """
    if not isinstance(data, list):
        raise AlignError(f"a face track must be a JSON list, got {type(data).__name__}; delete the cached track")
    try:
        return [
            None
            if item is None
            else TrackedFace(
                frame=int(item["frame"]),
                box=tuple(float(v) for v in item["box"]),
                landmarks_photo=np.asarray(item["landmarks_photo"], dtype=np.float64),
                distance=float(item["distance"]),
                shot=int(item["shot"]),
            )
            for item in data
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise AlignError(f"malformed face track entry ({exc}); delete the cached track to recompute it") from exc
