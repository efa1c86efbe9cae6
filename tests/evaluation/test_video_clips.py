"""evaluation.video_clips: the synthetic camera clips, the cut, the latent walk, the command line."""

import numpy as np
import pytest

from evaluation.video_clips import (
    Camera,
    cut_clip,
    default_photo_parts,
    latent_walk_frames,
    main,
    photo_clip_frames,
    side_by_side_photo,
)
from pipeline.errors import ClipError


def _photo(seed: int, size=(120, 90)) -> np.ndarray:
    """A smooth random photo (blurred noise upscaled), so that small camera moves change little."""
    import cv2

    small = np.random.default_rng(seed).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b).mean())


def test_photo_clip_shapes_and_smoothness():
    frames = list(photo_clip_frames(_photo(0), 12, size=(64, 48), camera=Camera(shake=0.01, seed=3)))
    assert len(frames) == 12 and all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    steps = [_mad(a, b) for a, b in zip(frames, frames[1:])]
    assert max(steps) < 12 and _mad(frames[0], frames[-1]) > max(steps)  # slow, but it does move


def test_still_camera_shows_the_photo_centre():
    photo = _photo(1, (64, 48))
    still = Camera(zoom=(1.0, 1.0), pan=(0.0, 0.0), rotate_deg=(0.0, 0.0))
    frame = next(photo_clip_frames(photo, 1, size=(64, 48), camera=still))
    assert _mad(frame, photo) < 1.0


def test_cut_is_a_big_difference():
    parts = [(_photo(0), 8, Camera()), (_photo(5), 8, Camera(rotate_deg=(2.0, -2.0)))]
    frames = list(cut_clip(parts, size=(64, 48)))
    assert len(frames) == 16
    steps = [_mad(a, b) for a, b in zip(frames, frames[1:])]
    cut = steps.pop(7)  # frame 7 -> 8
    assert cut > 3 * max(steps)


def test_deterministic_for_a_seed():
    def clip(seed):
        return np.stack(list(photo_clip_frames(_photo(0), 6, (32, 32), Camera(shake=0.02, seed=seed))))

    np.testing.assert_array_equal(clip(4), clip(4))
    assert not np.array_equal(clip(4), clip(5))


def test_side_by_side_photo():
    out = side_by_side_photo(np.zeros((40, 30, 3), np.uint8), np.full((80, 20, 3), 255, np.uint8))
    assert out.shape == (40, 30 + 10, 3)
    assert (out[:, :30] == 0).all() and (out[:, 30:] == 255).all()


def test_latent_walk(tiny_G):
    frames = list(latent_walk_frames(tiny_G, 6, seed=0, step=0.1, size=(40, 40)))
    again = list(latent_walk_frames(tiny_G, 6, seed=0, step=0.1, size=(40, 40)))
    assert len(frames) == 6 and all(f.shape == (40, 40, 3) and f.dtype == np.uint8 for f in frames)
    np.testing.assert_array_equal(np.stack(frames), np.stack(again))
    native = next(latent_walk_frames(tiny_G, 1, seed=0))
    assert native.shape == (tiny_G.img_resolution, tiny_G.img_resolution, 3)
    # small steps are small changes: a walk at step 0.1 moves less per frame than at step 1
    slow = [_mad(a, b) for a, b in zip(frames, frames[1:])]
    fast = list(latent_walk_frames(tiny_G, 3, seed=0, step=1.0, size=(40, 40)))
    assert np.mean(slow) < np.mean([_mad(a, b) for a, b in zip(fast, fast[1:])])


def test_default_parts_need_the_photos(tmp_path):
    with pytest.raises(ClipError, match="not found"):
        default_photo_parts(tmp_path)


def test_command_line_photos_with_audio(shared_dir, tmp_path, capsys):
    from pipeline.io.clip import probe_clip

    out = tmp_path / "clip.mp4"
    assert main(["--out", str(out), "--frames", "10", "--size", "64x48", "--audio"]) == 0
    info = probe_clip(out)
    assert (info.width, info.height, info.frame_count, info.has_audio) == (64, 48, 10, True)
    assert main(["--out", str(out), "--photos", str(tmp_path / "none")]) == 2
    assert "not found" in capsys.readouterr().err


def test_command_line_walk(tiny_checkpoint, tmp_path):
    from pipeline.io.clip import probe_clip, read_frames

    out = tmp_path / "walk.mp4"
    assert main(["--kind", "walk", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--frames", "5"]) == 0
    info = probe_clip(out)
    assert (info.width, info.height, info.frame_count, info.has_audio) == (256, 256, 5, False)
    assert len(list(read_frames(out))) == 5
