"""The table of registered checkpoints as data: one `CheckpointInfo` row per generator.

Each row names its fields (name, file, URL, format, domain, resolution, source, ...); the
rows are validated once, when this module is imported. `hub.registry` resolves, downloads
and loads them; its module docstring says where each URL was checked and why no entry has a
SHA-256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import HubError
from stylegan.formats.ids import FORMAT_DESCRIPTIONS, FORMAT_MMAGIC, FORMAT_NATIVE, FORMAT_NVLABS, FORMAT_NVLABS_TF

DOMAINS = ("face", "cat", "dog", "horse", "lion", "elephant", "car", "wild", "none")
# A generator built in memory (no file): the registry's own id beside stylegan's format ids.
FORMAT_BUILTIN = "builtin"
# The formats a registered file can have, in `stylegan.formats.ids`' vocabulary (what
# `stylegan.checkpoints.detect_format` reports for the file), plus FORMAT_BUILTIN.
FORMATS = (*FORMAT_DESCRIPTIONS, FORMAT_BUILTIN)

_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
_SELF_DISTILLED = "https://storage.googleapis.com/self-distilled-stylegan/"
# NVlabs/stylegan2 pretrained_networks.py: the https CDN of the TensorFlow release (DragGAN's script has http).
_TF_STYLEGAN2 = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
_OPENXLAB = "https://download.openxlab.org.cn/models/qsun1/DragGAN-StyleGAN2-checkpoint/weight//"


@dataclass(frozen=True, kw_only=True)
class CheckpointInfo:
    """One registered generator (keyword arguments only: each row of the table names its fields).

    Attributes:
        name: the registry key (`--checkpoint NAME`).
        filename: file name inside the checkpoints folder ('' for built-in generators).
        url: download URL, or None (built in / packaged only).
        format: the file's format id, as `stylegan.checkpoints.detect_format` names it:
            'nvlabs-pickle' (PyTorch pickle of stylegan2-ada/stylegan3), 'nvlabs-tf-pickle'
            (original TensorFlow StyleGAN2 pickle), 'mmagic' (mmagic state dict), 'native'
            (this project's `stylegan.save_generator`); or 'builtin' (built in memory, no file).
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
            raise HubError(f"CheckpointInfo.format must be one of {FORMATS}, got {self.format!r}")
        if self.domain not in DOMAINS:
            raise HubError(f"CheckpointInfo.domain must be one of {DOMAINS}, got {self.domain!r}")
        if self.url is None and self.packaged is None and self.format != FORMAT_BUILTIN:
            raise HubError(f"checkpoint {self.name!r} needs a url or a packaged file")
        if self.url is not None and not self.url.startswith(("https://", "file://")):
            raise HubError(
                f"checkpoint {self.name!r}: url must be https:// (or file:// for a local mirror), got {self.url!r}"
            )
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise HubError(f"checkpoint {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")


# Every registered checkpoint, one row each (`hub.registry.REGISTRY` is built from it, by name).
CHECKPOINTS: tuple[CheckpointInfo, ...] = (
    # No entry below has a `sha256`: no official source publishes one (see the module docstring).
    # --- Official NVlabs StyleGAN2 (stylegan2-ada-pytorch format) on NGC -----------------
    CheckpointInfo(
        name="ffhq-256",
        filename="stylegan2-ffhq-256x256.pkl",
        url=_NGC + "stylegan2-ffhq-256x256.pkl",
        format=FORMAT_NVLABS,
        domain="face",
        resolution=256,
        source="NVlabs StyleGAN2 (stylegan3 release), FFHQ",
        description="faces, 256 px",
        size_mb=95,
    ),
    CheckpointInfo(
        name="ffhq-512",
        filename="stylegan2-ffhq-512x512.pkl",
        url=_NGC + "stylegan2-ffhq-512x512.pkl",
        format=FORMAT_NVLABS,
        domain="face",
        resolution=512,
        source="NVlabs StyleGAN2, FFHQ (the face model DragGAN uses)",
        description="faces, 512 px (DragGAN's face model)",
        size_mb=350,
    ),
    CheckpointInfo(
        name="ffhq-1024",
        filename="stylegan2-ffhq-1024x1024.pkl",
        url=_NGC + "stylegan2-ffhq-1024x1024.pkl",
        format=FORMAT_NVLABS,
        domain="face",
        resolution=1024,
        source="NVlabs StyleGAN2, FFHQ",
        description="faces, 1024 px (slow on CPU)",
        size_mb=365,
    ),
    CheckpointInfo(
        name="afhqcat-512",
        filename="stylegan2-afhqcat-512x512.pkl",
        url=_NGC + "stylegan2-afhqcat-512x512.pkl",
        format=FORMAT_NVLABS,
        domain="cat",
        resolution=512,
        source="NVlabs StyleGAN2, AFHQ cat",
        description="cat faces, 512 px",
        size_mb=350,
    ),
    CheckpointInfo(
        name="afhqdog-512",
        filename="stylegan2-afhqdog-512x512.pkl",
        url=_NGC + "stylegan2-afhqdog-512x512.pkl",
        format=FORMAT_NVLABS,
        domain="dog",
        resolution=512,
        source="NVlabs StyleGAN2, AFHQ dog",
        description="dog faces, 512 px",
        size_mb=350,
    ),
    CheckpointInfo(
        name="afhqwild-512",
        filename="stylegan2-afhqwild-512x512.pkl",
        url=_NGC + "stylegan2-afhqwild-512x512.pkl",
        format=FORMAT_NVLABS,
        domain="wild",
        resolution=512,
        source="NVlabs StyleGAN2, AFHQ wild",
        description="wild animal faces, 512 px",
        size_mb=350,
    ),
    # --- DragGAN's download script (XingangPan/DragGAN scripts/download_model.sh) -------------
    CheckpointInfo(
        name="lions-512",
        filename="stylegan2_lions_512_pytorch.pkl",
        url=_SELF_DISTILLED + "lions_512_pytorch.pkl",
        format=FORMAT_NVLABS,
        domain="lion",
        resolution=512,
        source="Self-Distilled StyleGAN (Mokady et al.), internet lions",
        description="lions, 512 px",
    ),
    CheckpointInfo(
        name="dogs-1024",
        filename="stylegan2_dogs_1024_pytorch.pkl",
        url=_SELF_DISTILLED + "dogs_1024_pytorch.pkl",
        format=FORMAT_NVLABS,
        domain="dog",
        resolution=1024,
        source="Self-Distilled StyleGAN, internet dogs",
        description="dogs, 1024 px",
    ),
    CheckpointInfo(
        name="horses-256",
        filename="stylegan2_horses_256_pytorch.pkl",
        url=_SELF_DISTILLED + "horses_256_pytorch.pkl",
        format=FORMAT_NVLABS,
        domain="horse",
        resolution=256,
        source="Self-Distilled StyleGAN, LSUN horses",
        description="horses, 256 px",
    ),
    CheckpointInfo(
        name="elephants-512",
        filename="stylegan2_elephants_512_pytorch.pkl",
        url=_SELF_DISTILLED + "elephants_512_pytorch.pkl",
        format=FORMAT_NVLABS,
        domain="elephant",
        resolution=512,
        source="Self-Distilled StyleGAN, internet elephants",
        description="elephants, 512 px",
    ),
    CheckpointInfo(
        name="car-512",
        filename="stylegan2-car-config-f.pkl",
        url=_TF_STYLEGAN2 + "stylegan2-car-config-f.pkl",
        format=FORMAT_NVLABS_TF,
        domain="car",
        resolution=512,
        source="NVlabs StyleGAN2 config-f (TensorFlow release), LSUN car",
        description="cars, 512x384 content in a 512 canvas",
        content_aspect=4 / 3,
    ),
    CheckpointInfo(
        name="cat-256",
        filename="stylegan2-cat-config-f.pkl",
        url=_TF_STYLEGAN2 + "stylegan2-cat-config-f.pkl",
        format=FORMAT_NVLABS_TF,
        domain="cat",
        resolution=256,
        source="NVlabs StyleGAN2 config-f (TensorFlow release), LSUN cat",
        description="cats, 256 px",
    ),
    # --- mmagic DragGAN state dicts (open-mmlab/mmagic configs/draggan/README.md) -----------
    CheckpointInfo(
        name="mmagic-lions-512",
        filename="stylegan2_lions_512_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-Lions-internet",
        format=FORMAT_MMAGIC,
        domain="lion",
        resolution=512,
        source="mmagic DragGAN (self-distilled StyleGAN), internet lions",
        description="lions, 512 px",
    ),
    CheckpointInfo(
        name="mmagic-elephants-512",
        filename="stylegan2_elephants_512_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-elephants-internet",
        format=FORMAT_MMAGIC,
        domain="elephant",
        resolution=512,
        source="mmagic DragGAN (self-distilled StyleGAN), internet elephants",
        description="elephants, 512 px",
    ),
    CheckpointInfo(
        name="mmagic-afhqcat-512",
        filename="stylegan2_cats_512_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-cat-AFHQ",
        format=FORMAT_MMAGIC,
        domain="cat",
        resolution=512,
        source="mmagic DragGAN (self-distilled StyleGAN), AFHQ cat",
        description="cat faces, 512 px",
    ),
    CheckpointInfo(
        name="mmagic-ffhq-512",
        filename="stylegan2_face_512_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-FFHQ",
        format=FORMAT_MMAGIC,
        domain="face",
        resolution=512,
        source="mmagic DragGAN (self-distilled StyleGAN), FFHQ",
        description="faces, 512 px",
    ),
    CheckpointInfo(
        name="mmagic-horses-256",
        filename="stylegan2_horses_256_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-lsun-horses",
        format=FORMAT_MMAGIC,
        domain="horse",
        resolution=256,
        source="mmagic DragGAN (self-distilled StyleGAN), LSUN horse",
        description="horses, 256 px",
    ),
    CheckpointInfo(
        name="mmagic-dogs-1024",
        filename="stylegan2_dogs_1024_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-dogs-internet",
        format=FORMAT_MMAGIC,
        domain="dog",
        resolution=1024,
        source="mmagic DragGAN (self-distilled StyleGAN), internet dogs",
        description="dogs, 1024 px",
    ),
    CheckpointInfo(
        name="mmagic-car-512",
        filename="stylegan2_car_512_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-car-official",
        format=FORMAT_MMAGIC,
        domain="car",
        resolution=512,
        source="mmagic DragGAN (transfer of the official StyleGAN2), LSUN car",
        description="cars, 512x384 content in a 512 canvas",
        content_aspect=4 / 3,
    ),
    CheckpointInfo(
        name="mmagic-cat-256",
        filename="stylegan2_cat_256_pytorch_mmagic.pth",
        url=_OPENXLAB + "StyleGAN2-cat-official",
        format=FORMAT_MMAGIC,
        domain="cat",
        resolution=256,
        source="mmagic DragGAN (transfer of the official StyleGAN2), LSUN cat",
        description="cats, 256 px",
    ),
    # --- Shipped with the package: no download ------------------------------------------------
    CheckpointInfo(
        name="face-64",
        filename="face64-fp16.pt",
        url=None,
        format=FORMAT_NATIVE,
        domain="face",
        resolution=64,
        source="this project: training.train on UTKFace crops (2-core CPU, 130 kimg)",
        description="faces, 64 px, small demonstration model shipped with the package (default)",
        face_preset="utkface",
        packaged="stylegan/data/face64-fp16.pt",
    ),
    # --- Built in: no file, no download ------------------------------------------------------
    CheckpointInfo(
        name="random-64",
        filename="",
        url=None,
        format=FORMAT_BUILTIN,
        domain="none",
        resolution=64,
        source="this project (seeded random init)",
        description="UNTRAINED 64 px generator built in memory: edits are meaningless; only for "
        "exercising the pipeline offline",
    ),
)


def checkpoints_by_name(rows: tuple[CheckpointInfo, ...] = CHECKPOINTS) -> dict[str, CheckpointInfo]:
    """The rows of a checkpoint table by name, in table order.

    Args:
        rows: the table (default: `CHECKPOINTS`).

    Returns:
        {name: CheckpointInfo}.

    Raises:
        ValueError: two rows share a name, or two downloadable rows share a file name (they
            would overwrite each other in the checkpoints folder).
    """
    by_name: dict[str, CheckpointInfo] = {}
    by_file: dict[str, str] = {}
    for info in rows:
        if info.name in by_name:
            raise HubError(f"checkpoint name {info.name!r} is registered twice; give each row its own name")
        if info.url is not None and info.filename in by_file:
            raise HubError(
                f"checkpoints {by_file[info.filename]!r} and {info.name!r} share the file name {info.filename!r}; "
                "give each downloadable row its own file"
            )
        by_name[info.name] = info
        if info.url is not None:
            by_file[info.filename] = info.name
    return by_name
