"""Known checkpoints: names, download URLs, domains and resolutions; resolving and downloading.

`--checkpoint` takes either a path to a generator file (any format `stylegan.load_generator`
reads) or one of the names in `REGISTRY`. A registered file is looked for, in order, inside
the package (a file shipped with it), in the checkpoints folder, and finally downloaded
there on first use with a progress bar (`download_file`: a temporary file, its SHA-256
checked against the registry, then renamed). Downloads happen only here, in an explicit
step the CLI takes; nothing that computes downloads.

The URLs below were checked against their official sources:
  * NVlabs StyleGAN2 (ADA-PyTorch re-export) pickles on NGC: NVlabs/stylegan3 README,
    "Access individual networks via https://api.ngc.nvidia.com/v2/models/nvidia/research/
    stylegan2/versions/1/files/<MODEL>" (ffhq 256/512/1024, afhqcat/afhqdog/afhqwild 512).
  * DragGAN's own list: XingangPan/DragGAN scripts/download_model.sh / download_models.json
    (self-distilled lions/dogs/horses/elephants, NGC ffhq/afhqcat 512, StyleGAN2 config-f
    car/cat from the original TensorFlow release; the local file names are theirs).
  * The eight mmagic DragGAN state dicts: open-mmlab/mmagic configs/draggan/README.md
    (download.openxlab.org.cn ... /weight//StyleGAN2-*; file names follow the README's
    example `stylegan2_lions_512_pytorch_mmagic.pth`).
  * The TensorFlow config-f pickles: NVlabs/stylegan2 pretrained_networks.py's https CDN
    (DragGAN's script uses the same files over plain http, which is refused here).

SHA-256: none of these sources publishes a hash of its files (checked: the NVlabs stylegan2
and stylegan3 READMEs, NGC's file list, DragGAN's download script and json, mmagic's
DragGAN README and metafile.yml), so no downloadable entry sets `sha256` (None) and its download is
not verified; a hash is never made up here. Put the official value in `sha256` when one is
published, and `download_file` checks it.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path

from common.errors import MissingWeightsError
from common.paths import check_input_file
from common.progress import is_terminal
from hub.errors import HubError, UnknownCheckpointError
from hub.table import DOMAINS, FORMAT_BUILTIN, CheckpointInfo, checkpoints_by_name

__all__ = [
    "CheckpointInfo",
    "ResolvedCheckpoint",
    "UnknownCheckpointError",
    "REGISTRY",
    "DEFAULT_CHECKPOINT",
    "OFFLINE_CHECKPOINT",
    "DOMAINS",
    "default_checkpoints_dir",
    "is_offline",
    "resolve_checkpoint",
    "load_checkpoint",
    "download_file",
    "build_random_generator",
    "domain_warning",
    "describe_registry",
]

# The folder holding the installed packages (stylegan/, align/, ..., pipeline/): packaged
# checkpoints are named relative to it.
PACKAGES_ROOT = Path(__file__).resolve().parents[1]


REGISTRY: dict[str, CheckpointInfo] = checkpoints_by_name()

# The checkpoint `run_pipeline.py` uses without --checkpoint: the project's own 64-px face
# model, shipped inside the package (`packaged`), so the default run never downloads.
# `ffhq-512` (DragGAN's face model) is one flag away.
DEFAULT_CHECKPOINT = "face-64"
# Needs no file and no network.
OFFLINE_CHECKPOINT = "random-64"


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """Where a `--checkpoint` value points.

    Attributes:
        name: registry name, or None for a user path.
        path: the file to load, or None for a built-in generator.
        info: the registry entry, or None for a user path.
        downloaded: whether the file was downloaded by this call.
    """

    name: str | None
    path: Path | None
    info: CheckpointInfo | None
    downloaded: bool = False

    @property
    def label(self) -> str:
        """Registry name or file path, for messages and reports."""
        return self.name if self.name is not None else str(self.path)

    def to_json(self) -> dict:
        """JSON-safe description for report.json."""
        info = self.info
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "format": info.format if info else "auto",
            "domain": info.domain if info else None,
            "resolution": info.resolution if info else None,
            "face_preset": info.face_preset if info else None,
            "source": info.source if info else None,
            "url": info.url if info else None,
            "downloaded": self.downloaded,
        }


def default_checkpoints_dir() -> Path:
    """The checkpoints folder: env DRAGGAN_CHECKPOINTS, else `<repo>/checkpoints` in a source
    checkout, else `~/.cache/draggan-pipeline/checkpoints` (an installed package)."""
    env = os.environ.get("DRAGGAN_CHECKPOINTS")
    if env:
        return Path(env).expanduser()
    repo_dir = Path(__file__).resolve().parents[1] / "checkpoints"
    if repo_dir.is_dir():
        return repo_dir
    return Path.home() / ".cache" / "draggan-pipeline" / "checkpoints"


def is_offline() -> bool:
    """True when env DRAGGAN_OFFLINE is set to a true value (1, true, yes)."""
    return os.environ.get("DRAGGAN_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


class _HashMismatch(MissingWeightsError):
    """A download whose SHA-256 differs from the registered one (its message is complete as it is)."""


def download_file(
    url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True, what: str | None = None
) -> Path:
    """Downloads `url` to `dest`, verified before it is renamed into place: the one download path.

    `torch.hub.download_url_to_file` writes to a temporary file beside `dest`, checks its
    SHA-256 and only then moves it to `dest`; on any failure (network, interrupt, hash
    mismatch) the temporary file is removed and `dest` is left as it was.

    Args:
        url: https:// URL (file:// for a local mirror); plain http is refused.
        dest: final file path; its folder is created.
        sha256: the expected SHA-256 (64 hex digits), or a prefix of at least 8 (torchvision's
            file names carry one); None = not verified.
        progress: show a progress bar on stderr (a terminal), or one line when done (a log file).
        what: a name for messages (default: the file name).

    Returns:
        `dest` as a Path.

    Raises:
        MissingWeightsError: refused URL, network or HTTP error, or a hash mismatch (naming
            the file and both hashes).
    """
    import torch.hub

    dest = Path(dest)
    what = what or dest.name
    if not url.startswith(("https://", "file://")):
        raise MissingWeightsError(f"refusing to download {what} from {url}: only https:// URLs are allowed")
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{8,64}", sha256):
        raise HubError(f"sha256 must be 8 to 64 lowercase hex digits, got {sha256!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    live_bar = is_terminal(sys.stderr)
    try:
        # torch's live bar only on a terminal; in a log file one line when done (`common.progress`).
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=sha256, progress=progress and live_bar)
    except RuntimeError as exc:
        match = re.search(r'expected "([0-9a-f]+)", got "([0-9a-f]+)"', str(exc))
        if match is None:
            raise MissingWeightsError(f"could not download {url} ({exc})") from exc
        raise _HashMismatch(
            f"{what} downloaded from {url} has the wrong SHA-256: expected {match.group(1)}, got "
            f"{match.group(2)}; the partial file was removed; run again, and if it persists the file on the "
            f"server has changed"
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise MissingWeightsError(f"could not download {url} ({reason})") from exc
    if progress and not live_bar:
        print(f"downloaded {what} ({dest.stat().st_size / 1e6:.1f} MB)", file=sys.stderr, flush=True)
    return dest


def _missing_message(info: CheckpointInfo, target: Path, why: str) -> str:
    return (
        f"checkpoint {info.name!r} is not in {target.parent}/ and could not be downloaded ({why}); "
        f"download {info.url} and save it as {target}"
    )


def _is_file(path: Path) -> bool:
    # Path.is_file raises for a name too long or an unreadable parent (Python < 3.14); such a
    # path is then reported by `check_input_file` with the reason in words.
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def resolve_checkpoint(
    name_or_path: str | os.PathLike,
    checkpoints_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
    progress: bool = True,
    log=None,
) -> ResolvedCheckpoint:
    """Turn a `--checkpoint` value into a file (downloading a registered one if needed).

    An existing file path wins over a registry name. A registered name is looked for in
    the package (`packaged`), then in `checkpoints_dir`, then downloaded there.

    Args:
        name_or_path: a path to a generator file or a key of `REGISTRY`.
        checkpoints_dir: where registered files live (None = `default_checkpoints_dir()`).
        allow_download: False = never touch the network (also forced by env DRAGGAN_OFFLINE=1).
        progress: progress bar for downloads.
        log: optional callable(str) for one-line status messages.

    Returns:
        ResolvedCheckpoint.

    Raises:
        UnknownCheckpointError: not a file and not a registered name (bad input).
        MissingWeightsError: registered, absent, and downloading is disabled or failed.
    """
    value = os.fspath(name_or_path)
    path = Path(value).expanduser()
    names = ", ".join(REGISTRY)
    fix = f"check the --checkpoint path or use a registered name ({names})"
    if _is_file(path):
        return ResolvedCheckpoint(
            None, check_input_file(path, "checkpoint file", UnknownCheckpointError, fix).resolve(), None
        )
    info = REGISTRY.get(value)
    if info is None:
        looks_like_path = os.sep in value or "/" in value or path.suffix in (".pkl", ".pt", ".pth", ".ckpt")
        if looks_like_path or os.path.lexists(path):
            check_input_file(path, "checkpoint file", UnknownCheckpointError, fix)  # raises, naming the OS problem
        raise UnknownCheckpointError(f"unknown checkpoint name {value!r}; use a file path or one of: {names}")
    if info.format == FORMAT_BUILTIN:
        return ResolvedCheckpoint(info.name, None, info)
    if info.packaged:
        packaged = PACKAGES_ROOT / info.packaged
        if packaged.is_file():
            return ResolvedCheckpoint(info.name, packaged, info)
    folder = Path(checkpoints_dir).expanduser() if checkpoints_dir is not None else default_checkpoints_dir()
    target = folder / info.filename
    if _is_file(target):
        return ResolvedCheckpoint(info.name, target.resolve(), info)
    if info.url is None:
        raise MissingWeightsError(
            f"checkpoint {info.name!r} should ship with the package but {PACKAGES_ROOT / str(info.packaged)} is "
            "missing; reinstall the package"
        )
    if not allow_download or is_offline():
        raise MissingWeightsError(
            _missing_message(info, target, "downloads are disabled (--offline / DRAGGAN_OFFLINE)")
        )
    if log is not None:
        size = f", ~{info.size_mb} MB" if info.size_mb else ""
        check = "SHA-256 checked" if info.sha256 else "no official SHA-256 published: not verified"
        log(f"downloading checkpoint {info.name} ({info.source}{size}; {check}) to {target}")
    try:
        download_file(info.url, target, sha256=info.sha256, progress=progress, what=info.filename)
    except _HashMismatch:
        raise
    except MissingWeightsError as exc:
        raise MissingWeightsError(_missing_message(info, target, str(exc.__cause__ or exc))) from exc
    return ResolvedCheckpoint(info.name, target.resolve(), info, downloaded=True)


def build_random_generator(resolution: int = 64, seed: int = 0, device: str = "cpu"):
    """A seeded, UNTRAINED StyleGAN2 generator built in memory (the `random-64` checkpoint).

    Its images are noise-like and its edits meaningless; it exists so that the whole
    pipeline can be run and tested offline without any weights. The architecture is
    `random-64`'s (z_dim = w_dim = 64, channel_max 64, 2 mapping layers); the weights come
    from `stylegan.random.random_generator`, which leaves the global RNG alone.

    Args:
        resolution: img_resolution (power of two >= 8).
        seed: torch seed of the initialisation and the const noise.
        device: torch device string.

    Returns:
        Generator in eval mode, requires_grad False, w_avg set to the mean mapped w.
    """
    from stylegan.random import random_generator

    return random_generator(
        resolution,
        seed,
        w_avg_samples=1000,
        device=device,
        z_dim=64,
        c_dim=0,
        w_dim=64,
        channel_base=64 * 32,
        channel_max=64,
        mapping_layers=2,
    )


def load_checkpoint(resolved: ResolvedCheckpoint, device: str = "cpu"):
    """Load the generator a `ResolvedCheckpoint` points to.

    Args:
        resolved: from `resolve_checkpoint`.
        device: torch device string.

    Returns:
        Generator (eval mode, requires_grad False) on `device`.

    Raises:
        CheckpointError: the file is not a generator checkpoint `stylegan.load_generator` reads.
    """
    if resolved.path is None:
        info = resolved.info
        assert info is not None and info.format == FORMAT_BUILTIN
        return build_random_generator(info.resolution, seed=0, device=device)
    from stylegan import load_generator

    G = load_generator(resolved.path, device=device)
    G.eval().requires_grad_(False)
    return G


def domain_warning(info: CheckpointInfo | None, align_mode: str) -> str | None:
    """A warning when the alignment does not suit the model's domain, else None."""
    if info is None or info.domain == "none":
        return None
    if align_mode == "face" and info.domain != "face":
        return (
            f"aligning a human face for the {info.domain} model {info.name!r}; the crop will not look like "
            f"its training data (use --align box or --align center, or a face model such as {DEFAULT_CHECKPOINT})"
        )
    return None


def describe_registry() -> str:
    """A table of the registered checkpoints for `--list-checkpoints`."""
    lines = [f"{'name':<22}{'domain':<10}{'res':>5}  {'file':<44}description"]
    for info in REGISTRY.values():
        lines.append(
            f"{info.name:<22}{info.domain:<10}{info.resolution:>5}  {info.filename or '(built in)':<44}"
            f"{info.description}"
        )
    return "\n".join(lines)
