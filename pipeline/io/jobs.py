"""Edit jobs: one photo, its drag points and its settings; read from the CLI or a jobs file.

A jobs file (`run_pipeline.py --batch jobs.jsonl`) holds one JSON object a line::

    {"id": "ann", "image": "ann.jpg", "handles": [[x, y], ...], "targets": [[x, y], ...]}
    {"image": "bob.png", "pairs": [{"handle": [x, y], "target": [x, y]}], "align": "center"}
    {"image": "group.jpg", "pairs": [...], "face_index": "all", "mask": "group_mask.png"}

Keys: `id` (optional, default the line number; letters, digits, '.', '_', '-'), `image`,
`handles`/`targets` or `pairs`, and optionally `mask`, `align`, `box`, `face_index` (a
number or "all") and `checkpoint`. Paths are relative to the jobs file. Blank lines and
lines starting with '#' are ignored. The command line's options are every job's defaults.

*Convention*: points are float (x, y) in original photo pixels, x right, y down, pixel
centres at integer coordinates.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from common.images import image_size
from pipeline.config import ALL_FACES, AlignNames, PipelineConfig, check_align_choice
from pipeline.errors import PipelineError
from pipeline.io.points import DragPoints, check_points_in_frame, parse_points

__all__ = [
    "Job",
    "JobLineError",
    "BadLine",
    "ALL_FACES",
    "JOB_KEYS",
    "photo_size",
    "parse_job_line",
    "read_jobs",
    "check_job_id",
    "single_job",
]

JOB_KEYS = (
    "id",
    "image",
    "handles",
    "targets",
    "pairs",
    "frame",
    "mask",
    "align",
    "box",
    "face_index",
    "checkpoint",
)
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
# How a jobs file spells the alignment keys in messages: '"box" needs "align": "box"'.
_JOB_NAMES = AlignNames(
    align='"align"', box='"box"', face_index='"face_index"', face_preset='"face_preset"', choice='{name}: "{value}"'
)


class JobLineError(PipelineError):
    """A line of a jobs file cannot be run: bad JSON, unknown keys, missing files, bad points."""


@dataclass(frozen=True)
class Job:
    """One edit: a photo, its points and the settings it runs with.

    Attributes:
        id: the job's name; its outputs go to `<out>/<id>/` in batch mode.
        image: the photo file.
        points: handles/targets in photo pixels (and the mask named in a points file).
        mask_path: the mask PNG (photo-sized, white = may move), or None.
        config: the `PipelineConfig` before the model's own adjustments
            (`pipeline.runner.config_for_model`).
        checkpoint: generator file or registered name.
        all_faces: `face_index "all"`: every face with points is edited (`pipeline.group`).
        line: the line of the jobs file (None in single mode).
        points_source: where the points came from (the --points file, or 'jobs.jsonl:LINE').
        video: `image` is a clip (`pipeline.video`): the points are on keyframe `points.frame`.
    """

    id: str
    image: Path
    points: DragPoints
    mask_path: Path | None
    config: PipelineConfig
    checkpoint: str
    all_faces: bool = False
    line: int | None = None
    points_source: str = ""
    video: bool = False


@dataclass(frozen=True)
class BadLine:
    """A jobs-file line that was skipped: its number, the id it asked for (or the line number) and why."""

    line: int
    id: str
    error: JobLineError


def photo_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as `align.load_photo` will return it (EXIF rotation applied).

    Reads the header only.

    Raises:
        JobLineError: missing or unreadable file.
    """
    return image_size(path, what="image", error=JobLineError, fix="paths are relative to the jobs file")


def check_job_id(value, line: int) -> str:
    """The job id as a folder name; raises JobLineError when it cannot be one."""
    if value is None:
        return str(line)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise JobLineError(f'"id" must be a string or a number, got {json.dumps(value)[:40]}')
    text = str(value)
    if not _ID.match(text):
        raise JobLineError(
            f"id {text!r} cannot name a folder: use up to 100 letters, digits, '.', '_' or '-' "
            "(not starting with '.' or '-')"
        )
    return text


