"""The editor in a real browser: headless Debian Chromium driven by Playwright (no browser downloads).

Run only these with `pytest -m browser`; they skip when /usr/bin/chromium (or $CHROMIUM) is absent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.editor.conftest import SERVER, free_port, write_photo

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots go to pytest's temporary folder; EDITOR_SCREENSHOT=docs/editor.png refreshes the README's.
SCREENSHOT = Path(os.environ.get("EDITOR_SCREENSHOT") or Path(tempfile.gettempdir()) / "draggan-editor" / "editor.png")


@pytest.fixture(scope="module")
def browser_app(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; or set CHROMIUM)")
    pytest.importorskip("playwright.sync_api")
    from editor.app import EditorApp
    from editor.server import launch
    from editor.settings import ServerOptions
    from hub.registry import build_random_generator

    root = tmp_path_factory.mktemp("browser")
    app = EditorApp(
        ServerOptions(**SERVER),
        checkpoint="tiny-32",
        generators={"tiny-32": build_random_generator(32, 2)},
        checkpoints_dir=root / "checkpoints",
        temp_dir=root / "app",
        allow_download=False,
    )
    demo = launch(app, port=free_port(), block=False)
    yield demo.local_url, app, root
    demo.close()
    app.close()


@pytest.fixture(scope="module")
def browser(browser_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, env=dict(os.environ, OMP_NUM_THREADS="1"))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, browser_app):
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.set_default_timeout(60_000)
    # The network is "off": every request that leaves the app's own server is recorded and refused.
    local = browser_app[0].rstrip("/")
    page.external_requests = []

    def refuse_external(route):
        if route.request.url.startswith(local) or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            page.external_requests.append(route.request.url)
            route.abort()

    page.route("**/*", refuse_external)
    page.goto(browser_app[0])
    page.wait_for_load_state("load")
    page.locator("#drag").wait_for()
    yield page
    page.close()


def _status(page) -> str:
    return page.locator("#status textarea").input_value()


def _wait_status(page, text: str, timeout_s: float = 60.0) -> float:
    t = time.monotonic()
    while text not in _status(page):
        if time.monotonic() - t > timeout_s:
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT.with_name("editor-failure.png")), full_page=True)
            raise AssertionError(f"status never showed {text!r}; it shows {_status(page)!r}")
        time.sleep(0.05)
    return time.monotonic() - t


def _click_gen(page, x: float, y: float, size: int) -> None:
    """Click the displayed editing image where generator pixel (x, y) is shown."""
    img = page.locator("#canvas img")
    box = img.bounding_box()
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    scale_display = natural[0] / size
    r = min(box["width"] / natural[0], box["height"] / natural[1], 1.0)
    ox, oy = (box["width"] - natural[0] * r) / 2, (box["height"] - natural[1] * r) / 2
    dx, dy = (x * scale_display + (scale_display - 1) / 2), (y * scale_display + (scale_display - 1) / 2)
    page.mouse.click(box["x"] + ox + (dx + 0.5) * r, box["y"] + oy + (dy + 0.5) * r)


def _fill(page, elem_id: str, value) -> None:
    field = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    field.fill(str(value))
    field.press("Enter")


def test_page_loads_with_the_network_off(page):
    page.locator("#drag").wait_for()
    assert page.external_requests == []


def test_upload_click_drag_stop_in_the_browser(page, browser_app):
    _, app, root = browser_app
    photo = write_photo(root / "photo.png", 128, 64, seed=4)
    page.locator("#align-mode label", has_text="center").click()
    page.locator("#inversion label", has_text="w+").click()
    page.locator("#inversion label", has_text="w").first.click()
    _fill(page, "steps", 2)
    page.get_by_text("Advanced settings").click()
    _fill(page, "drag-steps", 20)
    page.locator("#upload input[type=file]").set_input_files(str(photo))
    _wait_status(page, "inverted with w")

    (session,) = app._sessions.values()
    page.locator("#canvas img").wait_for()
    _click_gen(page, 10, 12, 32)
    _wait_status(page, "point at (10.")
    time.sleep(0.5)  # the canvas is redrawn with the handle; click the new image
    _click_gen(page, 16, 12, 32)
    _wait_status(page, "point at (16.")
    t = time.monotonic()
    while len(session.clicks) < 1 and time.monotonic() - t < 10:
        time.sleep(0.05)
    np.testing.assert_allclose(session.clicks.handles, [[10, 12]], atol=1.0)
    np.testing.assert_allclose(session.clicks.targets, [[16, 12]], atol=1.0)

    page.locator("#drag").click()
    _wait_status(page, "after", timeout_s=120)
    edited = np.asarray(Image.open(next(p for p in session.outputs if p.name == "edited.png")))
    original = np.asarray(Image.open(photo).convert("RGB"))
    # The 64-px centre square (x 32..95) is the crop: it changed; the side bands did not.
    assert np.abs(edited[:, 40:88].astype(int) - original[:, 40:88]).max() > 0
    np.testing.assert_array_equal(edited[:, :16], original[:, :16])
    np.testing.assert_array_equal(edited[:, -16:], original[:, -16:])
    page.locator("#edited img").wait_for()

    # A long drag: Stop gives control back within a few seconds and keeps the result.
    _fill(page, "drag-steps", 100000)
    _fill(page, "stop-distance", 0)
    page.locator("#clear-points").click()
    _wait_status(page, "all points cleared")
    time.sleep(0.5)
    _click_gen(page, 3, 3, 32)
    _wait_status(page, "point at (3.")
    time.sleep(0.5)
    _click_gen(page, 28, 28, 32)
    _wait_status(page, "point at (28.")
    page.locator("#drag").click()
    _wait_status(page, "step ", timeout_s=60)
    t = time.monotonic()
    page.locator("#stop").click()
    _wait_status(page, "stopped after", timeout_s=30)
    assert time.monotonic() - t < 5.0
    assert session.history[-1].drag.stopped_by_callback and len(session.history) == 3
    assert page.locator(".toast-body.error").count() == 0, "the page showed an error"
    time.sleep(1.0)  # let the last images settle before the screenshot
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert SCREENSHOT.stat().st_size > 10_000


def test_closing_the_tab_frees_its_state(browser, browser_app):
    url, app, _ = browser_app
    page = browser.new_page()
    before = set(app._sessions)
    page.goto(url)
    page.locator("#undo-point").click()  # any event creates the tab's session (here: a message)
    t = time.monotonic()
    while len(set(app._sessions) - before) < 1 and time.monotonic() - t < 30:
        time.sleep(0.05)
    (sid,) = set(app._sessions) - before
    page.close()
    t = time.monotonic()
    while app.has_session(sid) and time.monotonic() - t < 30:
        time.sleep(0.1)
    assert not app.has_session(sid)
