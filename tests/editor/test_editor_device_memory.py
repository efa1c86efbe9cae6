"""The editor on a GPU server, checked on the CPU: drags end with their tab, idle tabs leave the
device, a bounded set of models stays loaded, and the advanced labels follow the model.

A CUDA device is stood in for by a session whose `device` says 'cuda:0' and whose generator's
`.to` is a spy (it records the device and keeps the weights on the CPU).
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import editor.app
import editor.session
import pipeline as pl
from editor.app import EditorApp
from editor.handlers import settings_from
from editor.settings import ServerOptions
from editor.state import Clicks
from hub.registry import build_random_generator
from stylegan import save_generator
from tests.editor.conftest import FAST, SERVER, tiny_app, write_photo

STUB_GPU = torch.device("cuda", 0)


def _app(tmp_path, **server) -> EditorApp:
    return tiny_app(tmp_path, **server)


@pytest.fixture
def app(tmp_path):
    a = _app(tmp_path, offload_after_s=60.0)
    yield a
    a.close()


def _inverted(app, tmp_path, sid, **settings):
    session = app.session(sid)
    session.settings = settings_from(FAST | settings)
    session.set_photo(write_photo(tmp_path / f"{sid}.png"))
    session.invert()
    session.clicks = Clicks(((8.0, 8.0), (24.0, 20.0)))
    return session


def _on_stub_gpu(session, monkeypatch) -> list[str]:
    """Pretend the session's generator lives on cuda:0; returns the devices its `.to` is called with."""
    calls: list[str] = []
    real_to = session.G_edit.to

    def to(device, *args, **kwargs):
        calls.append(str(device))
        return real_to("cpu")

    monkeypatch.setattr(session.G_edit, "to", to)
    session.device = STUB_GPU
    return calls


# --- a drag ends with its client ----------------------------------------------------------------
def _timed_heavy_work(monkeypatch) -> dict:
    """Record when the drag's optimisation returns and when an inversion starts."""
    times: dict = {}
    drag_crop, invert_crop = pl.drag_crop, pl.invert_crop

    def timed_drag(*args, **kwargs):
        try:
            return drag_crop(*args, **kwargs)
        finally:
            times["drag_end"] = time.monotonic()

    def timed_invert(*args, **kwargs):
        times["invert_start"] = time.monotonic()
        return invert_crop(*args, **kwargs)

    monkeypatch.setattr(pl, "drag_crop", timed_drag)
    monkeypatch.setattr(pl, "invert_crop", timed_invert)
    return times


def test_a_client_that_goes_away_stops_its_drag_before_the_next_heavy_job(app, tmp_path, monkeypatch):
    times = _timed_heavy_work(monkeypatch)
    session = _inverted(app, tmp_path, "gone", drag_steps="2000", stop_distance="0")
    updates = session.drag()
    first = next(updates)  # the drag runs on its thread
    assert not first.done and session.busy
    stream = session._stream
    updates.close()  # what Gradio does when the client disconnects or the event is cancelled
    assert not stream.running and session.stop.is_set() and not session.busy
    assert len(session.history) == 1  # the abandoned drag is not kept
    _inverted(app, tmp_path, "next")  # the next tab's heavy job
    assert times["invert_start"] > times["drag_end"]


def test_a_drag_whose_thread_outlives_the_wait_still_does_not_overlap_the_next_job(tmp_path, monkeypatch):
    app = _app(tmp_path, stop_wait_s=0.0)  # the bounded wait ends at once
    try:
        times = _timed_heavy_work(monkeypatch)
        session = _inverted(app, tmp_path, "slow", drag_steps="2000", stop_distance="0")
        updates = session.drag()
        next(updates)
        updates.close()
        _inverted(app, tmp_path, "next")  # waits for the device, which the drag holds to its last step
        assert times["invert_start"] > times["drag_end"]
    finally:
        app.close()


