"""Align a folder of face photos into generator training crops (the step before `training.train`).

    python -m training.prepare --images ../shared/data/utkface --out data/utkface128 --size 128

Every image goes through `align.align_face`, the very alignment the pipeline applies to a
photo at inference, so that real photos aligned for editing land in the generator's domain.
Images without a detected face are skipped and counted; names in the hold-out list are
never written. The output folder holds `<stem>.png` crops (`x.jpg.chip.jpg` ->
`x.jpg.chip.png`; `training.dataset` matches hold-out names by this stem) and
`manifest.json` (settings, counts, one record per source image).

Face-crop preset. UTKFace "crop_part1" images are 200x200 and cut tightly around the face:
measured with dlib on 387 of them, the eyes sit at y ~ 60 and the mouth at y ~ 138, with
|eye_to_eye| ~ 78 px. FFHQ's quad (half side max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|),
centre eye_avg + 0.1 eye_to_mouth) would be ~315 px wide there and mostly reflection
padding. The 'utkface' preset instead centres the quad halfway between the eyes and the
mouth (center_shift 0.5) with half side max(1.1 |eye_to_eye|, 0.99 |eye_to_mouth|)
(~173 px): 91% of the quads lie inside the 200 px crops and 98% within 4 px of them
(the rest is padded by align's reflect-and-blur), and dlib's frontal detector (upsampling
once) still finds a face in 97.6% of the 128 px crops. The inference pipeline must use the
same preset for the model trained on these crops: it is `align.FACE_PRESETS['utkface']`, the
one place the framing is defined, and the trainer records its name in the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from align import (
    FACE_PRESET_FIELDS,
    FACE_PRESETS,
    AlignConfig,
    NoFaceFoundError,
    align_face,
    load_photo,
    transform_points,
)
from align.errors import PhotoError
from align.geometry import crop_corners
from common.errors import DragPipelineError
from training.config import PrepareConfig
from training.dataset import HOLDOUT_PATH, IMAGE_EXTENSIONS, load_holdout, write_holdout
from training.errors import PrepareError

__all__ = ["PrepareConfig", "PrepareResult", "prepare_dataset", "main"]

MANIFEST_FORMAT = "draggan-pipeline/aligned-dataset"


@dataclass
class PrepareResult:
    """Counts and files of one `prepare_dataset` run.

    Attributes:
        out_dir: the output folder.
        manifest: path of manifest.json.
        total: image files found in the input folder.
        written: crops written.
        held_out: images skipped because their name is in the hold-out list.
        no_face: images skipped because no face was detected (names in `no_face_names`).
        unreadable: images skipped because they could not be read (names in `unreadable_names`).
        padded: written crops whose quad reaches outside the photo (padded by align).
    """

    out_dir: Path
    manifest: Path
    total: int = 0
    written: int = 0
    held_out: int = 0
    no_face: int = 0
    unreadable: int = 0
    padded: int = 0
    no_face_names: list[str] = field(default_factory=list)
    unreadable_names: list[str] = field(default_factory=list)


def _crop_name(source_name: str, image_format: str) -> str:
    return f"{Path(source_name).stem}.{image_format}"


def _quad_outside_photo(crop_from_photo: np.ndarray, size: int, photo_shape: tuple[int, int]) -> bool:
    corners_photo = transform_points(np.linalg.inv(crop_from_photo), crop_corners(size))
    height, width = photo_shape
    tol = 1e-6
    return bool(
        np.any(corners_photo < -0.5 - tol)
        or np.any(corners_photo[:, 0] > width - 0.5 + tol)
        or np.any(corners_photo[:, 1] > height - 0.5 + tol)
    )


def _align_one(job: tuple[str, str, PrepareConfig]) -> dict:
    # Runs in worker processes: returns a plain record, writes the crop itself.
    from PIL import Image

    source, out_dir, config = job
    source_path = Path(source)
    record: dict = {"source": source_path.name}
    try:
        photo = load_photo(source_path)
    except PhotoError as exc:
        record.update(status="unreadable", error=str(exc))
        return record
    try:
        alignment = align_face(photo, config.size, config=AlignConfig.from_preset(config.preset))
    except NoFaceFoundError:
        record.update(status="no_face")
        return record
    crop_name = _crop_name(source_path.name, config.image_format)
    image = Image.fromarray(np.asarray(alignment.crop))
    if config.image_format == "png":
        image.save(Path(out_dir) / crop_name, optimize=False)
    else:
        image.save(Path(out_dir) / crop_name, quality=config.jpeg_quality, subsampling=0)
    record.update(
        status="ok",
        crop=crop_name,
        landmarks_ok=alignment.landmarks_photo is not None,
        num_faces=len(alignment.all_face_boxes),
        padded=_quad_outside_photo(alignment.crop_from_photo, config.size, alignment.photo_shape),
    )
    return record


def prepare_dataset(
    images_dir: str | Path,
    out_dir: str | Path,
    config: PrepareConfig = PrepareConfig(),
    progress: bool = True,
    limit: int | None = None,
) -> PrepareResult:
    """Aligns every face photo of a folder into `out_dir` (see the module docstring).

    Args:
        images_dir: folder of photos (not recursive).
        out_dir: output folder (created); existing crops of the same names are overwritten.
        config: crop size, preset, hold-out list, output format, workers.
        progress: show a progress bar (`common.progress`: one line per 10% when stderr is not a terminal).
        limit: only the first `limit` files in sorted order (for quick checks), None = all.

    Returns:
        PrepareResult with the counts; the same numbers are in manifest.json.

    Raises:
        PrepareError: the image folder is missing, or `out_dir` is that folder.
    """
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    files = _list_photos(images_dir, out_dir, limit)
    holdout_stems = _holdout_stems(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = PrepareResult(out_dir=out_dir, manifest=out_dir / "manifest.json", total=len(files))
    todo = []
    for path in files:
        if path.stem in holdout_stems:
            result.held_out += 1
        else:
            todo.append((str(path), str(out_dir), config))
    start = time.perf_counter()
    records = _align_all(todo, config, progress)
    _count_records(records, result)
    manifest = _manifest(images_dir, config, result, records, seconds=time.perf_counter() - start)
    result.manifest.write_text(json.dumps(manifest, indent=1) + "\n")
    return result


def _list_photos(images_dir: Path, out_dir: Path, limit: int | None) -> list[Path]:
    """The image files of `images_dir`, sorted (the first `limit`), after checking both folders."""
    if not images_dir.is_dir():
        raise PrepareError(f"image folder {images_dir} does not exist; pass --images DIR")
    if images_dir.resolve() == out_dir.resolve():
        raise PrepareError("--out must differ from --images (the crops would mix with the photos)")
    files = sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    return files[:limit] if limit is not None else files


def _holdout_stems(config: PrepareConfig) -> set[str]:
    """File stems never written (the hold-out list names source files; crops keep their stem)."""
    if config.holdout is None:
        return set()
    names = load_holdout(HOLDOUT_PATH if config.holdout == "default" else config.holdout)
    return {Path(name).stem for name in names}


def _align_all(todo: list[tuple[str, str, PrepareConfig]], config: PrepareConfig, progress: bool) -> list[dict]:
    """Runs `_align_one` on every job, in `config.workers` processes; the records in job order."""
    from common.progress import progress_bar

    records: list[dict] = []
    bar = progress_bar(
        total=len(todo), unit="img", disable=not progress, desc=f"align {config.size}px ({config.preset})"
    )
    try:
        if config.workers > 1:
            with multiprocessing.get_context("spawn").Pool(config.workers) as pool:
                for record in pool.imap(_align_one, todo, chunksize=16):
                    records.append(record)
                    bar.update()
        else:
            for job in todo:
                records.append(_align_one(job))
                bar.update()
    finally:
        bar.close()
    return records


def _count_records(records: list[dict], result: PrepareResult) -> None:
    """Adds the records' outcomes (written, padded, no face, unreadable) to `result`."""
    for record in records:
        status = record["status"]
        if status == "ok":
            result.written += 1
            result.padded += bool(record["padded"])
        elif status == "no_face":
            result.no_face += 1
            result.no_face_names.append(record["source"])
        else:
            result.unreadable += 1
            result.unreadable_names.append(record["source"])


