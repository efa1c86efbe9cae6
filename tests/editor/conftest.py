"""Fixtures of the editor tests: a launched editor on a tiny checkpoint, offline settings, photos."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image

from hub.registry import build_random_generator
from stylegan import save_generator

# Offline settings for every test: random LPIPS backbone, CPU, no shared inversion cache.
SERVER = {"device": "cpu", "lpips_backbone": "random", "lpips_net": "squeeze", "no_cache": True}
# The page's settings for a seconds-long run (API parameter names).
FAST = {
    "align_mode": "center",
    "box": "",
    "face_index": "",
    "inversion_method": "w",
    "steps": "2",
    "drag_steps": "3",
    "lr": "0.05",
    "stop_distance": "",
    "w_space": None,
    "r1": "",
    "r2": "",
    "feature_res": "",
    "lambda_mask": "",
    "seed": 0,
}


def tiny_app(tmp_path, **server_changes):
    """An `EditorApp` on a tiny random generator ('tiny') with the offline `SERVER` settings (changed by keywords)."""
    from editor.app import EditorApp
    from editor.settings import ServerOptions

    return EditorApp(
        ServerOptions(**(SERVER | server_changes)),
        checkpoint="tiny",
        generators={"tiny": build_random_generator(32, seed=1)},
        checkpoints_dir=tmp_path / "checkpoints",
        temp_dir=tmp_path / "app",
        allow_download=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_photo(path, width: int = 64, height: int = 64, seed: int = 0):
    """A smooth random photo (PNG) at `path`."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    Image.fromarray(small).resize((width, height), Image.BILINEAR).save(path)
    return path


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory):
    """(url, app, checkpoint path): an editor serving a 32-px random checkpoint from its checkpoints folder."""
    from editor.app import EditorApp
    from editor.server import launch
    from editor.settings import ServerOptions

    root = tmp_path_factory.mktemp("editor")
    (root / "checkpoints").mkdir()
    ckpt = save_generator(build_random_generator(32, seed=3), root / "checkpoints" / "tiny.pt")
    app = EditorApp(
        ServerOptions(**SERVER),
        checkpoint=str(ckpt),
        checkpoints_dir=root / "checkpoints",
        allow_download=False,
        max_upload_mb=1.0,
        temp_dir=root / "app",
    )
    demo = launch(app, port=free_port(), block=False)
    yield demo.local_url, app, ckpt
    demo.close()
    app.close()


@pytest.fixture
def client(editor_server):
    from gradio_client import Client

    return Client(editor_server[0], verbose=False)