def test_closing_a_tab_joins_its_drag_and_writes_nothing_for_it(app, tmp_path):
    session = _inverted(app, tmp_path, "tab", drag_steps="2000", stop_distance="0")
    folder = session.folder
    first, finished = threading.Event(), []

    def consume():  # the page's drag event, still streaming when the tab closes
        for update in session.drag():
            first.set()
            finished.append(update.done)

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert first.wait(60)
    stream = session._stream
    app.close_session("tab")  # `Blocks.unload`
    assert not stream.running  # the thread ended before close_session returned
    consumer.join(60)
    assert not consumer.is_alive() and True not in finished
    assert not folder.exists() and session.outputs == []


def test_a_session_freed_after_the_idle_timeout_joins_its_drag(app, tmp_path):
    session = _inverted(app, tmp_path, "idle", drag_steps="2000", stop_distance="0")
    updates = session.drag()
    next(updates)
    stream = session._stream
    session.busy = False  # whatever marks the tab idle, freeing it must not leave its drag running
    freed = app.sweep(now=session.touched + app.idle_timeout_s + 1)
    assert freed == ["idle"] and not stream.running


# --- idle tabs leave the device ---------------------------------------------------------------
def test_only_idle_tabs_with_their_own_generator_on_a_gpu_are_offloaded(app, tmp_path, monkeypatch):
    released = []
    monkeypatch.setattr(editor.session, "release_cached_memory", released.append)
    idle = _inverted(app, tmp_path, "idle", inversion_method="pti")
    recent = _inverted(app, tmp_path, "recent", inversion_method="pti")
    dragging = _inverted(app, tmp_path, "dragging", inversion_method="pti")
    on_cpu = _inverted(app, tmp_path, "cpu", inversion_method="pti")
    seeded = app.session("seeded")
    seeded.start_from_seed(3, 0.7)  # edits with the model every tab shares: never moved by a tab
    calls = {s.sid: _on_stub_gpu(s, monkeypatch) for s in (idle, recent, dragging, seeded)}
    on_cpu_calls = []
    monkeypatch.setattr(on_cpu.G_edit, "to", lambda device, *a, **k: on_cpu_calls.append(device))
    now = time.monotonic() + 1000.0
    for s in (idle, dragging, on_cpu, seeded):
        s.touched = now - 61.0
    recent.touched = now - 59.0
    dragging.busy = True
    assert app.offload_idle(now=now) == ["idle"]
    assert calls == {"idle": ["cpu"], "recent": [], "dragging": [], "seeded": []} and on_cpu_calls == []
    assert idle.offloaded and released == [STUB_GPU]
    assert app.offload_idle(now=now) == []  # once
    recent.touched = now - 61.0
    app.sweep(now=now, keep="recent")  # the tab a request is about to use stays
    assert not recent.offloaded
    never = _app(tmp_path / "never", offload_after_s=None)
    assert never.offload_idle(now=now + 1e9) == []
    never.close()


def test_an_offloaded_tab_drags_as_if_it_had_never_left(app, tmp_path, monkeypatch):
    kept = _inverted(app, tmp_path, "kept", inversion_method="pti")
    moved = _inverted(app, tmp_path, "moved", inversion_method="pti")
    calls = _on_stub_gpu(moved, monkeypatch)
    moved.touched -= 61.0
    assert app.offload_idle() == ["moved"] and moved.offloaded
    for session in (kept, moved):
        assert list(session.drag())[-1].done
    assert calls == ["cpu", str(STUB_GPU)] and not moved.offloaded  # back on its device for the drag
    np.testing.assert_array_equal(moved.history[-1].ws.numpy(), kept.history[-1].ws.numpy())
    np.testing.assert_array_equal(moved.history[-1].image, kept.history[-1].image)


