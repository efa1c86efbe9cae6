"""Points JSON parsing, validation and the mask PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import PointsError
from pipeline.io.points import DragPoints, check_points_in_frame, load_mask, load_points, parse_points
from stylegan import DragPipelineError


def test_both_layouts_give_the_same_points():
    a = parse_points('{"handles": [[1, 2], [3.5, 4]], "targets": [[5, 6], [7, 8]]}')
    b = parse_points('[{"handle": [1, 2], "target": [5, 6]}, {"handle": [3.5, 4], "target": [7, 8]}]')
    for p in (a, b):
        assert isinstance(p, DragPoints)
        np.testing.assert_array_equal(p.handles_photo, [[1, 2], [3.5, 4]])
        np.testing.assert_array_equal(p.targets_photo, [[5, 6], [7, 8]])
        assert p.handles_photo.dtype == np.float64 and len(p) == 2 and p.mask_path is None


def test_points_error_is_bad_input():
    assert issubclass(PointsError, DragPipelineError) and issubclass(PointsError, ValueError)


def test_malformed_json_reports_line_and_column():
    with pytest.raises(PointsError, match=r"line 3, column 13"):
        parse_points('{\n  "handles": [[1, 2]],\n  "targets" [[3, 4]]\n}', source="pts.json")


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"handles": [[1, 2], [3, 4]], "targets": [[5, 6]]}', "2 handles but 1 targets"),
        ('{"handles": [], "targets": []}', "no drag points"),
        ('{"handles": [[1, "a"]], "targets": [[5, 6]]}', r"handles\[0\] must be a pair of numbers"),
        ('{"handles": [[1, 2, 3]], "targets": [[5, 6]]}', "pair of numbers"),
        ('{"handles": [[1, 2]]}', "expected"),
        ('{"handles": [[1, 2]], "targets": [[5, 6]], "colour": 1}', "unknown key"),
        ('[{"handle": [1, 2]}]', r"points\[0\] must be an object"),
        ("42", "expected a JSON object or list"),
        ('{"handles": [[1, 2]], "targets": [[5, 6]], "mask": 3}', "mask"),
    ],
)
def test_bad_points_are_rejected(text, message):
    with pytest.raises(PointsError, match=message):
        parse_points(text)


def test_nan_is_rejected():
    with pytest.raises(PointsError, match="finite"):
        parse_points('{"handles": [[NaN, 2]], "targets": [[5, 6]]}')


def test_mask_path_is_relative_to_the_json_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "p.json"
    path.write_text(json.dumps({"handles": [[1, 2]], "targets": [[3, 4]], "mask": "m.png"}))
    assert load_points(path).mask_path == tmp_path / "sub" / "m.png"


def test_missing_points_file(tmp_path):
    with pytest.raises(PointsError, match="points file not found"):
        load_points(tmp_path / "nope.json")


def test_points_are_read_only():
    p = parse_points('{"handles": [[1, 2]], "targets": [[3, 4]]}')
    with pytest.raises(ValueError):
        p.handles_photo[0, 0] = 5


def test_frame_check_uses_pixel_edges():
    # A 10x8 image covers [-0.5, 9.5] x [-0.5, 7.5].
    check_points_in_frame(np.array([[-0.5, -0.5], [9.5, 7.5]]), 10, 8, "handle", "the photo", "fix")
    with pytest.raises(PointsError, match=r"handle 1 at \(9.6, 0\) is outside the photo; fix"):
        check_points_in_frame(np.array([[0, 0], [9.6, 0]]), 10, 8, "handle", "the photo", "fix")


def test_mask_white_means_may_move(tmp_path):
    m = np.zeros((8, 10), np.uint8)
    m[2:5, 3:7] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png", (8, 10, 3))
    assert mask.dtype == bool and mask.shape == (8, 10)
    np.testing.assert_array_equal(mask, m > 127)


def test_mask_size_mismatch(tmp_path):
    Image.fromarray(np.full((8, 10), 255, np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(PointsError, match=r"mask .* is 10x8 but the photo is 12x8"):
        load_mask(tmp_path / "m.png", (8, 12, 3))


def test_all_black_mask_is_rejected(tmp_path):
    Image.fromarray(np.zeros((8, 10), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(PointsError, match="all black"):
        load_mask(tmp_path / "m.png", (8, 10, 3))
