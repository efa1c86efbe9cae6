"""Alignment timing on a 12-megapixel photo: `python -m benchmarks.align`.

Builds a 4032x3024 (12.2 MP, a phone camera's size) photo by upscaling a face photo
(`../shared/data/photos/obama.jpg` when present, else `skimage.data.astronaut()`),
then times each step with a warm model cache and prints a table. Not a test: timings
depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import align
from align.faces import _hog_detector, _predictor_68
from common.paths import shared_data

WIDTH, HEIGHT = 4032, 3024


def _source_photo() -> tuple[np.ndarray, str]:
    path = shared_data("data/photos/obama.jpg")
    if path.is_file():
        return align.load_photo(path), str(path)
    import skimage.data

    return skimage.data.astronaut(), "skimage.data.astronaut()"


def _twelve_megapixels(photo: np.ndarray) -> np.ndarray:
    # Fill a 4:3 frame in the photo's orientation: scale to cover it, then centre-crop.
    h, w = photo.shape[:2]
    out_w, out_h = (WIDTH, HEIGHT) if w >= h else (HEIGHT, WIDTH)
    scale = max(out_w / w, out_h / h)
    big = cv2.resize(photo, (int(np.ceil(w * scale)), int(np.ceil(h * scale))), interpolation=cv2.INTER_CUBIC)
    y0, x0 = (big.shape[0] - out_h) // 2, (big.shape[1] - out_w) // 2
    return np.ascontiguousarray(big[y0 : y0 + out_h, x0 : x0 + out_w])


def _time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="crop sizes")
    parser.add_argument("--repeats", type=int, default=3, help="runs per step (median reported)")
    args = parser.parse_args(argv)

    source, source_name = _source_photo()
    photo = _twelve_megapixels(source)
    config = align.AlignConfig()
    start = time.perf_counter()
    _hog_detector(), _predictor_68()
    load_models = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "photo12mp.jpg"
        cv2.imwrite(str(jpeg), photo[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        t_load, _ = _time(lambda: align.load_photo(jpeg), args.repeats)

    t_detect, detections = _time(lambda: align.detect_faces(photo, config), args.repeats)
    box = detections[0].box
    t_landmarks, landmarks = _time(lambda: align.face_landmarks(photo, box), args.repeats)

    rows = [
        ("load models (once per process)", "", load_models),
        ("load_photo (JPEG decode + EXIF)", "", t_load),
        ("detect_faces (HOG on 1 MP copy)", "", t_detect),
        ("face_landmarks (full resolution)", "", t_landmarks),
    ]
    for size in args.sizes:
        t_warp, _ = _time(lambda s=size: align.align_landmarks(photo, landmarks, s, config), args.repeats)
        t_total, alignment = _time(lambda s=size: align.align_face(photo, s, config=config), args.repeats)
        edited = alignment.crop.copy()
        c = size // 2
        r = size // 16
        edited[c - r : c + r, c - r : c + r] = 255 - edited[c - r : c + r, c - r : c + r]
        t_paste, _ = _time(lambda a=alignment, e=edited: align.paste_back(photo, a, e, a.crop), args.repeats)
        rows += [
            ("align_landmarks (warp only)", size, t_warp),
            ("align_face (total)", size, t_total),
            ("paste_back (local edit)", size, t_paste),
        ]

    print(
        f"photo: {photo.shape[1]}x{photo.shape[0]} ({photo.shape[0] * photo.shape[1] / 1e6:.1f} MP) "
        f"from {source_name}; "
        f"face box {tuple(round(v) for v in box)}; cv2 threads {cv2.getNumThreads()}; median of {args.repeats}"
    )
    print(f"{'step':<36} {'size':>5} {'seconds':>8}")
    print("-" * 51)
    for name, size, seconds in rows:
        print(f"{name:<36} {size!s:>5} {seconds:8.3f}")


if __name__ == "__main__":
    main()