# --- a bounded set of models ------------------------------------------------------------------
def test_the_least_recently_picked_model_is_dropped_and_loaded_again(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for i, name in enumerate("abc"):
        save_generator(build_random_generator(32, seed=i), folder / f"{name}.pt")
    released = []
    monkeypatch.setattr(editor.app, "release_cached_memory", released.append)
    app = EditorApp(
        ServerOptions(**(SERVER | {"max_models": 2})),
        checkpoint="a.pt",
        checkpoints_dir=folder,
        temp_dir=tmp_path / "app",
        allow_download=False,
        generators={"injected": build_random_generator(32, seed=9)},
    )
    try:
        b = app.model("b.pt")
        assert app.loaded_models() == ["a.pt", "b.pt"]
        app.model("a.pt")  # picked again: now the most recent
        app.model("c.pt")
        assert app.loaded_models() == ["a.pt", "c.pt"] and released == [torch.device("cpu")]
        user = app.session("user")
        user.use_model(app.model("b.pt"))  # dropped: loaded again (and c.pt dropped)
        assert user.model is not b and app.loaded_models() == ["a.pt", "b.pt"]
        for p, q in zip(b.G.parameters(), user.model.G.parameters()):
            assert torch.equal(p, q)
        assert app.model("injected") is app.model("injected")  # injected models are never dropped
        assert app.loaded_models() == ["a.pt", "b.pt"]
        released.clear()
        app.model("c.pt")  # drops a.pt, which no tab uses ...
        b_again = user.model
        app.model("a.pt")  # ... then b.pt, which the tab "user" still edits with: its memory stays
        assert app.loaded_models() == ["c.pt", "a.pt"] and released == [torch.device("cpu")]
        assert app.session("user").model is b_again
        assert app.model("b.pt") is b_again  # picked again while a tab uses it: no second copy
        assert app.loaded_models() == ["a.pt", "b.pt"]
        assert app.session("new").model.label == "a.pt"  # a new tab gets the default model
    finally:
        app.close()


# --- the advanced settings' labels ------------------------------------------------------------
def _stub_model(size: int) -> pl.LoadedModel:
    return pl.LoadedModel(f"stub-{size}", SimpleNamespace(img_resolution=size, metadata={}))


def test_advanced_labels_show_the_selected_models_defaults():
    from editor.settings import advanced_labels

    small, large = advanced_labels(_stub_model(64)), advanced_labels(_stub_model(512))
    assert (small["r1"], small["r2"], small["feature_res"]) == (
        "r1 (px at 512; blank = 12)",
        "r2 (px at 512; blank = 24)",
        "Feature block resolution (blank = 32)",
    )
    assert (large["r1"], large["r2"], large["feature_res"]) == (
        "r1 (px at 512; blank = 3)",
        "r2 (px at 512; blank = 12)",
        "Feature block resolution (blank = 128)",
    )
    assert small["stop_distance"].endswith("(blank = 1)") and large["stop_distance"].endswith("(blank = 2)")
    assert large["lr"] == "Drag lr (blank = 0.002)" and large["drag_steps"] == "Max drag steps (blank = 300)"


def test_choosing_a_model_updates_the_advanced_labels(app, tmp_path):
    from editor.handlers import Handlers
    from editor.settings import ADVANCED_LABELLED

    big = torch.nn.Module()
    big.img_resolution, big.metadata = 512, {}
    app._injected["big"] = pl.LoadedModel("big", big)
    names = (
        "photo_view aligned reconstruction metrics canvas points_json pairs mask_editor original edited files crop_view"
    )
    page = SimpleNamespace(**{n: n for n in [*names.split(), "status", *ADVANCED_LABELLED]})
    page.pairs_update = lambda labels: labels
    request = SimpleNamespace(session_hash="m")
    out = Handlers(app, page).choose_model("big", request)
    assert out["r1"]["label"] == "r1 (px at 512; blank = 3)" and out["status"].startswith("model big (512 px)")
    out = Handlers(app, page).choose_model("tiny", request)
    assert out["r2"]["label"] == "r2 (px at 512; blank = 24)" and out["feature_res"]["label"].endswith("= 16)")
