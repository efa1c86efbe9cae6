"""Atomic output folders, drawings and video (pipeline/io/outputs.py, drawing.py, video.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pipeline_testutils import refuse_to_move

from pipeline.errors import OutputError
from pipeline.io.drawing import comparison_image, display_scale, draw_points
from pipeline.io.outputs import check_output_dir, check_replaceable, staged_output_dir
from pipeline.io.video import write_video


def test_staged_dir_appears_only_on_success(tmp_path):
    out = tmp_path / "out"
    with staged_output_dir(out) as staging:
        (staging / "a.txt").write_text("a")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_dir_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out"
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with staged_output_dir(out) as staging:
                (staging / "a.txt").write_text("a")
                raise exc
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_and_failure_keeps_old_results(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_output_dir(out, overwrite=True) as staging:
            (staging / "new.txt").write_text("new")
            raise RuntimeError
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    with staged_output_dir(out, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_check_output_dir(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    assert check_output_dir(tmp_path / "new") == (tmp_path / "new").absolute()
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty")
    with pytest.raises(OutputError, match="not empty; pass --overwrite"):
        check_output_dir(tmp_path, protected=())
    with pytest.raises(OutputError, match="contains the input"):
        check_output_dir(tmp_path, overwrite=True, protected=(photo,))
    with pytest.raises(OutputError, match="is a file"):
        check_output_dir(photo)


def test_a_folder_that_cannot_be_moved_aside_is_refused_by_the_check(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    check_replaceable(out)  # movable: moved aside and back, nothing else changes
    check_replaceable(tmp_path / "absent")  # nothing to replace
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "keep.txt").read_text() == "mine"
    refused = refuse_to_move(monkeypatch, out)
    with pytest.raises(OutputError) as info:
        check_output_dir(out, overwrite=True)
    assert refused, "the check did not try the move the swap needs"
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"--out {str(out)!r}: the existing folder cannot be replaced")
    assert "operation not permitted" in message and "choose another --out folder" in message
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "keep.txt").read_text() == "mine"


def test_a_swap_that_cannot_move_the_old_folder_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    refuse_to_move(monkeypatch, out)  # e.g. its permissions changed while the run computed
    with pytest.raises(OutputError, match="could not replace the folder .*operation not permitted; nothing was"):
        with staged_output_dir(out, overwrite=True) as staging:
            (staging / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no hidden .old or .partial folder
    assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_display_scale_enlarges_small_crops():
    assert display_scale(64) == 8 and display_scale(32) == 16 and display_scale(512) == 1
    assert display_scale(1024) == 1


def test_draw_points_marks_handles_and_targets():
    img = np.zeros((32, 32, 3), np.uint8)
    out = draw_points(img, np.array([[8.0, 8.0]]), np.array([[24.0, 24.0]]), scale=4)
    assert out.shape == (128, 128, 3)
    # Handle dot (red) at the enlarged handle position, target ring (blue) around the target.
    hx, hy = int(8 * 4 + 1.5), int(8 * 4 + 1.5)
    assert out[hy, hx, 0] > 200 and out[hy, hx, 2] < 100
    assert not img.any()  # input untouched


def test_comparison_image_layout():
    a = np.zeros((64, 64, 3), np.uint8)
    out = comparison_image(a, a, np.array([[10.0, 10.0]]), np.array([[20.0, 20.0]]), np.array([[12.0, 12.0]]), gap=8)
    assert out.shape == (512, 512 * 2 + 8, 3) and out.dtype == np.uint8


def test_write_video_gif(tmp_path):
    frames = [np.full((20, 30, 3), v, np.uint8) for v in (0, 128, 255)]
    path = write_video(tmp_path, frames, "gif", fps=5)
    assert path.name == "drag.gif"
    with Image.open(path) as im:
        assert im.size == (30, 20) and im.n_frames == 3


def test_write_video_mp4_is_h264_yuv420p_with_every_frame(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    # 33 x 49: odd sizes are cut to even ones (yuv420p needs them); distinct grey levels per frame.
    frames = [np.full((33, 49, 3), v, np.uint8) for v in (0, 60, 120, 180, 240)]
    path = write_video(tmp_path, frames, "mp4", fps=5)
    assert path.name == "drag.mp4" and list(tmp_path.iterdir()) == [path]
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    decoded = [np.frombuffer(buf, np.uint8).reshape(32, 48, 3) for buf in reader]
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (48, 32) and meta["fps"] == 5
    assert len(decoded) == len(frames) + 5  # the last frame is held for a second
    levels = [float(f.mean()) for f in decoded[: len(frames)]]
    assert np.allclose(levels, [0, 60, 120, 180, 240], atol=3)  # the frames, in order (lossy codec)


def test_write_video_falls_back_to_gif_without_imageio_ffmpeg(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ffmpeg(name, *args, **kwargs):
        if name == "imageio_ffmpeg":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ffmpeg)
    frames = [np.full((32, 48, 3), v, np.uint8) for v in (0, 255)]
    with pytest.warns(RuntimeWarning, match="drag.gif"):
        path = write_video(tmp_path, frames, "mp4", fps=5)
    assert list(tmp_path.iterdir()) == [path] and path.name == "drag.gif"
    with Image.open(path) as im:
        assert im.n_frames == 2 and im.size == (48, 32)
