"""Face track for video: shot cuts, identity across a cut, temporal smoothing, JSON cache."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from align import (
    IDENTITY_TOLERANCE,
    AlignError,
    FaceTracker,
    NoFaceFoundError,
    ShotDetector,
    TrackedFace,
    detect_faces,
    load_photo,
    shot_change,
    smooth_landmarks,
    track_faces,
    track_from_json,
    track_to_json,
)

H, W = 256, 320  # small frames: the whole clip tracks in about a second


def _fit(photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """The photo scaled to fit (height, width), centred on a grey background."""
    s = min(height / photo.shape[0], width / photo.shape[1])
    small = cv2.resize(photo, (round(photo.shape[1] * s), round(photo.shape[0] * s)), interpolation=cv2.INTER_AREA)
    out = np.full((height, width, 3), 40, np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def _camera(base: np.ndarray, k: int) -> np.ndarray:
    """Frame k of a slow camera move: 1 degree rotation, 2 % zoom, (4, 2) px shift per frame."""
    m = cv2.getRotationMatrix2D((W / 2, H / 2), 1.0 * k, 1.0 + 0.02 * k)
    m[:, 2] += (4.0 * k, 2.0 * k)
    return cv2.warpAffine(base, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def clip(photos_dir, face_models) -> list[np.ndarray]:
    """6 frames of Obama under camera motion; a cut to Biden (left) beside another Obama photo
    (right), twice; a cut to Biden alone."""
    obama, obama3, biden = (load_photo(photos_dir / n) for n in ("obama.jpg", "obama3.jpg", "biden.jpg"))
    base = _fit(obama, H, W)
    pair = np.concatenate([_fit(biden, H, W // 2), _fit(obama3, H, W // 2)], axis=1)
    return [_camera(base, k) for k in range(6)] + [pair, pair.copy(), _fit(biden, H, W)]


@pytest.fixture(scope="module")
def track(clip) -> list[TrackedFace | None]:
    return track_faces(enumerate(clip), clip[0])


def test_follows_the_chosen_face_through_camera_motion(clip, track):
    assert all(f is not None for f in track[:6])
    for k, face in enumerate(track[:6]):
        assert face.frame == k and face.shot == 0
        assert face.distance < IDENTITY_TOLERANCE / 2
        assert face.landmarks_photo.shape == (68, 2) and face.landmarks_photo.dtype == np.float64
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    assert track[0].distance == 0.0  # the keyframe itself
    # The camera moves right / down: the face moves with it.
    assert track[5].box[0] > track[0].box[0]


def test_after_a_cut_identity_picks_the_same_person_not_the_other(clip, track):
    for face in track[6:8]:
        assert face is not None and face.shot == 1
        assert face.box[0] >= W // 2  # Obama stands on the right, Biden on the left
        assert face.distance < IDENTITY_TOLERANCE
    assert track[8] is None  # Biden alone: the chosen face is absent


def test_shot_index_changes_exactly_at_cuts(clip):
    detector = ShotDetector()
    shots = [detector.update(frame) for frame in clip]
    assert shots == [0] * 6 + [1, 1, 2]
    assert not any(shot_change(a, b) for a, b in zip(clip[:5], clip[1:6]))
    assert shot_change(clip[5], clip[6]) and shot_change(clip[7], clip[8])


def test_face_index_and_errors(clip):
    pair = clip[6]
    faces = detect_faces(pair)
    assert len(faces) == 2
    assert FaceTracker(pair).reference_box == faces[0].box
    assert FaceTracker(pair, face_index=1).reference_box == faces[1].box
    with pytest.raises(AlignError, match="face_index 5 is out of range"):
        FaceTracker(pair, face_index=5)
    with pytest.raises(NoFaceFoundError, match="no face found on the keyframe") as err:
        FaceTracker(np.full((H, W, 3), 128, np.uint8))
    assert "\n" not in str(err.value)


def test_a_tracker_for_biden_never_returns_obama(clip):
    tracker = FaceTracker(clip[8])
    results = [tracker.update(k, frame) for k, frame in enumerate(clip)]
    assert results[:6] == [None] * 6
    assert all(r is not None and r.box[2] <= W // 2 for r in results[6:8])  # Biden, on the left
    assert results[8] is not None


def test_verify_every_keeps_the_track(clip, track):
    tracker = FaceTracker(clip[0], verify_every=3)
    results = [tracker.update(k, frame) for k, frame in enumerate(clip)]
    assert [r is None for r in results] == [f is None for f in track]
    for r, f in zip(results, track, strict=True):
        if r is not None:  # the same face; its box may come from a window search instead of the full frame
            np.testing.assert_allclose(r.box, f.box, atol=0.1 * (f.box[2] - f.box[0]))


# ----------------------------------------------------------------------------------------
# Smoothing and the cache: synthetic tracks


def _face(frame: int, landmarks: np.ndarray, shot: int = 0) -> TrackedFace:
    return TrackedFace(frame=frame, box=(10.0, 20.0, 110.0, 120.0), landmarks_photo=landmarks, distance=0.25, shot=shot)


def _base() -> np.ndarray:
    return np.random.default_rng(0).uniform(50, 200, (68, 2))


def test_smoothing_keeps_a_constant_track_bit_for_bit():
    lm = _base() + 0.1  # not exactly representable sums
    out = smooth_landmarks([_face(k, lm) for k in range(12)], sigma=2.0)
    assert all(np.array_equal(o, lm) for o in out)


def test_smoothing_keeps_a_linear_motion_linear_up_to_the_ends():
    velocity = np.array([1.7, -0.6])
    faces = [_face(k, _base() + k * velocity) for k in range(15)]
    out = smooth_landmarks(faces, sigma=1.5)
    for face, smoothed in zip(faces, out, strict=True):
        np.testing.assert_allclose(smoothed, face.landmarks_photo, atol=1e-9)


def test_smoothing_reduces_jitter():
    rng = np.random.default_rng(1)
    n, sigma = 200, 1.5
    noise = rng.normal(0, 1.0, (n, 68, 2))
    faces = [_face(k, _base() + noise[k]) for k in range(n)]
    out = np.stack(smooth_landmarks(faces, sigma=sigma)) - _base()
    inner = slice(10, n - 10)
    expected = 1 / np.sqrt(2 * np.sqrt(np.pi) * sigma)  # std of a Gaussian-averaged white noise
    assert out[inner].std() == pytest.approx(expected, rel=0.1)
    assert out.std() < 0.7  # the ends are smoothed too


def test_smoothing_never_mixes_across_a_cut_or_a_gap():
    a, b = _base(), _base() + 50.0
    faces = [_face(k, a) for k in range(5)] + [_face(k, b, shot=1) for k in range(5, 9)]
    faces += [None] + [_face(k, a, shot=1) for k in range(10, 14)]
    out = smooth_landmarks(faces, sigma=3.0)
    assert all(np.array_equal(o, a) for o in out[:5])
    assert all(np.array_equal(o, b) for o in out[5:9])
    assert out[9] is None
    assert all(np.array_equal(o, a) for o in out[10:])
    assert smooth_landmarks([None, None]) == [None, None]
    with pytest.raises(AlignError, match="sigma"):
        smooth_landmarks(faces, sigma=-1.0)


def test_json_round_trip_is_exact():
    rng = np.random.default_rng(2)
    faces = [_face(0, rng.uniform(0, 1000, (68, 2))), None, _face(2, rng.uniform(0, 1000, (68, 2)), shot=3)]
    faces[0] = TrackedFace(0, (0.1, 1 / 3, 2.5, 7.000000001), faces[0].landmarks_photo, 0.123456789012345, 0)
    back = track_from_json(json.loads(json.dumps(track_to_json(faces))))
    assert back == faces
    assert back[0].box == faces[0].box and back[0].distance == faces[0].distance
    with pytest.raises(AlignError, match="malformed face track"):
        track_from_json([{"frame": 0}])
