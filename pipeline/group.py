"""Group photos (`--face-index all`): edit every face that has drag points, in one photo.

Every face found is FFHQ-aligned. Each handle/target pair goes to the face whose crop holds
both of its points; a pair in no crop, or in the crops of two faces, is an error naming the
pair. Each face with points is inverted and dragged (`pipeline.edit.edit_aligned`), and the
edits are pasted back one after another, each into the photo the previous one returned.
Paste-back changes only what an edit changed, so faces without points keep their bytes.

Outputs (`write_group_results`): `edited.png` (all edits), `report.json`, and per edited
face a folder `face<K>/` with the files a single-face run writes (its `edited.png` is the
photo after that face's edit).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.device import deterministic
from common.random import seeded
from pipeline.config import PipelineConfig
from pipeline.edit import EditResult, _as_photo, edit_aligned
from pipeline.errors import PointsError
from pipeline.stages import generator_on_device, points_to_crop

__all__ = ["GroupEditResult", "align_all_faces", "assign_pairs", "edit_group", "write_group_results"]


@dataclass(frozen=True, eq=False)
class GroupEditResult:
    """Everything `edit_group` produced.

    Attributes:
        photo: uint8 (H, W, 3) RGB input photo.
        edited_photo: uint8 (H, W, 3) RGB with every face's edit; untouched pixels byte-identical.
        alignments: one `align.Alignment` per face found (largest first).
        pair_faces: (N,) int, the face each handle/target pair went to.
        face_indices: the edited faces, in the order their edits were pasted.
        faces: one `EditResult` per edited face (same order).
        seconds: 'align' (all faces), 'total', and each stage summed over faces.
        config: the `PipelineConfig` used.
    """

    photo: np.ndarray
    edited_photo: np.ndarray
    alignments: list
    pair_faces: np.ndarray
    face_indices: list[int]
    faces: list[EditResult]
    seconds: dict
    config: PipelineConfig


def align_all_faces(photo: np.ndarray, size: int, config: PipelineConfig) -> list:
    """FFHQ-align every face dlib finds (largest first).

    Raises:
        NoFaceFoundError: no face in the photo.
    """
    from align import align_face

    first = align_face(photo, size, face_index=0, config=config.align)
    return [first] + [
        align_face(photo, size, face_index=i, config=config.align) for i in range(1, len(first.all_face_boxes))
    ]


def assign_pairs(handles_photo: np.ndarray, targets_photo: np.ndarray, alignments: list) -> np.ndarray:
    """The face whose crop holds both points of each pair.

    *Convention*: photo pixels, x right, y down, pixel centres at integer coordinates.

    Args:
        handles_photo, targets_photo: (N, 2) float photo pixels.
        alignments: one per face.

    Returns:
        (N,) int64 face indices.

    Raises:
        PointsError: a pair lies in no face's crop, or in the crops of two or more faces.
    """
    handles = np.asarray(handles_photo, dtype=np.float64).reshape(-1, 2)
    targets = np.asarray(targets_photo, dtype=np.float64).reshape(-1, 2)
    out = np.empty(len(handles), dtype=np.int64)
    for i, (h, t) in enumerate(zip(handles, targets)):
        fits = []
        for k, alignment in enumerate(alignments):
            try:
                points_to_crop(h[None], t[None], alignment)
                fits.append(k)
            except PointsError:
                pass
        pair = f"pair {i} (handle ({h[0]:g}, {h[1]:g}) -> target ({t[0]:g}, {t[1]:g}))"
        if not fits:
            raise PointsError(
                f"{pair} lies in no face's crop ({len(alignments)} face(s) found); put both points "
                "on one face, or pick a face with --face-index N"
            )
        if len(fits) > 1:
            raise PointsError(
                f"{pair} lies in the crops of faces {', '.join(map(str, fits))}; move it so that "
                "one face's crop holds it, or edit one face with --face-index N"
            )
        out[i] = fits[0]
    return out


def edit_group(
    photo,
    handles_photo: np.ndarray,
    targets_photo: np.ndarray,
    G,
    config: PipelineConfig,
    mask_photo: np.ndarray | None = None,
    generator_id: str | None = None,
    progress: bool = True,
    log=None,
) -> GroupEditResult:
    """Edit every face of a group photo that has points (see the module docstring).

    Args:
        photo: uint8 (H, W, 3) RGB array or an image path.
        handles_photo, targets_photo: (N, 2) float photo pixels, pairs on any faces.
        G: a `stylegan.Generator` or a checkpoint path / registered name.
        config: `align_mode` must be 'face'; `face_index` is ignored.
        mask_photo, generator_id, progress, log: as in `pipeline.edit_photo` (the mask is
            warped into each edited face's crop).

    Returns:
        `GroupEditResult`.

    Raises:
        PointsError: a pair fits no face or several; NoFaceFoundError: no face.
    """
    if config.align_mode != "face":
        raise PointsError(f"--face-index all needs --align face, got {config.align_mode!r}")
    say = log or (lambda message: None)
    t_start = time.perf_counter()
    photo = _as_photo(photo, config.align.max_photo_pixels)
    on_device = generator_on_device(G, config, progress, say)
    G = on_device.G
    handles = np.asarray(handles_photo, dtype=np.float64).reshape(-1, 2)
    targets = np.asarray(targets_photo, dtype=np.float64).reshape(-1, 2)
    with seeded(config.seed), deterministic(config.deterministic):
        t = time.perf_counter()
        alignments = align_all_faces(photo, int(G.img_resolution), config)
        pair_faces = assign_pairs(handles, targets, alignments)
        align_seconds = time.perf_counter() - t
        say(
            f"align: {len(alignments)} face(s), pairs on faces {sorted(set(pair_faces.tolist()))} "
            f"({align_seconds:.1f}s)"
        )
        canvas, faces, order = photo, [], sorted(set(pair_faces.tolist()))
        for k in order:
            sel = pair_faces == k
            face = edit_aligned(
                canvas, alignments[k], handles[sel], targets[sel], G, config, mask_photo, generator_id, progress, say
            )
            canvas = face.edited_photo
            faces.append(face)
    seconds: dict[str, float] = {}
    for face in faces:
        for key, value in face.seconds.items():
            seconds[key] = seconds.get(key, 0.0) + value
    seconds["align"] = seconds.get("align", 0.0) + align_seconds
    seconds["total"] = time.perf_counter() - t_start
    return GroupEditResult(
        photo=photo,
        edited_photo=canvas,
        alignments=alignments,
        pair_faces=pair_faces,
        face_indices=order,
        faces=faces,
        seconds=seconds,
        config=config,
    )


def write_group_results(result: GroupEditResult, folder: str | os.PathLike, extra: dict | None = None) -> list[str]:
    """Write a group edit into `folder` (which must exist): edited.png, face<K>/..., report.json.

    Returns:
        The written names (face folders as 'face<K>/'), report.json last.
    """
    from pipeline.config import config_to_json
    from pipeline.io.outputs import write_png
    from pipeline.io.report import build_report, versions, write_results

    folder = Path(folder)
    write_png(folder / "edited.png", result.edited_photo)
    written = ["edited.png"]
    faces = []
    for k, face in zip(result.face_indices, result.faces):
        sub = folder / f"face{k}"
        sub.mkdir()
        write_results(face, sub, extra)
        written.append(f"face{k}/")
        summary = build_report(face)
        faces.append(
            {
                "face_index": k,
                "folder": f"face{k}",
                "num_points": len(face.handles_photo),
                **{key: summary[key] for key in ("metrics", "cache_hit", "alignment", "points", "drag")},
            }
        )
    written.append("report.json")
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
        "device": result.faces[0].device if result.faces else None,
        "config": config_to_json(result.config),
        "seconds": {key: round(float(v), 4) for key, v in result.seconds.items()},
        "faces_found": len(result.alignments),
        "face_boxes": [[float(v) for v in a.face_box] for a in result.alignments],
        "pair_faces": result.pair_faces.tolist(),
        "faces": faces,
        **(extra or {}),
        "outputs": written,
    }
    with open(folder / "report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, allow_nan=False)
        f.write("\n")
    return written
