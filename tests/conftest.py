"""Shared fixtures: tiny seeded generators and the optional ../shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from stylegan import Generator, save_generator
from stylegan.random import random_generator

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """Location of the shared test data (env DRAGGAN_SHARED overrides ../shared)."""
    return Path(os.environ.get("DRAGGAN_SHARED", REPO.parent / "shared"))


def make_tiny_generator(
    img_resolution: int = 32,
    seed: int = 0,
    w_dim: int = 32,
    channel_max: int = 32,
    mapping_layers: int = 2,
    noise_strength: float = 0.0,
    **kwargs,
) -> Generator:
    """A seeded, randomly initialised generator small enough for CPU tests (< 0.1 s to build).

    Returns:
        Generator in eval mode with requires_grad False, w_avg set to the mean
        of mapped samples so truncation behaves as on a trained model.
    """
    return random_generator(
        img_resolution,
        seed,
        noise_strength=noise_strength,
        w_avg_samples=512,
        z_dim=w_dim,
        w_dim=w_dim,
        channel_base=channel_max * 16,
        channel_max=channel_max,
        mapping_layers=mapping_layers,
        **kwargs,
    )


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are dominated by per-op overhead: one torch thread is faster, and CI boxes are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_generator_factory():
    """Factory fixture: `tiny_generator_factory(img_resolution=32, seed=0, ...)`."""
    return make_tiny_generator


@pytest.fixture
def tiny_G() -> Generator:
    """A 32x32 seeded random generator (num_ws 8, w_dim 32)."""
    return make_tiny_generator()


@pytest.fixture
def tiny_checkpoint(tiny_generator_factory, tmp_path) -> Path:
    """A 32-px random generator saved in the native format, loaded by the CLI like a user file."""
    G = tiny_generator_factory(img_resolution=32, seed=3)
    return save_generator(G, tmp_path / "tiny_G.pt")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared data folder; skips the test when it is absent."""
    path = shared_path()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path} (set DRAGGAN_SHARED)")
    return path


def _shared_item(relative: str) -> Path:
    path = shared_path() / relative
    if not path.exists():
        pytest.skip(f"{relative} not found in the shared data folder {shared_path()} (set DRAGGAN_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared_squeeze_backbone() -> Path:
    """../shared/weights/lpips/squeezenet1_1_features.pth (real LPIPS-squeeze backbone); skips when absent."""
    return _shared_item("weights/lpips/squeezenet1_1_features.pth")


@pytest.fixture(scope="session")
def utkface_dir() -> Path:
    """../shared/data/utkface (200x200 face crops); skips when absent."""
    return _shared_item("data/utkface")


@pytest.fixture
def run_torchrun():
    """Factory fixture: `run_torchrun(nproc, module_args, timeout=300)` runs
    `python -m torch.distributed.run --nproc_per_node=nproc -m ...` on CPU (gloo) from the repo root,
    one thread per worker, on a free local port; returns the CompletedProcess (text output)."""
    import socket
    import subprocess
    import sys

    def run(nproc: int, module_args: list[str], timeout: float = 300):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MASTER_ADDR": "127.0.0.1",
            "PYTHONPATH": str(REPO),
            "CUDA_VISIBLE_DEVICES": "",
        }
        if sys.platform.startswith("linux"):
            # gloo binds to the address the host name resolves to, which some CI sandboxes cannot reach.
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={nproc}",
            "--nnodes=1",
            "--master_addr=127.0.0.1",
            f"--master_port={port}",
            "-m",
            *map(str, module_args),
        ]
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)

    return run


FACE_CLIP_SIZE = (192, 192)
FACE_CLIP_FPS = 10.0
FACE_CLIP_CAMERA = dict(center=(0.45, 0.26), zoom=(1.9, 2.0), pan=(0.03, 0.01), rotate_deg=(-1.0, 1.0))
# frames 0-5 the astronaut, 6-8 a cat (no face: unchanged), 9-11 the astronaut again
FACE_CLIP_SHOTS = (("astronaut", 6), ("cat", 3), ("astronaut", 3))


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory):
    """A 12-frame 192x192 clip with a tone: the astronaut (frames 0-5), a cat (6-8, no face), the astronaut (9-11)."""
    from skimage import data

    from evaluation.video_clips import Camera, photo_clip_frames, sine_audio
    from pipeline.io.clip import ClipWriter

    folder = tmp_path_factory.mktemp("clip")
    tone = sine_audio(folder / "tone.wav", seconds=sum(n for _, n in FACE_CLIP_SHOTS) / FACE_CLIP_FPS)
    photos = {"astronaut": (data.astronaut(), FACE_CLIP_CAMERA), "cat": (data.chelsea(), {})}
    path = folder / "clip.mp4"
    with ClipWriter(path, *FACE_CLIP_SIZE, FACE_CLIP_FPS, audio_from=tone, crf=12) as writer:
        for name, n in FACE_CLIP_SHOTS:
            photo, camera = photos[name]
            for frame in photo_clip_frames(photo, n, FACE_CLIP_SIZE, Camera(**camera)):
                writer.write(frame)
    return path
