"""The launched editor through its API (gradio_client): the whole edit, isolation, bad input, serving."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from tests.editor.conftest import FAST, write_photo

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from pipeline.cli.main import main as cli_main  # noqa: E402


def _upload(client, path, **settings):
    return client.predict(photo=handle_file(str(path)), **(FAST | settings), api_name="/upload")


def _by_name(files):
    from pathlib import Path

    return {Path(f).name: Path(f) for f in files}


def _points(result):
    return result[5] if isinstance(result[5], dict) else json.loads(result[5])


def _edit_in_the_editor(client, photo, fast: dict) -> dict:
    """Upload, invert (with FAST), one point pair, drag (with `fast`); returns the downloads by name."""
    _upload(client, photo)
    result = client.predict(**FAST, api_name="/invert")  # the drag settings change after inverting
    assert "inverted with w" in result[-1] and "PSNR" in result[3]
    # Photo pixels: the 64-px photo's centre crop at 32 px puts crop pixel c at photo 2c + 0.5.
    client.predict(20.5, 24.5, api_name="/add_point")
    pts = client.predict(30.5, 24.5, api_name="/add_point")
    assert pts[1]["handles"] == [[10.0, 12.0]] and pts[1]["targets"] == [[15.0, 12.0]]
    assert pts[1]["handles_photo"] == [[20.5, 24.5]] and pts[1]["targets_photo"] == [[30.5, 24.5]]
    result = client.predict(**fast, api_name="/drag")
    files = _by_name(result[10])
    expected = {"edited.png", "comparison.png", "latents.pt", "report.json"}
    assert expected | {"drag.mp4"} <= set(files) or expected | {"drag.gif"} <= set(files)
    return files


def _edit_on_the_command_line(photo, points_json, out, ckpt, drag_steps: str, stop_distance: str) -> None:
    """`run_pipeline.py` with the editor's FAST settings (and an mp4 video) into `out`."""
    options = {
        "--image": str(photo),
        "--points": str(points_json),
        "--out": str(out),
        "--checkpoint": str(ckpt),
        "--align": "center",
        "--inversion": "w",
        "--steps": "2",
        "--drag-steps": drag_steps,
        **({"--stop-distance": stop_distance} if stop_distance else {}),
        "--lr": "0.05",
        "--video": "mp4",
        "--device": "cpu",
        "--seed": "0",
    }
    argv = [arg for pair in options.items() for arg in pair]
    argv += ["--no-cache", "--lpips-net", "squeeze", "--lpips-backbone", "random", "--quiet"]
    assert cli_main(argv) == 0


def _assert_same_downloads(files: dict, out, drag_steps: str) -> None:
    """The editor's downloads (`files`) equal the CLI's in `out`: images, video, latents, report."""
    for name in ("edited.png", "aligned.png", "reconstruction.png", "edited_crop.png", "comparison.png"):
        np.testing.assert_array_equal(
            np.asarray(Image.open(files[name])), np.asarray(Image.open(out / name)), err_msg=name
        )
    video = next(n for n in files if n.startswith("drag."))
    assert (out / video).read_bytes() == files[video].read_bytes()
    if video == "drag.mp4" and drag_steps == "75":
        import imageio_ffmpeg

        reader = imageio_ffmpeg.read_frames(str(files[video]))
        next(reader)  # metadata
        # 76 snapshots (steps 0..75, max_steps // VIDEO_FRAMES = 1) + the last held 1 s at 10 fps,
        # not the ~10 live-preview frames
        assert sum(1 for _ in reader) == 76 + 10
    ours, theirs = (torch.load(p, weights_only=True) for p in (files["latents.pt"], out / "latents.pt"))
    for key in ("pivot_ws", "edited_ws", "handles_crop", "targets_crop", "final_handles_crop", "crop_from_photo"):
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=0, msg=key)
    report = json.loads(files["report.json"].read_text())
    cli_report = json.loads((out / "report.json").read_text())
    for r in (report, cli_report):  # wall-clock times, the creation time and how the inputs were given
        for key in ("created", "seconds", "inputs", "command"):
            r.pop(key)
        r["inversion"].pop("seconds")
    assert report == cli_report


@pytest.mark.parametrize(
    ("drag_steps", "stop_distance"),
    [("3", ""), ("75", "0")],  # 75 steps (all run): more than VIDEO_FRAMES, one snapshot a step
    ids=["3-steps", "75-steps"],
)
def test_edit_through_the_api_writes_what_the_cli_writes(client, editor_server, tmp_path, drag_steps, stop_distance):
    """photo -> invert -> points -> drag -> the download files equal run_pipeline.py's for the same inputs."""
    _, _, ckpt = editor_server
    photo = write_photo(tmp_path / "photo.png", 64, 64)
    files = _edit_in_the_editor(client, photo, FAST | {"drag_steps": drag_steps, "stop_distance": stop_distance})
    # The same edit on the command line, with the photo points the editor reports.
    points = json.loads(files["report.json"].read_text())["points"]
    (tmp_path / "points.json").write_text(
        json.dumps({"handles": points["handles_photo"], "targets": points["targets_photo"]})
    )
    _edit_on_the_command_line(photo, tmp_path / "points.json", tmp_path / "cli", ckpt, drag_steps, stop_distance)
    _assert_same_downloads(files, tmp_path / "cli", drag_steps)


