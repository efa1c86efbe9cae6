"""Face detection, landmarks and FFHQ alignment on real photos (dlib)."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

import align
from align import (
    AlignConfig,
    AlignError,
    FaceModelError,
    NoFaceFoundError,
    align_face,
    detect_faces,
    face_landmarks,
    load_photo,
    to_crop,
    to_photo,
)
from align.geometry import crop_corners

pytestmark = pytest.mark.usefixtures("face_models")


def _read_imglab(path):
    """dlib imglab XML -> {file: [(box (x0, y0, x1, y1), (68, 2) landmarks)]}."""
    faces = {}
    for image in ET.parse(path).getroot().iter("image"):
        entries = []
        for box in image.iter("box"):
            parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
            if len(parts) != 68:
                continue
            left, top = int(box.get("left")), int(box.get("top"))
            rect = (left, top, left + int(box.get("width")), top + int(box.get("height")))
            entries.append((rect, np.array([[float(p.get("x")), float(p.get("y"))] for p in parts])))
        faces[image.get("file")] = entries
    return faces


def _inter_ocular(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))


def test_face_model_path_finds_the_predictor():
    path = align.face_model_path("shape_predictor_68_face_landmarks.dat")
    assert path.is_file() and path.stat().st_size > 1_000_000


def test_missing_model_package_gives_a_clear_error(monkeypatch):
    with pytest.raises(FaceModelError, match="no_such_file.dat"):
        align.face_model_path("no_such_file.dat")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(FaceModelError, match="pip install face_recognition_models"):
        align.face_model_path("shape_predictor_68_face_landmarks.dat")


@pytest.mark.slow
def test_landmarks_match_the_hand_labelled_dlib_faces(dlib_faces_dir):
    """Detected 68 landmarks are within 5 % of the inter-ocular distance of the labels, on average."""
    errors, labelled = [], 0
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        for filename, truths in _read_imglab(dlib_faces_dir / xml).items():
            photo = load_photo(dlib_faces_dir / filename)
            detections = detect_faces(photo)
            for rect, truth in truths:
                labelled += 1
                centre = np.array([(rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2])
                near = [
                    d
                    for d in detections
                    if np.linalg.norm(np.add(d.box[:2], d.box[2:]) / 2 - centre) < (rect[2] - rect[0]) / 2
                ]
                if not near:
                    continue
                landmarks = face_landmarks(photo, near[0].box)
                errors.append(np.linalg.norm(landmarks - truth, axis=1).mean() / _inter_ocular(truth))
    assert labelled >= 40
    assert len(errors) >= 0.9 * labelled  # the detector finds the labelled faces
    assert np.mean(errors) < 0.05


def test_predictor_window_gives_the_same_landmarks_as_the_whole_photo(astronaut):
    import dlib

    from align.faces import _predictor_68

    box = detect_faces(astronaut)[0].box
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    whole = _predictor_68()(astronaut, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
    np.testing.assert_array_equal(face_landmarks(astronaut, box), [[p.x, p.y] for p in whole.parts()])


@pytest.mark.parametrize("size", [256, 1024])
def test_astronaut_is_upright_and_centred(astronaut, size):
    before = astronaut.copy()
    alignment = align_face(astronaut, size)
    np.testing.assert_array_equal(astronaut, before)  # input untouched
    assert alignment.kind == "face" and alignment.crop.shape == (size, size, 3) and alignment.crop.dtype == np.uint8
    assert alignment.crop_from_photo.dtype == np.float64 and alignment.photo_shape == (512, 512)
    assert len(alignment.all_face_boxes) == 1 and alignment.face_box == alignment.all_face_boxes[0]
    lm = alignment.landmarks_crop
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    mouth = (lm[48] + lm[54]) / 2
    eye_line = np.rad2deg(np.arctan2(*(eye_right - eye_left)[::-1]))
    assert abs(eye_line) < 3.0  # level eyes
    assert mouth[1] > eye_left[1] + 0.15 * size  # mouth below the eyes: upright
    # FFHQ framing: eyes centred horizontally, a little above the middle (c = eyes + 0.1 eye-to-mouth).
    eyes = (eye_left + eye_right) / 2
    assert abs(eyes[0] - (size - 1) / 2) < 0.03 * size
    assert 0.40 * size < eyes[1] < 0.50 * size
    assert 0.2 * size < eye_right[0] - eye_left[0] < 0.3 * size
    # The crop shows the photo: the eye region is darker than the forehead/skin around it.
    r = max(2, size // 64)
    ex, ey = np.rint(eye_left).astype(int)
    assert (
        alignment.crop[ey - r : ey + r, ex - r : ex + r].mean()
        < alignment.crop[ey - 6 * r : ey - 4 * r, ex - r : ex + r].mean()
    )


def test_crop_pixels_are_the_photo_at_the_mapped_points(astronaut):
    alignment = align_face(astronaut, 512, config=AlignConfig(interpolation="linear"))
    rng = np.random.default_rng(0)
    pts_crop = rng.integers(50, 460, (300, 2)).astype(np.float64)  # crop pixel centres
    pts_photo = to_photo(pts_crop, alignment)
    np.testing.assert_allclose(to_crop(pts_photo, alignment), pts_crop, atol=1e-6)
    map_x, map_y = (v.astype(np.float32)[None] for v in pts_photo.T)
    expected = cv2.remap(astronaut.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR)[0]
    crop_values = alignment.crop[pts_crop[:, 1].astype(int), pts_crop[:, 0].astype(int)]
    assert np.abs(expected - crop_values).max() <= 1.5


def test_several_faces_largest_first_and_face_index(dlib_faces_dir):
    photo = load_photo(dlib_faces_dir / "bald_guys.jpg")
    alignment = align_face(photo, 256)
    boxes = alignment.all_face_boxes
    assert len(boxes) >= 5
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    assert areas == sorted(areas, reverse=True)
    assert alignment.face_box == boxes[0]
    last = align_face(photo, 256, face_index=len(boxes) - 1)
    assert last.face_box == boxes[-1]
    # The chosen face's landmarks lie inside its own box.
    x0, y0, x1, y1 = last.face_box
    centre = last.landmarks_photo.mean(axis=0)
    assert x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1
    with pytest.raises(AlignError, match="face_index"):
        align_face(photo, 256, face_index=len(boxes))


def test_no_face_raises_and_suggests_box_mode():
    import skimage.data

    with pytest.raises(NoFaceFoundError, match="align_box"):
        align_face(skimage.data.chelsea(), 256)


def test_dogs_have_no_human_face(dlib_faces_dir):
    with pytest.raises(NoFaceFoundError):
        align_face(load_photo(dlib_faces_dir / "dogs.jpg"), 256)


def test_rgba_photo_aligns(photos_dir):
    alignment = align_face(load_photo(photos_dir / "32bit.png"), 256)
    assert alignment.crop.shape == (256, 256, 3)


@pytest.mark.parametrize("name", ["obama_partial_face.jpg", "obama_partial_face2.jpg"])
def test_face_cut_by_the_frame_still_aligns_with_padding(photos_dir, name):
    photo = load_photo(photos_dir / name)
    alignment = align_face(photo, 256)
    corners = to_photo(crop_corners(256), alignment)
    h, w = photo.shape[:2]
    leaves = (corners[:, 0] < -0.5) | (corners[:, 0] > w - 0.5) | (corners[:, 1] < -0.5) | (corners[:, 1] > h - 0.5)
    assert leaves.any()  # the crop really extends beyond the photo
    # Crop pixels that show points outside the photo are padded: FFHQ's blurred mirror by
    # default (not black, smoother than the photo), black with pad_mode='constant'.
    yy, xx = np.mgrid[0:256, 0:256]
    p = to_photo(np.stack([xx.ravel(), yy.ravel()], axis=1).astype(float), alignment)
    outside = ((p[:, 0] < -3) | (p[:, 0] > w + 2) | (p[:, 1] < -3) | (p[:, 1] > h + 2)).reshape(256, 256)
    assert outside.sum() > 500
    padded = alignment.crop[outside].astype(np.float64)
    assert padded.mean() > 30
    grad = np.abs(np.diff(alignment.crop.astype(np.float64), axis=1)).mean(axis=2)
    assert grad[outside[:, 1:]].mean() < grad[~outside[:, 1:]].mean()
    black = align_face(photo, 256, config=AlignConfig(pad_mode="constant"))
    assert black.crop[outside].max() == 0
    lm = alignment.landmarks_crop
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    assert abs(np.rad2deg(np.arctan2(*(eye_right - eye_left)[::-1]))) < 5.0


def test_big_photo_is_detected_downscaled_but_landmarked_at_full_resolution(astronaut):
    scale = 5.0  # 2560 x 2560 = 6.6 MP, detected on a 1 MP copy
    big = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    small = align_face(astronaut, 256)
    large = align_face(big, 256)
    # Same face, same framing (landmarks agree to a few % of the inter-ocular distance).
    expected = (small.landmarks_photo + 0.5) * scale - 0.5
    iod = _inter_ocular(expected)
    assert np.linalg.norm(large.landmarks_photo - expected, axis=1).mean() < 0.05 * iod
    diff = np.abs(large.crop.astype(int) - small.crop.astype(int))
    assert diff.mean() < 12


@pytest.mark.slow
def test_cnn_detector(photos_dir):
    config = AlignConfig(detector="cnn", detect_upsample=0)
    photo = load_photo(photos_dir / "obama_small.jpg")
    detections = detect_faces(photo, config)
    assert len(detections) == 1
    alignment = align_face(photo, 256, config=config)
    assert alignment.crop.shape == (256, 256, 3)
