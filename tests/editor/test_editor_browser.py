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

import pipeline as pl
from editor import view
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


def _click_photo(page, session, x: float, y: float) -> None:
    """Click the canvas (the photo around the face) where photo pixel (x, y) is shown."""
    from editor.state import display_from_photo
    from editor.view import canvas_view

    dx, dy = display_from_photo((x, y), canvas_view(session))
    img = page.locator("#canvas img")
    box = img.bounding_box()
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    r = min(box["width"] / natural[0], box["height"] / natural[1], 1.0)
    ox, oy = (box["width"] - natural[0] * r) / 2, (box["height"] - natural[1] * r) / 2
    page.mouse.click(box["x"] + ox + (dx + 0.5) * r, box["y"] + oy + (dy + 0.5) * r)


def _shown(page, elem_id: str) -> np.ndarray:
    """The image an image component shows, as the browser fetched it (uint8 RGB)."""
    import io

    src = page.locator(f"#{elem_id} img").get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))


def _distance_to(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) distance of every pixel centre to the nearest of `points` ((N, 2) x, y)."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.min([np.hypot(xs - x, ys - y) for x, y in points], axis=0)


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
    # The canvas is the photo around the crop (the centre square, x 32..95): clicks are photo
    # pixels, mapped to the 32-px crop (x (p - 32 + 0.5) / 2 - 0.5, y (p + 0.5) / 2 - 0.5).
    _click_photo(page, session, 52, 24)
    _wait_status(page, "point at (52.0, 24.0) photo px, (9.")
    time.sleep(0.5)  # the canvas is redrawn with the handle; click the new image
    _click_photo(page, session, 64, 24)
    _wait_status(page, "point at (64.0, 24.0) photo px, (15.")
    t = time.monotonic()
    while len(session.clicks) < 1 and time.monotonic() - t < 10:
        time.sleep(0.05)
    np.testing.assert_allclose(session.clicks.handles, [[9.75, 11.75]], atol=0.25)
    np.testing.assert_allclose(session.clicks.targets, [[15.75, 11.75]], atol=0.25)
    time.sleep(0.5)
    before = _shown(page, "canvas")

    page.locator("#drag").click()
    _wait_status(page, "after", timeout_s=120)
    time.sleep(1.0)  # the last images reach the page
    edited = np.asarray(Image.open(next(p for p in session.outputs if p.name == "edited.png")))
    original = np.asarray(Image.open(photo).convert("RGB"))
    # The photo changed near the points and nowhere far from them: the composite's weight is 0
    # beyond 2 * locality (0.4 crop sizes = 25.6 photo px) of the handle paths.
    last = session.history[-1]
    ends = np.concatenate([last.handles_crop, last.targets_crop, last.drag.handles])
    ends_photo = np.concatenate([[[52, 24], [64, 24]], pl.to_photo(ends, session.alignment)])
    distance = _distance_to(ends_photo, original.shape[:2])
    assert (edited != original).any(axis=2)[distance < 12].any(), "the photo did not change near the points"
    np.testing.assert_array_equal(edited[distance > 30], original[distance > 30])
    # The canvas shows that photo (the composite, as edited.png), its points redrawn.
    after = _shown(page, "canvas")
    np.testing.assert_array_equal(after, view.canvas_image(session))
    view_box = view.canvas_view(session).box
    scale = round(after.shape[1] / (view_box[2] - view_box[0]))
    far = np.repeat(np.repeat(distance[view_box[1] : view_box[3], view_box[0] : view_box[2]], scale, 0), scale, 1)
    np.testing.assert_array_equal(after[far > 30], before[far > 30])
    assert (after != before).any()
    assert _shown(page, "crop").shape == (512, 512, 3)  # the generator's crop, the secondary view
    page.locator("#edited img").wait_for()

    # A long drag: Stop gives control back within a few seconds and keeps the result.
    _fill(page, "drag-steps", 100000)
    _fill(page, "stop-distance", 0)
    page.locator("#clear-points").click()
    _wait_status(page, "all points cleared")
    time.sleep(0.5)
    _click_photo(page, session, 39, 7)
    _wait_status(page, "point at (39.0, 7.0) photo px, (3.")
    time.sleep(0.5)
    _click_photo(page, session, 89, 57)
    _wait_status(page, "point at (89.0, 57.0) photo px, (28.")
    page.locator("#drag").click()
    _wait_status(page, "step ", timeout_s=60)
    time.sleep(0.5)
    live = _shown(page, "canvas")  # a live preview: the photo with the frame composited
    assert live.shape == before.shape
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
