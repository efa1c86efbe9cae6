"""Loading and saving generator checkpoints, whatever their origin.

    from stylegan import load_generator, save_generator
    G = load_generator("checkpoints/stylegan2-ffhq-512x512.pkl", device="cuda")
    save_generator(G, "ffhq512.pt", half=True)

The format is detected from the file's *content*, never from its name:

======================  =====================================================
format id               what it is
======================  =====================================================
``native``              what `save_generator` writes: a `torch.save` zip of
                        {'format': 'draggan-pipeline.stylegan2', 'version': 1,
                        'config': G.init_kwargs, 'state_dict': ...,
                        optional 'metadata': G.metadata}; loadable
                        with `torch.load(weights_only=True)`.
``nvlabs-pickle``       NVlabs network pickles (stylegan2-ada-pytorch,
                        stylegan3's StyleGAN2, the DragGAN download script):
                        `G_ema` is rebuilt by `stylegan._safe_pickle`, which
                        executes nothing from the file.
``nvlabs-tf-pickle``    legacy TensorFlow StyleGAN2 pickles ((G, D, Gs)
                        tuples, e.g. stylegan2-car-config-f.pkl); `Gs` is
                        converted with the variable map of NVlabs' legacy.py.
``nvlabs-state-dict``   a bare `G.state_dict()` of an NVlabs generator, saved
                        with `torch.save` (conv_clamp is not recorded there and
                        is taken as None).
``mmagic``              mmagic StyleGANv2Generator state dicts, including the
                        eight DragGAN checkpoints of the mmagic model table
                        (`generator_ema.module.*` is used).
``rosinality``          rosinality stylegan2-pytorch checkpoints
                        ({'g_ema': state_dict, 'latent_avg': ...}).
======================  =====================================================

Every foreign format is converted to NVlabs parameter names first (see
`stylegan._keymaps`); `infer_config` then derives the architecture from the
tensors' shapes (resolution, channels, mapping depth, z/c/w dims), using what
the file records only for what shapes cannot tell (conv_clamp, num_fp16_res,
mapping lr multiplier, w_avg_beta). One strict validation names the first
missing, unexpected or mis-shaped tensor.

What some formats lack, and how it is filled in (deterministically):
  * mmagic files carry no usable const noise: each layer's `noise_const` is
    `torch.randn(1, 1, R, R)` right after seeding a CPU generator with 1024,
    which is the noise mmagic's `fixed_noise=True` (its DragGAN configs)
    injects for a batch of one. mmagic's randomly initialised
    `injected_noise_{k}` buffers are ignored.
  * rosinality files without `latent_avg` and mmagic files without `w_avg`:
    `mapping.w_avg` is the mean of 4096 mapped z (seed 0), as mmagic's and
    rosinality's own `mean_latent` do.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import pickle
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylegan import _keymaps as km
from stylegan._safe_pickle import PersistentRecord, TFNetworkRecord, UnsafePickleError, safe_load
from stylegan.errors import CheckpointError, DeviceError
from stylegan.networks import Generator

NATIVE_FORMAT = "draggan-pipeline.stylegan2"
NATIVE_VERSION = 1

FORMAT_NATIVE = "native"
FORMAT_NVLABS = "nvlabs-pickle"
FORMAT_NVLABS_TF = "nvlabs-tf-pickle"
FORMAT_NVLABS_STATE_DICT = "nvlabs-state-dict"
FORMAT_MMAGIC = "mmagic"
FORMAT_ROSINALITY = "rosinality"

FORMAT_DESCRIPTIONS = {
    FORMAT_NATIVE: "native draggan-pipeline checkpoint",
    FORMAT_NVLABS: "NVlabs network pickle",
    FORMAT_NVLABS_TF: "NVlabs TensorFlow pickle",
    FORMAT_NVLABS_STATE_DICT: "NVlabs generator state dict",
    FORMAT_MMAGIC: "mmagic StyleGANv2 checkpoint",
    FORMAT_ROSINALITY: "rosinality stylegan2-pytorch checkpoint",
}

# Noise seed of mmagic's NoiseInjection(fixed_noise=True) (stylegan1_modules.py).
MMAGIC_NOISE_SEED = 1024
# Samples and seed for w_avg when a file has none (mmagic/rosinality `mean_latent` use 4096).
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0

_ZIP_MAGIC = b"PK\x03\x04"
# First object of a legacy (non-zip) torch.save file (torch/serialization.py MAGIC_NUMBER).
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_FIX = "re-download the file or re-export it with stylegan.save_generator"


class _Problem(Exception):
    """Internal: what is wrong with a checkpoint, before the path is known."""

    def __init__(self, problem: str, key: str | None = None, fix: str = _FIX):
        super().__init__(problem)
        self.problem, self.key, self.fix = problem, key, fix


@dataclass
class _Parsed:
    """A checkpoint converted to NVlabs names, ready for validation."""
    fmt: str
    state_dict: dict[str, torch.Tensor]
    hints: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None      # native only: the stored Generator kwargs
    origin: dict[str, str] = field(default_factory=dict)  # NVlabs key -> key in the file
    fill_w_avg: bool = False                  # compute mapping.w_avg from mapped samples
    fill_noise_seed: int | None = None        # create noise_const buffers with this seed
    fill_resample_filters: bool = False       # the format does not store NVlabs' resample_filter buffers
    metadata: dict[str, Any] = field(default_factory=dict)  # native only: becomes G.metadata


# ----------------------------------------------------------------------------- public API

def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turns a device name into an available `torch.device`.

    Args:
        device: 'auto' (or None) -> cuda if available, else mps if available,
            else cpu; or 'cpu', 'cuda', 'cuda:N', 'mps', or a torch.device.

    Raises:
        DeviceError: unknown name, or the device is not available on this machine.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} requested but CUDA is not available here; use 'cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s); use 'cuda:0' or 'auto'")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"device {device!r} requested but MPS is not available here; use 'cpu' or 'auto'")
    return dev


def load_generator(path: str | os.PathLike, device: str | torch.device | None = "cpu", *,
                   map_location: str | torch.device | None = None) -> Generator:
    """Loads a StyleGAN2 generator from any supported checkpoint (see module docstring).

    Nothing from the file is executed: NVlabs pickles go through a restricted
    unpickler and every torch.save file through `torch.load(weights_only=True)`.

    Args:
        path: checkpoint file; its name and extension are ignored.
        device: where to put the generator ('cpu', 'cuda', 'mps', 'auto', ...).
        map_location: alias of `device` (wins when given), as in `torch.load`.

    Returns:
        Generator in eval mode with requires_grad False, float32 parameters;
        `G.metadata` holds what a native file records (e.g. 'face_preset'), else {}.

    Raises:
        CheckpointError: the file is missing, unreadable, unsafe, truncated, of
            an unknown format, an unsupported architecture (e.g. StyleGAN3), or
            has missing / unexpected / mis-shaped tensors. The one-line message
            names the file, the format tried and the first offending key.
    """
    path = Path(path)
    target = resolve_device(map_location if map_location is not None else device)
    try:
        G = _build(_parse(_read(path)))
    except (_Problem, _FormatProblem) as exc:
        raise _checkpoint_error(path, exc) from None
    return G.to(target).eval().requires_grad_(False)


def save_generator(G: Generator, path: str | os.PathLike, half: bool = False,
                   metadata: dict[str, Any] | None = None) -> Path:
    """Writes G in the native format (readable with `torch.load(weights_only=True)`).

    The file is written to a temporary name in the same folder and renamed,
    so an interrupted save never leaves a truncated checkpoint behind.

    Args:
        G: the generator (any device; it is not modified).
        path: destination file.
        half: store floating-point tensors as float16 (about half the size;
            `load_generator` returns float32 again, with fp16 rounding).
        metadata: plain str/int/float/bool values stored beside the weights, e.g.
            {'face_preset': 'utkface'}; None = `G.metadata`.

    Returns:
        The path written.
    """
    return atomic_save(generator_to_dict(G, half=half, metadata=metadata), path)


def generator_to_dict(G: Generator, half: bool = False, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The native-format payload of G: format tag, config and CPU state dict.

    It holds only plain types and tensors, so it can be embedded in other
    `torch.save` files (inversion results, edit latents) and read back with
    `torch.load(weights_only=True)` and `generator_from_dict`.

    Args:
        G: the generator (not modified).
        half: store floating-point tensors as float16.
        metadata: plain values stored under 'metadata'; None = `G.metadata`.
    """
    if not isinstance(G, Generator):
        raise TypeError(f"expected a stylegan.Generator, got {type(G).__name__}")
    dtype = torch.float16 if half else torch.float32
    state_dict = {}
    for key, value in G.state_dict().items():
        value = value.detach().to("cpu")
        state_dict[key] = (value.to(dtype) if value.is_floating_point() else value).clone()
    metadata = dict(getattr(G, "metadata", {}) if metadata is None else metadata)
    problem = _metadata_problem(metadata)
    if problem:
        raise ValueError(f"generator metadata {problem}; use str, int, float or bool values")
    payload = {"format": NATIVE_FORMAT, "version": NATIVE_VERSION, "config": _plain_config(G.init_kwargs),
               "dtype": "float16" if half else "float32", "state_dict": state_dict}
    if metadata:
        payload["metadata"] = metadata
    return payload


