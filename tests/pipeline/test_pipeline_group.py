"""Group photos (`--face-index all`) on ../shared/data/photos/two_people.jpg with a tiny generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from align import load_photo, transform_points
from common.errors import EXIT_BAD_INPUT, EXIT_OK
from pipeline.cli.main import main as cli_main
from pipeline.config import PipelineConfig
from pipeline.errors import PointsError

# Centres of the two faces dlib finds in two_people.jpg (boxes ~(244, 62, 395, 212) and
# ~(792, 95, 942, 245)); their 32-px FFHQ crops cover about x 177..467 and x 725..1026, so one
# crop pixel is about 9 photo pixels: the drags below move 5-6 crop pixels.
FACE0, FACE1 = (320.0, 137.0), (867.0, 170.0)


@pytest.fixture(scope="module")
def two_people(shared_dir) -> Path:
    path = shared_dir / "data" / "photos" / "two_people.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def alignments(two_people):
    from pipeline.group import align_all_faces

    return align_all_faces(load_photo(two_people), 32, PipelineConfig())


def _in_crop(photo_shape, alignment, margin: float = 2.0) -> np.ndarray:
    """(H, W) bool: photo pixels whose crop position lies on the crop (plus an interpolation margin)."""
    h, w = photo_shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    crop = transform_points(
        np.asarray(alignment.crop_from_photo), np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    )
    size = alignment.size
    return ((crop >= -margin) & (crop <= size - 1 + margin)).all(axis=1).reshape(h, w)


def main(args) -> int:
    return cli_main([str(a) for a in args])


def _edit_all_faces(photo: Path, points: Path, checkpoint: Path, out: Path, fast_args: list) -> int:
    """Runs the CLI on every face of `photo` (`--face-index all`); returns the exit code."""
    return main(
        [
            "--image",
            photo,
            "--points",
            points,
            "--face-index",
            "all",
            "--checkpoint",
            checkpoint,
            "--out",
            out,
            *fast_args,
        ]
    )


def _points(path: Path, pairs) -> Path:
    path.write_text(json.dumps([{"handle": list(h), "target": list(t)} for h, t in pairs]))
    return path


def test_points_on_both_faces_edit_both(tmp_path, two_people, alignments, tiny_checkpoint, fast_args, capsys):
    assert len(alignments) == 2
    pts = _points(tmp_path / "pts.json", [(FACE0, (FACE0[0] + 50, FACE0[1] + 20)), (FACE1, (FACE1[0] - 50, FACE1[1]))])
    out = tmp_path / "both"
    code = _edit_all_faces(two_people, pts, tiny_checkpoint, out, fast_args)
    assert code == EXIT_OK, capsys.readouterr().err
    photo = load_photo(two_people)
    edited = np.asarray(Image.open(out / "edited.png"))
    for alignment in alignments:
        inside = _in_crop(photo.shape, alignment)
        assert (edited[inside] != photo[inside]).any()  # each face was edited
    neither = ~(_in_crop(photo.shape, alignments[0]) | _in_crop(photo.shape, alignments[1]))
    np.testing.assert_array_equal(edited[neither], photo[neither])
    report = json.loads((out / "report.json").read_text())
    assert report["pair_faces"] == [0, 1] and [f["face_index"] for f in report["faces"]] == [0, 1]
    assert (out / "face0" / "edited_crop.png").is_file() and (out / "face1" / "latents.pt").is_file()


def test_a_face_without_points_keeps_its_pixels(tmp_path, two_people, alignments, tiny_checkpoint, fast_args):
    # Through batch mode: the job's folder is written like a single-mode group run.
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps(
            {
                "id": "g",
                "image": str(two_people),
                "pairs": [{"handle": FACE1, "target": [FACE1[0], FACE1[1] + 50]}],
                "face_index": "all",
            }
        )
        + "\n"
    )
    out = tmp_path / "out"
    assert (
        main(["--batch", tmp_path / "jobs.jsonl", "--out", out, "--checkpoint", tiny_checkpoint, *fast_args]) == EXIT_OK
    )
    photo = load_photo(two_people)
    edited = np.asarray(Image.open(out / "g" / "edited.png"))
    face0 = _in_crop(photo.shape, alignments[0])
    np.testing.assert_array_equal(edited[face0], photo[face0])  # byte-identical
    face1 = _in_crop(photo.shape, alignments[1])
    assert (edited[face1] != photo[face1]).any()
    assert sorted(p.name for p in (out / "g").iterdir()) == ["edited.png", "face1", "report.json"]


def test_a_pair_must_fit_exactly_one_face(alignments, two_people, tmp_path, tiny_checkpoint, fast_args, capsys):
    from pipeline.group import assign_pairs

    assert assign_pairs([FACE1, FACE0], [FACE1, FACE0], alignments).tolist() == [1, 0]
    with pytest.raises(PointsError, match=r"pair 1 \(handle \(320, 137\) -> target \(867, 170\)\) lies in no"):
        assign_pairs([FACE1, FACE0], [FACE1, FACE1], alignments)
    with pytest.raises(PointsError, match="pair 0 .* lies in no face's crop"):
        assign_pairs([(600.0, 600.0)], [(610.0, 600.0)], alignments)
    # From the command line: a one-line error and exit code 2, no output folder.
    pts = _points(tmp_path / "pts.json", [((600.0, 600.0), (610.0, 600.0))])
    code = _edit_all_faces(two_people, pts, tiny_checkpoint, tmp_path / "o", fast_args)
    assert code == EXIT_BAD_INPUT and "lies in no face's crop" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
