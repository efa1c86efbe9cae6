"""The table of registered checkpoints: names, download URLs, formats, domains and resolutions.

`hub.registry` resolves, downloads and loads them; its module docstring says where each
URL was checked and why no entry has a SHA-256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOMAINS = ("face", "cat", "dog", "horse", "lion", "elephant", "car", "wild", "none")
FORMATS = ("nvlabs-pkl", "nvlabs-tf-pkl", "mmagic-pth", "native", "builtin")

_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
_SELF_DISTILLED = "https://storage.googleapis.com/self-distilled-stylegan/"
# NVlabs/stylegan2 pretrained_networks.py: the https CDN of the TensorFlow release (DragGAN's script has http).
_TF_STYLEGAN2 = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
_OPENXLAB = "https://download.openxlab.org.cn/models/qsun1/DragGAN-StyleGAN2-checkpoint/weight//"


@dataclass(frozen=True)
class CheckpointInfo:
    """One registered generator.

    Attributes:
        name: the registry key (`--checkpoint NAME`).
        filename: file name inside the checkpoints folder ('' for built-in generators).
        url: download URL, or None (built in / packaged only).
        format: 'nvlabs-pkl' (PyTorch pickle of stylegan2-ada/stylegan3), 'nvlabs-tf-pkl'
            (original TensorFlow StyleGAN2 pickle), 'mmagic-pth', 'native' (this project's
            `stylegan.save_generator`), 'builtin' (built in memory, no file).
        domain: what the model generates: one of `DOMAINS`; 'face' models want face alignment.
        resolution: the generator's img_resolution.
        source: who trained/released it.
        description: one line for `--list-checkpoints`.
        content_aspect: width / height of the content inside the square canvas (LSUN car: 4/3).
        face_preset: the `align.FACE_PRESETS` framing the model was trained on ('ffhq'); the
            pipeline aligns faces the same way.
        packaged: path of a file shipped with the installed packages, relative to their root
            (e.g. 'stylegan/data/face.pt'), looked for before the checkpoints folder; or None.
        size_mb: approximate download size, for the message.
        sha256: the file's SHA-256 (64 hex) as published by its official source, checked
            before the download is renamed into place; None where no official hash is
            published (the download is then unverified, and says so).
    """

    name: str
    filename: str
    url: str | None
    format: str
    domain: str
    resolution: int
    source: str
    description: str = ""
    content_aspect: float = 1.0
    face_preset: str = "ffhq"
    packaged: str | None = None
    size_mb: int | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"CheckpointInfo.format must be one of {FORMATS}, got {self.format!r}")
        if self.domain not in DOMAINS:
            raise ValueError(f"CheckpointInfo.domain must be one of {DOMAINS}, got {self.domain!r}")
        if self.url is None and self.packaged is None and self.format != "builtin":
            raise ValueError(f"checkpoint {self.name!r} needs a url or a packaged file")
        if self.url is not None and not self.url.startswith(("https://", "file://")):
            raise ValueError(
                f"checkpoint {self.name!r}: url must be https:// (or file:// for a local mirror), got {self.url!r}"
            )
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"checkpoint {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")


def checkpoint_entries() -> dict[str, CheckpointInfo]:
    """Every registered checkpoint by name (the table `hub.registry.REGISTRY` is built from)."""
    e: list[CheckpointInfo] = [
        # No entry below has a `sha256`: no official source publishes one (see the module docstring).
        # --- Official NVlabs StyleGAN2 (stylegan2-ada-pytorch format) on NGC -----------------
        CheckpointInfo(
            "ffhq-256",
            "stylegan2-ffhq-256x256.pkl",
            _NGC + "stylegan2-ffhq-256x256.pkl",
            "nvlabs-pkl",
            "face",
            256,
            "NVlabs StyleGAN2 (stylegan3 release), FFHQ",
            "faces, 256 px",
            size_mb=95,
        ),
        CheckpointInfo(
            "ffhq-512",
            "stylegan2-ffhq-512x512.pkl",
            _NGC + "stylegan2-ffhq-512x512.pkl",
            "nvlabs-pkl",
            "face",
            512,
            "NVlabs StyleGAN2, FFHQ (the face model DragGAN uses)",
            "faces, 512 px (DragGAN's face model)",
            size_mb=350,
        ),
        CheckpointInfo(
            "ffhq-1024",
            "stylegan2-ffhq-1024x1024.pkl",
            _NGC + "stylegan2-ffhq-1024x1024.pkl",
            "nvlabs-pkl",
            "face",
            1024,
            "NVlabs StyleGAN2, FFHQ",
            "faces, 1024 px (slow on CPU)",
            size_mb=365,
        ),
        CheckpointInfo(
            "afhqcat-512",
            "stylegan2-afhqcat-512x512.pkl",
            _NGC + "stylegan2-afhqcat-512x512.pkl",
            "nvlabs-pkl",
            "cat",
            512,
            "NVlabs StyleGAN2, AFHQ cat",
            "cat faces, 512 px",
            size_mb=350,
        ),
        CheckpointInfo(
            "afhqdog-512",
            "stylegan2-afhqdog-512x512.pkl",
            _NGC + "stylegan2-afhqdog-512x512.pkl",
            "nvlabs-pkl",
            "dog",
            512,
            "NVlabs StyleGAN2, AFHQ dog",
            "dog faces, 512 px",
            size_mb=350,
        ),
        CheckpointInfo(
            "afhqwild-512",
            "stylegan2-afhqwild-512x512.pkl",
            _NGC + "stylegan2-afhqwild-512x512.pkl",
            "nvlabs-pkl",
            "wild",
            512,
            "NVlabs StyleGAN2, AFHQ wild",
            "wild animal faces, 512 px",
            size_mb=350,
        ),
        # --- DragGAN's download script (XingangPan/DragGAN scripts/download_model.sh) -------------
        CheckpointInfo(
            "lions-512",
            "stylegan2_lions_512_pytorch.pkl",
            _SELF_DISTILLED + "lions_512_pytorch.pkl",
            "nvlabs-pkl",
            "lion",
            512,
            "Self-Distilled StyleGAN (Mokady et al.), internet lions",
            "lions, 512 px",
        ),
        CheckpointInfo(
            "dogs-1024",
            "stylegan2_dogs_1024_pytorch.pkl",
            _SELF_DISTILLED + "dogs_1024_pytorch.pkl",
            "nvlabs-pkl",
            "dog",
            1024,
            "Self-Distilled StyleGAN, internet dogs",
            "dogs, 1024 px",
        ),
        CheckpointInfo(
            "horses-256",
            "stylegan2_horses_256_pytorch.pkl",
            _SELF_DISTILLED + "horses_256_pytorch.pkl",
            "nvlabs-pkl",
            "horse",
            256,
            "Self-Distilled StyleGAN, LSUN horses",
            "horses, 256 px",
        ),
        CheckpointInfo(
            "elephants-512",
            "stylegan2_elephants_512_pytorch.pkl",
            _SELF_DISTILLED + "elephants_512_pytorch.pkl",
            "nvlabs-pkl",
            "elephant",
            512,
            "Self-Distilled StyleGAN, internet elephants",
            "elephants, 512 px",
        ),
        CheckpointInfo(
            "car-512",
            "stylegan2-car-config-f.pkl",
            _TF_STYLEGAN2 + "stylegan2-car-config-f.pkl",
            "nvlabs-tf-pkl",
            "car",
            512,
            "NVlabs StyleGAN2 config-f (TensorFlow release), LSUN car",
            "cars, 512x384 content in a 512 canvas",
            content_aspect=4 / 3,
        ),
        CheckpointInfo(
            "cat-256",
            "stylegan2-cat-config-f.pkl",
            _TF_STYLEGAN2 + "stylegan2-cat-config-f.pkl",
            "nvlabs-tf-pkl",
            "cat",
            256,
            "NVlabs StyleGAN2 config-f (TensorFlow release), LSUN cat",
            "cats, 256 px",
        ),
        # --- mmagic DragGAN state dicts (open-mmlab/mmagic configs/draggan/README.md) -----------
        CheckpointInfo(
            "mmagic-lions-512",
            "stylegan2_lions_512_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-Lions-internet",
            "mmagic-pth",
            "lion",
            512,
            "mmagic DragGAN (self-distilled StyleGAN), internet lions",
            "lions, 512 px",
        ),
        CheckpointInfo(
            "mmagic-elephants-512",
            "stylegan2_elephants_512_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-elephants-internet",
            "mmagic-pth",
            "elephant",
            512,
            "mmagic DragGAN (self-distilled StyleGAN), internet elephants",
            "elephants, 512 px",
        ),
        CheckpointInfo(
            "mmagic-afhqcat-512",
            "stylegan2_cats_512_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-cat-AFHQ",
            "mmagic-pth",
            "cat",
            512,
            "mmagic DragGAN (self-distilled StyleGAN), AFHQ cat",
            "cat faces, 512 px",
        ),
        CheckpointInfo(
            "mmagic-ffhq-512",
            "stylegan2_face_512_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-FFHQ",
            "mmagic-pth",
            "face",
            512,
            "mmagic DragGAN (self-distilled StyleGAN), FFHQ",
            "faces, 512 px",
        ),
        CheckpointInfo(
            "mmagic-horses-256",
            "stylegan2_horses_256_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-lsun-horses",
            "mmagic-pth",
            "horse",
            256,
            "mmagic DragGAN (self-distilled StyleGAN), LSUN horse",
            "horses, 256 px",
        ),
        CheckpointInfo(
            "mmagic-dogs-1024",
            "stylegan2_dogs_1024_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-dogs-internet",
            "mmagic-pth",
            "dog",
            1024,
            "mmagic DragGAN (self-distilled StyleGAN), internet dogs",
            "dogs, 1024 px",
        ),
        CheckpointInfo(
            "mmagic-car-512",
            "stylegan2_car_512_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-car-official",
            "mmagic-pth",
            "car",
            512,
            "mmagic DragGAN (transfer of the official StyleGAN2), LSUN car",
            "cars, 512x384 content in a 512 canvas",
            content_aspect=4 / 3,
        ),
        CheckpointInfo(
            "mmagic-cat-256",
            "stylegan2_cat_256_pytorch_mmagic.pth",
            _OPENXLAB + "StyleGAN2-cat-official",
            "mmagic-pth",
            "cat",
            256,
            "mmagic DragGAN (transfer of the official StyleGAN2), LSUN cat",
            "cats, 256 px",
        ),
        # --- Shipped with the package: no download ------------------------------------------------
        CheckpointInfo(
            "face-64",
            "face64-fp16.pt",
            None,
            "native",
            "face",
            64,
            "this project: training.train on UTKFace crops (2-core CPU, 130 kimg)",
            "faces, 64 px, small demonstration model shipped with the package (default)",
            face_preset="utkface",
            packaged="stylegan/data/face64-fp16.pt",
        ),
        # --- Built in: no file, no download ------------------------------------------------------
        CheckpointInfo(
            "random-64",
            "",
            None,
            "builtin",
            "none",
            64,
            "this project (seeded random init)",
            "UNTRAINED 64 px generator built in memory: edits are meaningless; only for "
            "exercising the pipeline offline",
        ),
    ]
    return {info.name: info for info in e}