def _manifest(
    images_dir: Path, config: PrepareConfig, result: PrepareResult, records: list[dict], seconds: float
) -> dict:
    """The content of manifest.json: settings, alignment, counts, one record per source image."""
    align_config = AlignConfig.from_preset(config.preset)
    return {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "source_dir": str(images_dir),
        "size": config.size,
        "preset": config.preset,
        "align_config": {
            key: getattr(align_config, key)
            for key in (*FACE_PRESET_FIELDS, "detector", "detect_upsample", "pad_mode", "interpolation", "antialias")
        },
        "holdout": config.holdout,
        "config": asdict(config),
        "counts": {
            "total": result.total,
            "written": result.written,
            "held_out": result.held_out,
            "no_face": result.no_face,
            "unreadable": result.unreadable,
            "padded": result.padded,
        },
        "seconds": round(seconds, 1),
        "images": records,
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    defaults = PrepareConfig()
    p = argparse.ArgumentParser(prog="python -m training.prepare", description=__doc__.split("\n\n")[0])
    p.add_argument("--images", required=True, help="folder of face photos (e.g. ../shared/data/utkface)")
    p.add_argument("--out", help="output folder of aligned crops (required unless --write-holdout)")
    p.add_argument("--size", type=int, default=defaults.size, help="crop side")
    p.add_argument("--preset", default=defaults.preset, help=f"face-crop preset: one of {sorted(FACE_PRESETS)}")
    p.add_argument(
        "--holdout", default="default", help="hold-out list ('default' = training/data/utkface_holdout.txt, or a path)"
    )
    p.add_argument("--no-holdout", action="store_true", help="write every image")
    p.add_argument("--format", dest="image_format", default=defaults.image_format, choices=("png", "jpg"))
    p.add_argument("--jpeg-quality", type=int, default=defaults.jpeg_quality)
    p.add_argument("--workers", type=int, default=defaults.workers, help="parallel processes")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (sorted), for a quick check")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--write-holdout",
        metavar="PATH",
        default=None,
        help="instead of aligning: regenerate the hold-out list from the --images listing "
        "(300 names, seed 0) into PATH ('default' = the committed file)",
    )
    args = p.parse_args(argv)
    try:
        if args.write_holdout is not None:
            target = HOLDOUT_PATH if args.write_holdout == "default" else Path(args.write_holdout)
            names = write_holdout(args.images, target)
            print(f"wrote {len(names)} hold-out names to {target}")
            return 0
        if not args.out:
            p.error("--out is required")
        config = PrepareConfig(
            size=args.size,
            preset=args.preset,
            holdout=None if args.no_holdout else args.holdout,
            image_format=args.image_format,
            jpeg_quality=args.jpeg_quality,
            workers=args.workers,
        )
        result = prepare_dataset(args.images, args.out, config, progress=not args.no_progress, limit=args.limit)
    except DragPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"{result.total} images: {result.written} crops written to {result.out_dir} "
        f"({result.padded} padded), {result.held_out} held out, {result.no_face} without a detected face, "
        f"{result.unreadable} unreadable; manifest {result.manifest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
