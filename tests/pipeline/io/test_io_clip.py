"""pipeline.io.clip: content detection, probing, streaming reads, the atomic H.264 writer, audio copy."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation.video_clips import make_test_clip, sine_audio, wave_frames
from pipeline.errors import ClipError, OutputError
from pipeline.io.clip import ClipWriter, even_size, ffmpeg_exe, has_audio, is_video, probe_clip, read_frames, write_clip

pytest.importorskip("imageio_ffmpeg")


def _ffmpeg_children() -> list[int]:
    """Live (not zombie) ffmpeg processes whose parent is this test process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"ffmpeg" in cmdline:
            pids.append(int(entry.name))
    return pids


def _staging_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    frames = make_test_clip(path, frames=12, size=(64, 48), fps=25, audio=True, crf=10)
    return path, frames


def test_is_video_by_content(tmp_path, clip):
    png = tmp_path / "still.mp4"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png, format="PNG")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    renamed = tmp_path / "clip.png"
    renamed.write_bytes(clip[0].read_bytes())
    one = tmp_path / "one.mp4"
    write_clip(one, [np.zeros((16, 16, 3), np.uint8)], fps=25)
    assert is_video(clip[0]) and is_video(renamed)  # a video named .png is a video
    assert not is_video(png)  # a PNG named .mp4 is an image
    assert not is_video(text) and not is_video(tmp_path / "missing.mp4")
    assert not is_video(one)  # a single frame is a still, not a clip


def test_probe(clip):
    info = probe_clip(clip[0])
    assert (info.width, info.height, info.frame_count) == (64, 48, 12)
    assert info.fps == pytest.approx(25.0) and info.has_audio
    assert info.duration == pytest.approx(12 / 25, abs=0.05)


def test_probe_answers_for_the_file_as_it_is_now(tmp_path):
    path = tmp_path / "clip.mp4"
    make_test_clip(path, frames=5, audio=False)
    assert probe_clip(path).frame_count == 5
    assert probe_clip(path) is probe_clip(path)  # kept: counting decodes the whole clip
    stat = path.stat()
    make_test_clip(path, frames=8, audio=False)  # the same name, rewritten
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # even within the clock's resolution
    assert probe_clip(path).frame_count == 8


def test_probe_errors(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    for path in (tmp_path / "missing.mp4", text, tmp_path):
        with pytest.raises(ClipError) as err:
            probe_clip(path)
        assert "\n" not in str(err.value)


def test_read_round_trip(clip):
    path, frames = clip
    read = list(read_frames(path))
    assert [i for i, _ in read] == list(range(12))
    for (_, got), want in zip(read, frames):
        assert got.shape == (48, 64, 3) and got.dtype == np.uint8
        assert np.abs(got.astype(int) - want).mean() < 2.0  # crf 10: a grey level or two
        assert abs((got.astype(int) - want).mean()) < 0.5  # no overall shift (rounding in the RGB <-> YUV conversions)
    # distinct frames come back in order: each read frame is closest to its own original
    errors = np.array([[np.abs(g.astype(int) - w).mean() for w in frames] for _, g in read])
    assert (errors.argmin(axis=1) == np.arange(12)).all()


def test_read_from_start(clip):
    path, _ = clip
    everything = [f for _, f in read_frames(path)]
    later = list(read_frames(path, start=5))
    assert [i for i, _ in later] == list(range(5, 12))
    for (_, got), want in zip(later, everything[5:]):
        np.testing.assert_array_equal(got, want)  # the same decoded frames, not neighbours
    assert list(read_frames(path, start=12)) == []
    with pytest.raises(ClipError):
        next(read_frames(path, start=-1))


def test_early_close_stops_ffmpeg(clip):
    frames = read_frames(clip[0])
    next(frames)
    assert _ffmpeg_children()
    frames.close()
    assert _ffmpeg_children() == []


def test_writer_exception_leaves_nothing(tmp_path):
    out = tmp_path / "edited.mp4"
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error):
            with ClipWriter(out, 32, 32, 25) as writer:
                writer.write(np.zeros((32, 32, 3), np.uint8))
                raise error("stop")
        assert not out.exists() and _staging_files(tmp_path) == [] and _ffmpeg_children() == []


def test_writer_keeps_old_file_on_failure(tmp_path):
    out = tmp_path / "edited.mp4"
    out.write_bytes(b"old")
    with pytest.raises(OutputError):
        with ClipWriter(out, 32, 32, 25) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))  # wrong size
    assert out.read_bytes() == b"old" and _staging_files(tmp_path) == []


def test_audio_copy(tmp_path, clip):
    frames = [f for _, f in read_frames(clip[0])]
    with_audio = write_clip(tmp_path / "with.mp4", frames, fps=25, audio_from=clip[0])
    without = write_clip(tmp_path / "without.mp4", frames, fps=25)
    silent_source = write_clip(tmp_path / "silent_source.mp4", frames, fps=25, audio_from=without)
    assert probe_clip(with_audio).has_audio and has_audio(with_audio)
    assert probe_clip(with_audio).duration == pytest.approx(probe_clip(clip[0]).duration, abs=0.05)
    assert probe_clip(with_audio).frame_count == 12
    assert not probe_clip(without).has_audio and not probe_clip(silent_source).has_audio


def test_audio_reencoded_when_copy_impossible(tmp_path, clip):
    wav = tmp_path / "tone.wav"  # PCM does not go into MP4 by stream copy: re-encoded as AAC
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(sine_audio(tmp_path / "t.m4a", 0.5)), str(wav)], check=True)
    out = write_clip(tmp_path / "out.mp4", [np.zeros((16, 16, 3), np.uint8)] * 5, fps=10, audio_from=wav)
    assert probe_clip(out).has_audio


def test_odd_size_is_padded_by_replication(tmp_path):
    assert even_size(33, 21) == (34, 22) and even_size(32, 20) == (32, 20)
    frame = next(wave_frames(1, (33, 21)))
    out = write_clip(tmp_path / "odd.mp4", [frame] * 3, fps=25, crf=0)
    info = probe_clip(out)
    assert (info.width, info.height, info.frame_count) == (34, 22, 3)
    _, got = next(read_frames(out))
    assert np.abs(got[:21, :33].astype(int) - frame).mean() < 2.0
    # the padded column and row repeat the last ones
    assert np.abs(got[:21, 33].astype(int) - frame[:, 32]).mean() < 3.0
    assert np.abs(got[21, :33].astype(int) - frame[20]).mean() < 3.0


def test_writer_rejects_bad_arguments(tmp_path):
    with pytest.raises(OutputError):
        ClipWriter(tmp_path / "a.mp4", 32, 32, fps=0)
    with pytest.raises(OutputError):
        write_clip(tmp_path / "a.mp4", [], fps=25)
    assert not (tmp_path / "a.mp4").exists()
