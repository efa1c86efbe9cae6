"""Hard cuts between consecutive video frames, from a cheap colour statistic.

*Convention*: frames are uint8 (H, W, 3) RGB.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from align.errors import AlignError
from align.photo import check_photo

__all__ = ["SHOT_THRESHOLD", "ShotDetector", "shot_distance", "shot_change"]

# Hard-cut threshold on `shot_distance` (Bhattacharyya distance of HSV histograms, in [0, 1]).
# Chosen by measurement on clips built from the shared photos (as tests/align/test_align_track.py
# builds them): slow camera motion of one photo (per frame: shifts of 4-12 px, zooms of 2-6 %,
# rotations of 1-2 degrees, at 320x256 and 1280x720, of obama, obama3, biden and two_people)
# scored at most 0.087; cuts between those photos (including obama -> obama3 beside biden)
# scored at least 0.386. 0.2 sits between them with a factor of ~2 on both sides. Sparser
# statistics separated worse (64 px copies, 16x8x8 bins: motion up to 0.18, cuts from 0.44).
# A missed cut between shots of the same colours costs only smoothing across it: identity is
# checked on every frame regardless.
SHOT_THRESHOLD = 0.2
_SHOT_SIDE = 128  # frames are compared on a 128x128 area-averaged copy
_SHOT_BINS = (8, 8, 8)  # hue, saturation, value bins (OpenCV 8-bit HSV: H in [0, 180))


def _hsv_histogram(frame: np.ndarray) -> np.ndarray:
    small = cv2.resize(np.ascontiguousarray(frame), (_SHOT_SIDE, _SHOT_SIDE), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_SHOT_BINS), [0, 180, 0, 256, 0, 256])
    return hist / max(float(hist.sum()), 1.0)


def _histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def shot_distance(previous: np.ndarray, current: np.ndarray) -> float:
    """How different two frames look overall: Bhattacharyya distance of their HSV histograms.

    Both frames are shrunk to 128x128 (area average) and histogrammed in 8x8x8 hue,
    saturation, value bins; the statistic ignores where colours are, so camera motion
    within a shot barely changes it, while a cut to other content does.

    Args:
        previous, current: uint8 (H, W, 3) RGB frames (sizes may differ).

    Returns:
        Distance in [0, 1]: 0 for identical colour distributions.
    """
    return _histogram_distance(_hsv_histogram(check_photo(previous)), _hsv_histogram(check_photo(current)))


def shot_change(previous: np.ndarray, current: np.ndarray, threshold: float = SHOT_THRESHOLD) -> bool:
    """Whether there is a hard cut between two consecutive frames (`shot_distance` > threshold).

    Args:
        previous, current: uint8 (H, W, 3) RGB frames.
        threshold: see `SHOT_THRESHOLD` for how the default was chosen.

    Returns:
        True at a cut.
    """
    return shot_distance(previous, current) > threshold


class ShotDetector:
    """Streaming shot index: `update(frame)` on consecutive frames returns 0, 0, ..., 1, 1, ...

    Keeps only the previous frame's histogram (a few kB), not the frame.
    """

    def __init__(self, threshold: float = SHOT_THRESHOLD) -> None:
        if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
            raise AlignError(f"ShotDetector threshold must be in (0, 1), got {threshold!r}")
        self.threshold = float(threshold)  # cut where shot_distance exceeds this
        self.shot = -1  # index of the current shot; -1 before the first frame
        self.last_distance = math.nan  # shot_distance of the last two frames (NaN on the first)
        self._previous: np.ndarray | None = None

    def update(self, frame: np.ndarray) -> int:
        """The shot index of `frame`, the next frame of the clip (uint8 (H, W, 3) RGB)."""
        hist = _hsv_histogram(check_photo(frame))
        if self._previous is None:
            self.shot = 0
        else:
            self.last_distance = _histogram_distance(self._previous, hist)
            if self.last_distance > self.threshold:
                self.shot += 1
        self._previous = hist
        return self.shot