def _metadata_problem(metadata: Any) -> str | None:
    """Why `metadata` cannot be stored in (or was not read from) a native file, or None."""
    if not isinstance(metadata, dict):
        return f"must be a dict, got {type(metadata).__name__}"
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
            return f"entry {key!r}: {type(value).__name__} is not a plain value"
    return None


def generator_from_dict(payload: dict[str, Any], device: str | torch.device | None = "cpu",
                        source: str = "<embedded generator>") -> Generator:
    """Rebuilds a generator from `generator_to_dict`'s payload (strict, validated).

    Args:
        payload: the dict written by `generator_to_dict`.
        device: where to put the generator.
        source: what to call the payload in error messages (e.g. the file it came from).

    Returns:
        Generator in eval mode with requires_grad False, float32 parameters.

    Raises:
        CheckpointError: the payload is not a valid native generator.
    """
    target = resolve_device(device)
    try:
        if not isinstance(payload, dict) or payload.get("format") != NATIVE_FORMAT:
            raise _FormatProblem(FORMAT_NATIVE, _Problem("not a native generator payload"))
        G = _build(_parse_native(payload))
    except (_Problem, _FormatProblem) as exc:
        raise _checkpoint_error(Path(source), exc) from None
    return G.to(target).eval().requires_grad_(False)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save` to a temporary file in the destination folder, then rename.

    An interrupted or failed save never leaves a truncated file at `path`.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def detect_format(path: str | os.PathLike) -> str:
    """Format id of a checkpoint (one of `FORMAT_DESCRIPTIONS`), from its content.

    Raises:
        CheckpointError: unreadable, unsafe or unrecognised file.
    """
    path = Path(path)
    try:
        return _parse(_read(path)).fmt
    except (_Problem, _FormatProblem) as exc:
        raise _checkpoint_error(path, exc) from None


def infer_config(state_dict: dict[str, torch.Tensor], hints: dict[str, Any] | None = None) -> dict[str, Any]:
    """Generator kwargs from an NVlabs-named state dict's shapes.

    Args:
        state_dict: NVlabs-named tensors (`mapping.fc0.weight`, `synthesis.b4.const`, ...).
        hints: what shapes cannot tell, all optional: conv_clamp, num_fp16_res,
            mapping_lr_multiplier, w_avg_beta, channel_base, channel_max.

    Returns:
        kwargs for `Generator(**kwargs)`.

    Raises:
        CheckpointError: a tensor needed for the inference is missing or the
            shapes do not describe a StyleGAN2 skip generator.
    """
    try:
        return _infer_config(state_dict, hints or {})
    except _Problem as exc:
        key = f" (first offending key: '{exc.key}')" if exc.key else ""
        raise CheckpointError(f"cannot infer the generator configuration: {exc.problem}{key}; {exc.fix}") from None


def export_mmagic_state_dict(G: Generator, prefix: str = "generator_ema.module.") -> dict[str, torch.Tensor]:
    """G's weights as an mmagic StyleGANv2Generator state dict (the inverse of the mmagic loader).

    The const noise is not exported (mmagic has no place for it).

    Args:
        G: an unconditional generator with the standard StyleGAN2 layout.
        prefix: prepended to every key ('generator_ema.module.' as in the DragGAN files).
    """
    if G.c_dim:
        raise ValueError("mmagic export supports unconditional generators only (c_dim == 0)")
    sd = G.state_dict()
    rules = km.mmagic_rules(G.init_kwargs["mapping_layers"], G.img_resolution)
    return {prefix + r.foreign: km.from_nvlabs_tensor(sd[r.nvlabs].detach().cpu(), r.kind).clone() for r in rules}


def export_rosinality_checkpoint(G: Generator) -> dict[str, Any]:
    """G's weights as a rosinality checkpoint {'g_ema': state_dict, 'latent_avg': (w_dim,)}."""
    if G.c_dim:
        raise ValueError("rosinality export supports unconditional generators only (c_dim == 0)")
    sd = G.state_dict()
    rules = km.rosinality_rules(G.init_kwargs["mapping_layers"], G.img_resolution)
    g_ema = {r.foreign: km.from_nvlabs_tensor(sd[r.nvlabs].detach().cpu(), r.kind).clone() for r in rules}
    return {"g_ema": g_ema, "latent_avg": sd["mapping.w_avg"].detach().cpu().clone()}


# ----------------------------------------------------------------------------- reading

class _FormatProblem(Exception):
    """Internal: a _Problem once the format is known."""

    def __init__(self, fmt: str, problem: _Problem):
        super().__init__(problem.problem)
        self.fmt, self.problem, self.key, self.fix = fmt, problem.problem, problem.key, problem.fix


def _checkpoint_error(path: Path, exc: _Problem | _FormatProblem) -> CheckpointError:
    """The one-line public error: file, format tried, problem, first offending key, fix."""
    what = FORMAT_DESCRIPTIONS[exc.fmt] if isinstance(exc, _FormatProblem) else "checkpoint"
    key = f" (first offending key: '{exc.key}')" if exc.key else ""
    return CheckpointError(f"cannot load {str(path)!r} as {what}: {exc.problem}{key}; {exc.fix}")


def _read(path: Path) -> Any:
    """Loads the file's top-level object without executing anything from it."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise _Problem("file not found", fix="check the path") from None
    except OSError as exc:
        raise _Problem(f"cannot read the file ({exc.strerror})", fix="check the path and permissions") from None
    if not head:
        raise _Problem("the file is empty")
    if head.startswith(_ZIP_MAGIC):
        return _torch_load(path)
    try:
        with open(path, "rb") as f:
            obj = safe_load(f)
    except UnsafePickleError as exc:
        raise _Problem(f"the pickle references the global '{exc.global_name}', which is not an allowed "
                       "tensor/container type, so nothing was loaded or executed",
                       fix="only load checkpoints from trusted sources; this one is not a plain StyleGAN2 pickle") \
            from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, OverflowError, MemoryError, UnicodeDecodeError) as exc:
        if head[:1] == b"\x80":
            raise _Problem(f"the pickle is truncated or corrupt ({type(exc).__name__}: {_first_line(exc)})") \
                from None
        raise _Problem("not a recognised checkpoint (neither a torch.save archive nor a pickle)",
                       fix="pass an NVlabs .pkl, an mmagic/rosinality .pth/.pt or a native checkpoint") from None
    if isinstance(obj, int) and obj == _TORCH_LEGACY_MAGIC:
        return _torch_load(path)  # legacy (pre-1.6) torch.save file
    return obj


def _torch_load(path: Path) -> Any:
    """torch.load with weights_only=True (argparse.Namespace also allowed: rosinality saves its args)."""
    try:
        safe_globals = getattr(torch.serialization, "safe_globals", None)
        if safe_globals is not None:
            with safe_globals([argparse.Namespace]):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        match = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", message)
        if match:
            raise _Problem(f"the file references the global '{match.group(1)}', which weights-only loading "
                           "refuses, so nothing was loaded or executed",
                           fix="only load checkpoints from trusted sources; save just the state dict") from None
        if "Weights only load failed" in message:
            raise _Problem("the file holds objects that weights-only loading refuses, so nothing was loaded or "
                           "executed", fix="only load checkpoints from trusted sources; save just the state dict") \
                from None
        raise _Problem(f"the torch.save archive is corrupt ({_first_line(exc)})") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError,
            AttributeError, IndexError) as exc:
        raise _Problem(f"the torch.save archive is truncated or corrupt ({type(exc).__name__}: "
                       f"{_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# ----------------------------------------------------------------------------- format classification

def _parse(obj: Any) -> _Parsed:
    """Recognises the loaded object's format and converts it to NVlabs names."""
    fmt = _classify(obj)
    try:
        if fmt == FORMAT_NATIVE:
            return _parse_native(obj)
        if fmt == FORMAT_NVLABS:
            return _parse_nvlabs(obj)
        if fmt == FORMAT_NVLABS_TF:
            return _parse_tf(obj)
        if fmt == FORMAT_MMAGIC:
            return _parse_mmagic(obj)
        if fmt == FORMAT_ROSINALITY:
            return _parse_rosinality(obj)
        if fmt == FORMAT_NVLABS_STATE_DICT:
            return _parse_nvlabs_state_dict(obj)
    except _Problem as exc:
        raise _FormatProblem(fmt, exc) from None
    raise AssertionError(fmt)


def _unwrap_state_dict(obj: Any) -> Any:
    """Follows {'state_dict': ...} wrappers (mmengine checkpoints, ad-hoc exports)."""
    while isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    return obj


def _classify(obj: Any) -> str:
    if isinstance(obj, PersistentRecord):
        return FORMAT_NVLABS
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(x, TFNetworkRecord) for x in obj):
        return FORMAT_NVLABS_TF
    if isinstance(obj, dict):
        if obj.get("format") == NATIVE_FORMAT:
            return FORMAT_NATIVE
        if "G_ema" in obj and isinstance(obj["G_ema"], PersistentRecord):
            return FORMAT_NVLABS
        if "g_ema" in obj and isinstance(obj["g_ema"], dict):
            return FORMAT_ROSINALITY
        sd = _unwrap_state_dict(obj)
        if isinstance(sd, dict):
            keys = [k for k in sd if isinstance(k, str)]
            if any(k == "constant_input.input" or k.endswith(".constant_input.input") for k in keys):
                return FORMAT_MMAGIC
            if "input.input" in keys and any(k.startswith("style.") for k in keys):
                return FORMAT_ROSINALITY
            if any(re.fullmatch(r"(.*\.)?synthesis\.b4\.const", k) for k in keys):
                return FORMAT_NVLABS_STATE_DICT
    found = type(obj).__name__
    if isinstance(obj, dict):
        keys = ", ".join(repr(k) for k in list(obj)[:5])
        found += f" with keys {keys}" + (", ..." if len(obj) > 5 else "")
    raise _Problem(f"not a recognised StyleGAN2 checkpoint (found a {found})",
                   fix="pass an NVlabs .pkl, an mmagic/rosinality .pth/.pt or a native checkpoint")


def _tensor_dict(d: Any, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(d, dict):
        raise _Problem(f"{what} is a {type(d).__name__}, not a dict of tensors")
    out = {}
    for k, v in d.items():
        if not isinstance(k, str):
            raise _Problem(f"{what} has a non-string key {k!r}")
        if not isinstance(v, torch.Tensor):
            raise _Problem(f"{what} holds a {type(v).__name__} instead of a tensor", key=k)
        out[k] = v
    return out


def _strip_prefix(sd: dict[str, torch.Tensor], marker_suffix: str, preferred: tuple[str, ...]) -> dict:
    """Selects one generator out of a multi-model state dict by key prefix.

    Prefers the prefixes in `preferred` order (EMA copies first); otherwise the
    prefix of the first key ending with `marker_suffix`.
    """
    prefixes = []
    for k in sd:
        if k == marker_suffix:
            prefixes.append("")
        elif k.endswith("." + marker_suffix):
            prefixes.append(k[: -len(marker_suffix)])
    if not prefixes:
        raise _Problem("no generator found", key=marker_suffix)
    chosen = next((p for p in preferred if p in prefixes), prefixes[0])
    return {k[len(chosen):]: v for k, v in sd.items() if k.startswith(chosen)}


def _apply_rules(sd: dict[str, torch.Tensor], rules: list[km.KeyRule], ignored: re.Pattern,
                 optional: set[str] = frozenset()) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Maps foreign keys to NVlabs names; the first missing / unexpected / mis-shaped key is an error."""
    out, origin = {}, {}
    for rule in rules:
        if rule.foreign not in sd:
            if rule.foreign in optional:
                continue
            raise _Problem("missing tensor", key=rule.foreign)
        try:
            out[rule.nvlabs] = km.to_nvlabs_tensor(sd[rule.foreign], rule.kind, rule.foreign)
        except km.KeyMapError as exc:
            raise _Problem(f"mis-shaped tensor ({exc.problem})", key=exc.key) from None
        origin[rule.nvlabs] = rule.foreign
    known = {r.foreign for r in rules}
    for k in sd:
        if k not in known and not ignored.fullmatch(k):
            raise _Problem("unexpected tensor (not part of a StyleGAN2 skip generator)", key=k)
    return out, origin


# ----------------------------------------------------------------------------- native

def _parse_native(obj: dict) -> _Parsed:
    version = obj.get("version")
    if version != NATIVE_VERSION:
        raise _Problem(f"native format version {version!r} is not supported (this code reads version "
                       f"{NATIVE_VERSION})", fix="upgrade the draggan-pipeline package")
    config = obj.get("config")
    if not isinstance(config, dict):
        raise _Problem("the 'config' entry is missing")
    allowed = set(inspect.signature(Generator.__init__).parameters) - {"self"}
    for key in config:
        if key not in allowed:
            raise _Problem(f"unknown generator config entry {key!r}", fix="upgrade the draggan-pipeline package")
    metadata = obj.get("metadata", {})
    problem = _metadata_problem(metadata)
    if problem:
        raise _Problem(f"the 'metadata' entry {problem}")
    return _Parsed(FORMAT_NATIVE, _tensor_dict(obj.get("state_dict"), "'state_dict'"), config=dict(config),
                   metadata=dict(metadata))


def _plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """Checks G.init_kwargs holds only JSON-like values (so weights_only loading accepts it)."""
    def plain(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (np.integer, np.floating)):
            return v.item()
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        raise TypeError(f"generator config value {v!r} is not a plain number/string/list/dict")
    return {str(k): plain(v) for k, v in config.items()}


# ----------------------------------------------------------------------------- NVlabs pickles

def _iter_records(rec: PersistentRecord, prefix: str = ""):
    yield prefix, rec
    modules = rec.state.get("_modules") or {}
    for name, child in modules.items():
        if isinstance(child, PersistentRecord):
            yield from _iter_records(child, f"{prefix}{name}.")


def _record_state_dict(rec: PersistentRecord, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Collects parameters and persistent buffers as `Module.state_dict()` would."""
    state = rec.state
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        entries = state.get(group) or {}
        if not isinstance(entries, dict):
            raise _Problem(f"the record of {prefix or 'the generator'} has a malformed {group}")
        for name, value in entries.items():
            if value is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(value, torch.Tensor):
                raise _Problem(f"holds a {type(value).__name__} instead of a tensor", key=prefix + name)
            out[prefix + name] = value
    modules = state.get("_modules") or {}
    for name, child in modules.items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise _Problem(f"sub-module of type {type(child).__name__} is not a persistent network record",
                           key=prefix + name)
        _record_state_dict(child, f"{prefix}{name}.", out)


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    return None


def _parse_nvlabs(obj: Any) -> _Parsed:
    rec = obj["G_ema"] if isinstance(obj, dict) else obj
    if rec.class_name != "Generator":
        raise _Problem(f"the network is a {rec.class_name!r}, not a Generator")
    records = dict(_iter_records(rec))
    if any(r.class_name == "SynthesisInput" for r in records.values()) or "synthesis.input." in records:
        raise _Problem("StyleGAN3 (alias-free) generators are not supported",
                       fix="use a StyleGAN2 checkpoint (e.g. stylegan2-*.pkl)")
    sd: dict[str, torch.Tensor] = {}
    _record_state_dict(rec, "", sd)
    if any(k.startswith("synthesis.input.") for k in sd):
        raise _Problem("StyleGAN3 (alias-free) generators are not supported",
                       fix="use a StyleGAN2 checkpoint (e.g. stylegan2-*.pkl)")

    # What shapes cannot tell: the effective attributes recorded in each module's
    # state first, then the constructor kwargs (stylegan2-ada nests them in
    # synthesis_kwargs / mapping_kwargs, stylegan3's networks_stylegan2 flattens
    # the synthesis ones), then NVlabs defaults.
    kwargs = rec.init_kwargs
    synthesis_kwargs = dict(kwargs.get("synthesis_kwargs") or {})
    for key in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "activation"):
        if key in kwargs and key not in synthesis_kwargs:
            synthesis_kwargs[key] = kwargs[key]
    mapping_kwargs = dict(kwargs.get("mapping_kwargs") or {})

    def state_of(name: str) -> dict:
        r = records.get(name)
        return r.state if r is not None else {}

    hints: dict[str, Any] = {}
    architecture = state_of("synthesis.b4.").get("architecture", synthesis_kwargs.get("architecture", "skip"))
    if architecture != "skip":
        raise _Problem(f"synthesis architecture {architecture!r} is not supported (only 'skip', as in config-f)",
                       fix="use a config-f / stylegan2 'skip' generator")
    for layer_name, default in (("synthesis.b4.conv1.", synthesis_kwargs.get("activation", "lrelu")),
                                ("mapping.fc0.", mapping_kwargs.get("activation", "lrelu"))):
        activation = state_of(layer_name).get("activation", default)
        if activation != "lrelu":
            raise _Problem(f"activation {activation!r} is not supported (only 'lrelu')",
                           key=layer_name.rstrip("."))
    clamp_state = state_of("synthesis.b4.conv1.")
    hints["conv_clamp"] = _as_float(clamp_state["conv_clamp"] if "conv_clamp" in clamp_state
                                    else synthesis_kwargs.get("conv_clamp"))
    fp16_flags = [r.state.get("use_fp16") for name, r in records.items()
                  if re.fullmatch(r"synthesis\.b\d+\.", name)]
    if fp16_flags and all(isinstance(f, bool) for f in fp16_flags):
        hints["num_fp16_res"] = sum(fp16_flags)
    elif "num_fp16_res" in synthesis_kwargs:
        hints["num_fp16_res"] = int(synthesis_kwargs["num_fp16_res"])
    lr = _as_float(state_of("mapping.fc0.").get("bias_gain"))
    hints["mapping_lr_multiplier"] = lr if lr is not None else _as_float(mapping_kwargs.get("lr_multiplier"))
    mapping_state = state_of("mapping.")
    hints["w_avg_beta"] = _as_float(mapping_state["w_avg_beta"] if "w_avg_beta" in mapping_state
                                    else mapping_kwargs.get("w_avg_beta"))
    for key in ("channel_base", "channel_max"):
        if isinstance(synthesis_kwargs.get(key), int):
            hints[key] = synthesis_kwargs[key]
    hints = {k: v for k, v in hints.items() if v is not None or k == "conv_clamp"}
    return _Parsed(FORMAT_NVLABS, sd, hints, fill_w_avg="mapping.w_avg" not in sd)


def _parse_tf(obj: tuple) -> _Parsed:
    gs = obj[2]  # (G, D, Gs): Gs is the moving average used for inference

    def collect(net: TFNetworkRecord, prefix: str, out: dict) -> None:
        variables = net.state.get("variables") or []
        for item in variables:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise _Problem("malformed TensorFlow variable list")
            name, value = item
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
                raise _Problem("TensorFlow variable is not a numeric array", key=prefix + name)
            out[prefix + name] = value
        for name, comp in (net.state.get("components") or {}).items():
            if not isinstance(comp, TFNetworkRecord):
                raise _Problem("malformed TensorFlow component", key=prefix + str(name))
            collect(comp, f"{prefix}{name}/", out)

    tf_params: dict[str, np.ndarray] = {}
    collect(gs, "", tf_params)
    kw = gs.state.get("static_kwargs") or {}
    if any(re.fullmatch(r"synthesis/ToRGB_lod\d+/.*", k) for k in tf_params):
        raise _Problem("synthesis architecture 'orig' is not supported (only 'skip', as in config-f)",
                       fix="use a config-f / stylegan2 'skip' generator")
    for key, supported in (("architecture", "skip"), ("nonlinearity", "lrelu"), ("mapping_nonlinearity", "lrelu")):
        if kw.get(key, supported) != supported:
            raise _Problem(f"{key} {kw[key]!r} is not supported (only {supported!r})")
    num_mapping = km._count_indices(tf_params, r"mapping/Dense(\d+)/weight")
    resolutions = [int(m.group(1)) for k in tf_params if (m := re.fullmatch(r"synthesis/(\d+)x\1/ToRGB/weight", k))]
    if not resolutions:
        raise _Problem("missing TensorFlow variable", key="synthesis/4x4/ToRGB/weight")
    conditional = "mapping/LabelEmbed/weight" in tf_params
    try:
        sd = km.tf_generator_to_nvlabs(tf_params, max(resolutions), num_mapping, conditional)
    except km.KeyMapError as exc:
        raise _Problem(exc.problem, key=exc.key) from None
    hints: dict[str, Any] = {
        "conv_clamp": _as_float(kw.get("conv_clamp")),
        "num_fp16_res": int(kw.get("num_fp16_res") or 0),
        "mapping_lr_multiplier": _as_float(kw.get("mapping_lrmul", 0.01)),
        "w_avg_beta": _as_float(kw.get("w_avg_beta", 0.995)) or 0.995,
    }
    if isinstance(kw.get("fmap_base"), int):
        hints["channel_base"] = kw["fmap_base"] * 2  # legacy.py: channel_base = fmap_base * 2
    if isinstance(kw.get("fmap_max"), int):
        hints["channel_max"] = kw["fmap_max"]
    # The NVlabs resample_filter buffers are not TF variables: rebuilt by _build.
    return _Parsed(FORMAT_NVLABS_TF, sd, hints, fill_resample_filters=True)


def _parse_nvlabs_state_dict(obj: Any) -> _Parsed:
    sd = _unwrap_state_dict(obj)
    sd = _strip_prefix(_tensor_dict(sd, "the state dict"), "synthesis.b4.const",
                       ("G_ema.", "g_ema.", "generator_ema.", ""))
    # conv_clamp is not part of a state dict; NVlabs' stylegan2 default is None.
    return _Parsed(FORMAT_NVLABS_STATE_DICT, sd, {}, fill_w_avg="mapping.w_avg" not in sd)


# ----------------------------------------------------------------------------- mmagic / rosinality

def _parse_mmagic(obj: Any) -> _Parsed:
    sd = _tensor_dict_loose(_unwrap_state_dict(obj))
    sd = _strip_prefix(sd, "constant_input.input",
                       ("generator_ema.module.", "generator_ema.", "module.", "", "generator."))
    if any(k.startswith("embed.") for k in sd):
        raise _Problem("class-conditional mmagic generators are not supported", key="embed.linear.weight_orig")
    num_mapping, img_resolution = km.mmagic_structure(sd)
    if num_mapping == 0:
        raise _Problem("missing tensor", key="style_mapping.1.linear.weight_orig")
    has_w_avg = "w_avg" in sd
    nv, origin = _apply_rules(sd, km.mmagic_rules(num_mapping, img_resolution, with_w_avg=has_w_avg),
                              km.MMAGIC_IGNORED)
    # mmagic computes its modulation/mapping like NVlabs, without clamping in fp32.
    hints = {"conv_clamp": None, "mapping_lr_multiplier": 0.01, "w_avg_beta": 0.998}
    return _Parsed(FORMAT_MMAGIC, nv, hints, origin=origin, fill_w_avg=not has_w_avg,
                   fill_noise_seed=MMAGIC_NOISE_SEED, fill_resample_filters=True)


def _tensor_dict_loose(sd: Any) -> dict[str, torch.Tensor]:
    """Keeps the tensor entries of a multi-model state dict (mmagic files also hold e.g. EMA step counters)."""
    if not isinstance(sd, dict):
        raise _Problem(f"expected a state dict, found a {type(sd).__name__}")
    return {k: v for k, v in sd.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _parse_rosinality(obj: dict) -> _Parsed:
    latent_avg = None
    if "g_ema" in obj and isinstance(obj["g_ema"], dict):
        sd, latent_avg = obj["g_ema"], obj.get("latent_avg")
    else:
        sd = _unwrap_state_dict(obj)
        latent_avg = sd.get("latent_avg") if isinstance(sd, dict) else None
        sd = {k: v for k, v in sd.items() if k != "latent_avg"}
    sd = _tensor_dict(sd, "'g_ema'")
    num_mapping, img_resolution = km.rosinality_structure(sd)
    if num_mapping == 0:
        raise _Problem("missing tensor", key="style.1.weight")
    nv, origin = _apply_rules(sd, km.rosinality_rules(num_mapping, img_resolution), km.ROSINALITY_IGNORED)
    fill_w_avg = latent_avg is None
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor):
            raise _Problem(f"'latent_avg' is a {type(latent_avg).__name__}, not a tensor", key="latent_avg")
        nv["mapping.w_avg"] = latent_avg.reshape(-1)
        origin["mapping.w_avg"] = "latent_avg"
    hints = {"conv_clamp": None, "mapping_lr_multiplier": 0.01}
    return _Parsed(FORMAT_ROSINALITY, nv, hints, origin=origin, fill_w_avg=fill_w_avg,
                   fill_resample_filters=True)


# ----------------------------------------------------------------------------- config inference

def _infer_channel_base(channels: dict[int, int], hints: dict[str, Any]) -> tuple[int, int]:
    """(channel_base, channel_max) such that channels[res] == min(channel_base // res, channel_max)."""
    def reproduces(base: int, cmax: int) -> bool:
        return all(min(base // r, cmax) == c for r, c in channels.items())

    cmax = max(channels.values())
    hinted = (hints.get("channel_base"), hints.get("channel_max"))
    if all(isinstance(v, int) and v > 0 for v in hinted) and reproduces(*hinted):
        return hinted
    lo, hi = 1, math.inf
    for r, c in channels.items():
        if c < cmax:  # base // r == c  <=>  c * r <= base < (c + 1) * r
            lo, hi = max(lo, c * r), min(hi, (c + 1) * r - 1)
        else:  # base // r >= cmax
            lo = max(lo, cmax * r)
    for base in (32768, 16384, lo):  # prefer the NVlabs values when they fit
        if lo <= base <= hi and reproduces(base, cmax):
            return base, cmax
    res = sorted(channels)
    raise _Problem(f"the channel counts {[channels[r] for r in res]} at resolutions {res} do not follow "
                   "min(channel_base // res, channel_max)", key=f"synthesis.b{res[-1]}.conv1.weight")


def _infer_config(sd: dict[str, torch.Tensor], hints: dict[str, Any]) -> dict[str, Any]:
    def shape(key: str, ndim: int) -> tuple[int, ...]:
        if key not in sd:
            raise _Problem("missing tensor", key=key)
        s = tuple(sd[key].shape)
        if len(s) != ndim:
            raise _Problem(f"mis-shaped tensor (expected {ndim} dims, got shape {list(s)})", key=key)
        return s

    if any(k.startswith("synthesis.input.") for k in sd):
        raise _Problem("StyleGAN3 (alias-free) generators are not supported",
                       fix="use a StyleGAN2 checkpoint (e.g. stylegan2-*.pkl)")
    num_mapping = 0
    while f"mapping.fc{num_mapping}.weight" in sd:
        num_mapping += 1
    if num_mapping == 0:
        raise _Problem("missing tensor", key="mapping.fc0.weight")
    w_dim = shape(f"mapping.fc{num_mapping - 1}.weight", 2)[0]
    fc0_in = shape("mapping.fc0.weight", 2)[1]
    c_dim = 0
    z_dim = fc0_in
    if "mapping.embed.weight" in sd:
        embed_features, c_dim = shape("mapping.embed.weight", 2)
        z_dim = fc0_in - embed_features
    found = {int(m.group(1)) for k in sd if (m := re.match(r"synthesis\.b(\d+)\.", k))}
    if 4 not in found:
        raise _Problem("missing tensor", key="synthesis.b4.const")
    img_resolution = max(found)
    if img_resolution & (img_resolution - 1):
        raise _Problem(f"block resolution {img_resolution} is not a power of two",
                       key=f"synthesis.b{img_resolution}.conv1.weight")
    resolutions = [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]
    for res in resolutions:
        if res not in found:
            raise _Problem("missing tensor", key=f"synthesis.b{res}.conv1.weight")
    for res in found - set(resolutions):
        raise _Problem("unexpected tensor", key=next(k for k in sd if k.startswith(f"synthesis.b{res}.")))
    channels = {res: shape(f"synthesis.b{res}.conv1.weight", 4)[0] for res in resolutions}
    img_channels = shape("synthesis.b4.torgb.weight", 4)[0]
    channel_base, channel_max = _infer_channel_base(channels, hints)
    w_avg_beta = hints.get("w_avg_beta")
    lr = hints.get("mapping_lr_multiplier")
    return dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                channel_base=channel_base, channel_max=channel_max,
                num_fp16_res=int(hints.get("num_fp16_res") or 0), conv_clamp=hints.get("conv_clamp"),
                mapping_layers=num_mapping, mapping_lr_multiplier=0.01 if lr is None else lr,
                w_avg_beta=0.995 if w_avg_beta is None else w_avg_beta)


# ----------------------------------------------------------------------------- building

def _build(parsed: _Parsed) -> Generator:
    """Validates the NVlabs-named state dict against a Generator and loads it strictly."""
    fmt = parsed.fmt
    try:
        config = parsed.config if parsed.config is not None else _infer_config(parsed.state_dict, parsed.hints)
        try:
            with torch.device("meta"):  # no random init: fast, and the global RNG is left alone
                G = Generator(**config)
        except (TypeError, ValueError) as exc:
            raise _Problem(f"invalid generator configuration {config} ({_first_line(exc)})") from None
        sd = dict(parsed.state_dict)
        expected = G.state_dict()
        if parsed.fill_noise_seed is not None:
            for key, ref in expected.items():
                if key.endswith(".noise_const") and key not in sd:
                    gen = torch.Generator().manual_seed(parsed.fill_noise_seed)
                    sd[key] = torch.randn([1, 1, *ref.shape], generator=gen)[0, 0]
        for key, ref in expected.items():
            if key.endswith("resample_filter") and key not in sd and parsed.fill_resample_filters:
                sd[key] = _resample_filter(ref.shape)
        if parsed.fill_w_avg and "mapping.w_avg" not in sd and "mapping.w_avg" in expected:
            sd["mapping.w_avg"] = torch.zeros(expected["mapping.w_avg"].shape)  # replaced below
        _validate(sd, expected, parsed.origin)
        sd = {k: v.detach().to(torch.float32).contiguous() for k, v in sd.items()}
        G.load_state_dict(sd, strict=True, assign=True)
    except _Problem as exc:
        raise _FormatProblem(fmt, exc) from None
    for name, tensor in list(G.named_parameters()) + list(G.named_buffers()):
        assert not tensor.is_meta, f"{name} was not loaded"
    G.eval().requires_grad_(False)
    G.metadata = dict(parsed.metadata)
    if parsed.fill_w_avg:
        with torch.no_grad():
            G.mapping.w_avg.copy_(G.mean_w(num_samples=W_AVG_SAMPLES, seed=W_AVG_SEED)[0][0])
    return G


def _resample_filter(shape: torch.Size) -> torch.Tensor:
    """The [1,3,3,1] FIR filter NVlabs registers as `resample_filter` (formats that do not store it)."""
    from stylegan.networks import RESAMPLE_TAPS
    from stylegan.ops import setup_filter
    f = setup_filter(RESAMPLE_TAPS)
    if tuple(f.shape) != tuple(shape):
        raise _Problem("unexpected resample filter shape", key="resample_filter")
    return f


def _validate(sd: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], origin: dict[str, str]) -> None:
    """Strict check: names the first missing, mis-shaped, non-float or unexpected tensor."""
    def name(key: str) -> str:
        return f"{origin[key]} -> {key}" if key in origin and origin[key] != key else key

    for key, ref in expected.items():
        if key not in sd:
            raise _Problem("missing tensor", key=key)
        value = sd[key]
        if not isinstance(value, torch.Tensor):
            raise _Problem(f"holds a {type(value).__name__} instead of a tensor", key=name(key))
        if tuple(value.shape) != tuple(ref.shape):
            raise _Problem(f"mis-shaped tensor (expected {list(ref.shape)}, got {list(value.shape)})",
                           key=name(key))
        if not value.is_floating_point():
            raise _Problem(f"tensor has dtype {value.dtype}, expected floating point", key=name(key))
    for key in sd:
        if key not in expected:
            raise _Problem("unexpected tensor", key=name(key))