def _path(value, key: str, base_dir: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise JobLineError(f'"{key}" must be a file path, got {json.dumps(value)[:60]}')
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _points(doc: dict, source: str, base_dir: Path) -> DragPoints:
    if "pairs" in doc:
        if "handles" in doc or "targets" in doc:
            raise JobLineError('give either "pairs" or "handles"/"targets", not both')
        layout = {"points": doc["pairs"]}
    elif "handles" in doc and "targets" in doc:
        layout = {"handles": doc["handles"], "targets": doc["targets"]}
    else:
        raise JobLineError(
            'no points: give "handles" and "targets" ([[x, y], ...]) or '
            '"pairs" ([{"handle": [x, y], "target": [x, y]}, ...])'
        )
    if "frame" in doc:
        layout["frame"] = doc["frame"]
    try:
        return parse_points(json.dumps(layout), source=source, base_dir=base_dir)
    except PipelineError as exc:
        raise JobLineError(str(exc).replace('"points"', '"pairs"')) from None


def _job_config(
    doc: dict, defaults: PipelineConfig, default_all_faces: bool, base_dir: Path
) -> tuple[PipelineConfig, bool]:
    align = doc.get("align", defaults.align_mode)
    if not isinstance(align, str):
        raise JobLineError(f'"align" must be a string, got {json.dumps(align)[:40]}')
    changed = align != defaults.align_mode
    box = doc.get("box", None if changed else defaults.box)
    face_index = doc.get("face_index", None if changed else (ALL_FACES if default_all_faces else defaults.face_index))
    check_align_choice(align, box, face_index, names=_JOB_NAMES, error=JobLineError)
    all_faces = face_index == ALL_FACES
    if isinstance(face_index, str) and not all_faces:
        raise JobLineError(f'"face_index" must be a number >= 0 or "all", got {face_index!r}')
    if isinstance(box, list):
        box = tuple(box)
    try:
        config = dataclasses.replace(defaults, align_mode=align, box=box, face_index=None if all_faces else face_index)
    except PipelineError as exc:
        raise JobLineError(str(exc)) from None
    return config, all_faces


def parse_job_line(
    text: str,
    line: int,
    base_dir: Path,
    defaults: PipelineConfig,
    checkpoint: str,
    all_faces: bool = False,
    source: str = "jobs",
) -> Job:
    """One line of a jobs file as a `Job`, checked as far as possible without decoding the photo.

    Args:
        text: the line (a JSON object).
        line: its 1-based number (the default id).
        base_dir: the jobs file's folder; relative paths are resolved against it.
        defaults: the command line's `PipelineConfig`; `align`, `box`, `face_index` override it.
        checkpoint: the default checkpoint.
        all_faces: the command line asked for `--face-index all`.
        source: the jobs file's name, for messages.

    Raises:
        JobLineError: anything that makes the line unrunnable (message without the line number).
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobLineError(f"not valid JSON ({exc.msg} at column {exc.colno}); write one JSON object a line") from None
    if not isinstance(doc, dict):
        raise JobLineError(f"expected a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(JOB_KEYS))
    if unknown:
        raise JobLineError(f"unknown key(s) {unknown}; allowed: {', '.join(JOB_KEYS)}")
    job_id = check_job_id(doc.get("id"), line)
    if "image" not in doc:
        raise JobLineError('"image" is missing; give the photo\'s path')
    image = _path(doc["image"], "image", base_dir)
    points = _points(doc, f"{source}:{line}", base_dir)
    config, job_all_faces = _job_config(doc, defaults, all_faces, base_dir)
    video = _check_media_points(image, points, job_all_faces, config)
    mask_path = None
    if doc.get("mask") is not None:
        mask_path = _path(doc["mask"], "mask", base_dir)
        if not mask_path.is_file():
            raise JobLineError(f"mask not found: {mask_path}; paths are relative to the jobs file")
    job_checkpoint = doc.get("checkpoint", checkpoint)
    if not isinstance(job_checkpoint, str) or not job_checkpoint:
        raise JobLineError(f'"checkpoint" must be a file path or registered name, got {job_checkpoint!r}')
    if "checkpoint" in doc:
        job_checkpoint = _checkpoint(job_checkpoint, base_dir)
    return Job(
        id=job_id,
        image=image,
        points=points,
        mask_path=mask_path,
        config=config,
        checkpoint=job_checkpoint,
        all_faces=job_all_faces,
        line=line,
        points_source=f"{source}:{line}",
        video=video,
    )


def _check_media_points(image: Path, points: DragPoints, all_faces: bool, config: PipelineConfig) -> bool:
    """The points lie in the photo, or in the clip's frames with an existing keyframe; True for a clip.

    Raises:
        JobLineError: a missing or unreadable file, points outside, a keyframe past the end,
            a keyframe given for a photo, `face_index "all"` for a clip.
    """
    from pipeline.io.clip import is_video, probe_clip

    try:
        clip = image.is_file() and is_video(image)
    except OSError:  # a name too long, a loop of links: photo_size gives the one-line error
        clip = False
    try:
        if clip:
            if all_faces:
                raise JobLineError('face_index "all" edits every face of a photo; for a clip give one face number')
            from pipeline.video.edit import check_video_points

            check_video_points(points, probe_clip(image), source="the points", config=config)
            return True
        width, height = photo_size(image)
        if points.frame != 0:
            raise JobLineError(f'"frame" {points.frame} names a video keyframe, but {image.name} is a photo; remove it')
        for name, pts in (("handle", points.handles_photo), ("target", points.targets_photo)):
            check_points_in_frame(
                pts,
                width,
                height,
                name,
                f"the {width}x{height} photo {image.name}",
                "give (x, y) in original photo pixels, x right, y down",
            )
    except JobLineError:
        raise
    except PipelineError as exc:
        raise JobLineError(str(exc)) from None
    return False


def _checkpoint(name: str, base_dir: Path) -> str:
    from hub.registry import REGISTRY

    if name in REGISTRY:
        return name
    path = _path(name, "checkpoint", base_dir)
    if not path.is_file():
        raise JobLineError(
            f"checkpoint {name!r} is neither a registered name (see --list-checkpoints) nor a file ({path})"
        )
    return str(path)


def read_jobs(
    path: str | os.PathLike, defaults: PipelineConfig, checkpoint: str, all_faces: bool = False
) -> tuple[list[Job], list[BadLine]]:
    """Read and check every line of a jobs file before anything runs.

    Args:
        path: the jobs file (JSON lines, UTF-8).
        defaults: the command line's `PipelineConfig`.
        checkpoint: the command line's checkpoint.
        all_faces: the command line's `--face-index all`.

    Returns:
        (jobs, bad_lines): the runnable jobs in file order, and the skipped lines.

    Raises:
        JobLineError: the file is missing or unreadable, or holds no job at all.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise JobLineError(f"jobs file not found: {path}; check the --batch path")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise JobLineError(f"cannot read jobs file {path} ({exc}); save it as UTF-8 JSON lines") from None
    jobs: list[Job] = []
    bad: list[BadLine] = []
    seen: dict[str, int] = {}
    base_dir = path.parent.absolute()
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            job = parse_job_line(text, number, base_dir, defaults, checkpoint, all_faces, source=path.name)
            if job.id in seen:
                raise JobLineError(f"id {job.id!r} is already used on line {seen[job.id]}; give each job its own id")
        except JobLineError as exc:
            # A skipped line is recorded as 'line<N>': its own id may be missing, invalid or taken.
            bad.append(BadLine(number, f"line{number}", exc))
            continue
        seen[job.id] = number
        jobs.append(job)
    if not jobs and not bad:
        raise JobLineError(f"jobs file {path} holds no jobs; write one JSON object a line")
    return jobs, bad


def single_job(
    image: str | os.PathLike,
    points_path: str | os.PathLike,
    mask: str | os.PathLike | None,
    config: PipelineConfig,
    checkpoint: str,
    all_faces: bool = False,
) -> Job:
    """The job of a single-mode run (`--image`, `--points`, `--mask`), id 'edit'.

    Raises:
        PointsError: the points file is missing or malformed.
    """
    from pipeline.io.points import load_points

    points_path = Path(points_path).expanduser()
    points = load_points(points_path)
    mask_path = Path(mask).expanduser() if mask else points.mask_path
    return Job(
        id="edit",
        image=Path(image).expanduser(),
        points=points,
        mask_path=mask_path,
        config=config,
        checkpoint=checkpoint,
        all_faces=all_faces,
        points_source=str(points_path.resolve()),
    )