def test_two_clients_do_not_share_state(editor_server, tmp_path):
    from gradio_client import Client

    url = editor_server[0]
    a, b = Client(url, verbose=False), Client(url, verbose=False)
    _upload(a, write_photo(tmp_path / "a.png", seed=1))
    a.predict(**FAST, api_name="/invert")
    a.predict(6.5, 8.5, api_name="/add_point")  # photo px: crop (3, 4) of a's 64-px photo
    with pytest.raises(AppError, match="invert a photo or generate"):
        b.predict(5, 6, api_name="/add_point")  # b has no image: a's session is not b's
    b.predict(seed_value=7, psi=0.5, **FAST, api_name="/seed")
    pb = b.predict(20, 21, api_name="/add_point")[1]  # b's photo is the generated 32-px image
    assert pb["pending_handle"] == [20.0, 21.0]
    pa = a.predict(12.5, 14.5, api_name="/add_point")[1]
    assert pa["handles"] == [[3.0, 4.0]] and pa["targets"] == [[6.0, 7.0]]
    assert b.predict(api_name="/undo_point")[1]["pending_handle"] is None
    assert a.predict(api_name="/undo_point")[1]["pending_handle"] == [3.0, 4.0]


def test_bad_input_is_a_message_and_the_app_keeps_serving(client, editor_server, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not an image")
    with pytest.raises(AppError, match="not an image") as info:
        _upload(client, not_image)
    assert "Traceback" not in str(info.value) and str(tmp_path) not in str(info.value)
    with pytest.raises(AppError, match="no face"):
        _upload(client, write_photo(tmp_path / "flat.png", 96, 96), align_mode="face")
    big = tmp_path / "big.png"  # over the 1 MB upload limit of the test server
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(big)
    with pytest.raises((AppError, ValueError), match="maximum file size"):  # Gradio's max_file_size
        _upload(client, big)
    _upload(client, write_photo(tmp_path / "ok.png"))
    client.predict(**FAST, api_name="/invert")
    with pytest.raises(AppError, match=r"outside the edited region \(photo \(130\.0, 3\.0\)"):
        client.predict(130, 3, api_name="/add_point")
    with pytest.raises(AppError, match="click a handle"):
        client.predict(**FAST, api_name="/drag")
    assert client.predict(2.5, 4.5, api_name="/add_point")[1]["pending_handle"] == [1.0, 2.0]  # still serving


def test_upload_size_and_pixel_limits(editor_server, tmp_path):
    from editor.session import Session
    from editor.settings import ServerOptions

    session = Session("s", tmp_path / "s", ServerOptions(max_photo_pixels=1000))
    session.model = editor_server[1].default_model
    photo = write_photo(tmp_path / "p.png", 64, 64)
    with pytest.raises(Exception, match="pixels"):
        session.set_photo(photo)
    with pytest.raises(ValueError, match="over the 0 MB limit"):
        session.set_photo(photo, max_upload_bytes=100)


def test_only_the_app_folder_is_served(editor_server, tmp_path):
    url, app, _ = editor_server
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    for path in (secret, "/etc/passwd"):
        try:
            with urllib.request.urlopen(f"{url}gradio_api/file={path}") as r:
                body = r.read()
        except urllib.error.HTTPError as exc:
            assert exc.code in (403, 404)
        else:
            pytest.fail(f"{path} was served: {body[:40]!r}")


def test_page_loads_nothing_from_the_internet(editor_server):
    import re

    url = editor_server[0]
    html = urllib.request.urlopen(url).read().decode()
    css = urllib.request.urlopen(f"{url}theme.css").read().decode()
    external = re.compile(
        r"""(?:src|href)\s*=\s*["'](https?:)?//(?!127\.0\.0\.1|localhost)|@import\s+url\(\s*["']?https?:|url\(\s*["']?https?://(?!127\.0\.0\.1|localhost)"""
    )
    assert not external.findall(html), external.findall(html)
    assert not external.findall(css), external.findall(css)
    assert "fonts.googleapis" not in html + css


def test_offline_model_choice_names_the_file_to_fetch(client):
    with pytest.raises(AppError, match="stylegan2-ffhq-256x256.pkl"):
        client.predict("ffhq-256", api_name="/model")
    assert client.predict("random-64", api_name="/model")[-1].startswith("model random-64 (64 px)")


def test_heavy_work_runs_one_at_a_time(editor_server, tmp_path):
    """Two tabs press Drag together: the device queue runs the drags one after the other."""
    from gradio_client import Client

    url, app, _ = editor_server
    clients = [Client(url, verbose=False) for _ in range(2)]
    for i, c in enumerate(clients):
        _upload(c, write_photo(tmp_path / f"q{i}.png", seed=i))
        c.predict(**FAST, api_name="/invert")
        c.predict(16.5, 16.5, api_name="/add_point")  # photo px: crop (8, 8) -> (20, 8)
        c.predict(40.5, 16.5, api_name="/add_point")
    jobs = [c.submit(**(FAST | {"drag_steps": "30", "stop_distance": "0"}), api_name="/drag") for c in clients]
    for job in jobs:
        job.result()
    spans = sorted(s.last_drag_span for s in app._sessions.values() if hasattr(s, "last_drag_span"))[-2:]
    assert len(spans) == 2 and spans[0][1] <= spans[1][0]
