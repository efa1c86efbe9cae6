"""align.identity_similarity: dlib face descriptors (align is the only dlib user)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data

from align import AlignError, detect_faces, face_descriptor, identity_distance, identity_similarity


def test_identity_of_a_face_with_itself_and_with_a_flat_image():
    face = np.ascontiguousarray(skimage.data.astronaut()[0:256, 128:384])
    assert identity_similarity(face, face) == pytest.approx(1.0, abs=1e-6)
    degraded = np.ascontiguousarray(np.clip(face.astype(np.int16) // 32 * 32, 0, 255).astype(np.uint8))
    assert 0 < identity_similarity(face, degraded) < 1
    flat = np.full((128, 128, 3), 90, np.uint8)
    assert math.isnan(identity_similarity(flat, flat))  # No face: NaN, not an error.


def test_identity_separates_people(utkface_dir):
    from common.images import read_image

    files = sorted(utkface_dir.glob("*.jpg"))[:2]
    a, b = (read_image(f) for f in files)
    same = identity_similarity(a, a)
    other = identity_similarity(a, b)
    assert same == pytest.approx(1.0, abs=1e-6)
    assert other < 0.97


def test_identity_distance_is_zero_for_the_same_photo_and_grows_with_the_change():
    photo = skimage.data.astronaut()
    box = detect_faces(photo)[0].box
    descriptor = face_descriptor(photo, box)
    assert descriptor.shape == (128,) and descriptor.dtype == np.float64
    assert identity_distance(photo, photo) == 0.0
    rng = np.random.default_rng(0)
    noisy = [np.clip(photo + rng.normal(0, s, photo.shape), 0, 255).astype(np.uint8) for s in (2.0, 24.0)]
    small, large = (identity_distance(photo, n, box) for n in noisy)
    assert 0 < small < large
    assert small < 0.1  # faint noise keeps the same person by face_recognition's 0.6 threshold
    flat = np.full((96, 96, 3), 90, np.uint8)
    assert math.isnan(identity_distance(flat, flat))  # no face: NaN, not an error


def test_identity_refuses_mismatched_images():
    with pytest.raises(AlignError, match="differ in size"):
        identity_similarity(np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(AlignError, match="uint8"):
        identity_similarity(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32))
    with pytest.raises(AlignError, match="identity_distance"):
        identity_distance(np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8))


def test_only_align_imports_dlib_and_inversion_library_code_never_imports_align():
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    offenders = []
    for package in ("stylegan", "align", "inversion", "draggan", "pipeline", "training"):
        for path in (repo / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                )
                for name in names:
                    top = name.split(".")[0]
                    if top == "dlib" and package != "align":
                        offenders.append(f"{path.relative_to(repo)} imports dlib")
                    # inversion's measuring tool (bench.py) may borrow align's face metric
                    if package == "inversion" and top == "align" and path.name != "bench.py":
                        offenders.append(f"{path.relative_to(repo)} imports {name}")
    assert not offenders, offenders
