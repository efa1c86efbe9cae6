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
                        'config': G.init_kwargs, 'state_dict': ...}; loadable
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

The code for each format lives in `stylegan.formats` (one module per format:
native, nvlabs, tf, mmagic, rosinality; `infer` derives the architecture); this
module reads the file safely, recognises the format from the loaded object,
validates and builds the Generator, and holds the public API.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from common.device import resolve_device
from common.errors import CheckpointError, one_line
from common.fileio import atomic_save
from stylegan._safe_pickle import PersistentRecord, TFNetworkRecord, UnsafePickleError, safe_load
from stylegan.formats._base import FormatProblem, Parsed, Problem, unwrap_state_dict
from stylegan.formats.ids import (
    FORMAT_DESCRIPTIONS,
    FORMAT_MMAGIC,
    FORMAT_NATIVE,
    FORMAT_NVLABS,
    FORMAT_NVLABS_STATE_DICT,
    FORMAT_NVLABS_TF,
    FORMAT_ROSINALITY,
)
from stylegan.formats.infer import infer_config as _infer_config
from stylegan.formats.mmagic import MMAGIC_NOISE_SEED, export_mmagic_state_dict, parse_mmagic
from stylegan.formats.native import NATIVE_FORMAT, NATIVE_VERSION, generator_to_dict, parse_native
from stylegan.formats.nvlabs import parse_nvlabs, parse_nvlabs_state_dict
from stylegan.formats.rosinality import export_rosinality_checkpoint, parse_rosinality
from stylegan.formats.tf import parse_tf
from stylegan.networks import Generator

__all__ = [
    "FORMAT_DESCRIPTIONS",
    "FORMAT_MMAGIC",
    "FORMAT_NATIVE",
    "FORMAT_NVLABS",
    "FORMAT_NVLABS_STATE_DICT",
    "FORMAT_NVLABS_TF",
    "FORMAT_ROSINALITY",
    "MMAGIC_NOISE_SEED",
    "NATIVE_FORMAT",
    "NATIVE_VERSION",
    "atomic_save",
    "detect_format",
    "export_mmagic_state_dict",
    "export_rosinality_checkpoint",
    "generator_from_dict",
    "generator_to_dict",
    "infer_config",
    "load_generator",
    "resolve_device",
    "save_generator",
]

# Samples and seed for w_avg when a file has none (mmagic/rosinality `mean_latent` use 4096).
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0

_ZIP_MAGIC = b"PK\x03\x04"
# First object of a legacy (non-zip) torch.save file (torch/serialization.py MAGIC_NUMBER).
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


# ----------------------------------------------------------------------------- public API


def load_generator(
    path: str | os.PathLike,
    device: str | torch.device | None = "cpu",
    *,
    map_location: str | torch.device | None = None,
) -> Generator:
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
    except (Problem, FormatProblem) as exc:
        raise _checkpoint_error(path, exc) from None
    return G.to(target).eval().requires_grad_(False)


def save_generator(
    G: Generator, path: str | os.PathLike, half: bool = False, metadata: dict[str, Any] | None = None
) -> Path:
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


def generator_from_dict(
    payload: dict[str, Any], device: str | torch.device | None = "cpu", source: str = "<embedded generator>"
) -> Generator:
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
            raise FormatProblem(FORMAT_NATIVE, Problem("not a native generator payload"))
        G = _build(parse_native(payload))
    except (Problem, FormatProblem) as exc:
        raise _checkpoint_error(Path(source), exc) from None
    return G.to(target).eval().requires_grad_(False)


def detect_format(path: str | os.PathLike) -> str:
    """Format id of a checkpoint (one of `FORMAT_DESCRIPTIONS`), from its content.

    Raises:
        CheckpointError: unreadable, unsafe or unrecognised file.
    """
    path = Path(path)
    try:
        return _parse(_read(path)).fmt
    except (Problem, FormatProblem) as exc:
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
    except Problem as exc:
        key = f" (first offending key: '{exc.key}')" if exc.key else ""
        raise CheckpointError(f"cannot infer the generator configuration: {exc.problem}{key}; {exc.fix}") from None


# ----------------------------------------------------------------------------- reading


def _checkpoint_error(path: Path, exc: Problem | FormatProblem) -> CheckpointError:
    """The one-line public error: file, format tried, problem, first offending key, fix."""
    what = FORMAT_DESCRIPTIONS[exc.fmt] if isinstance(exc, FormatProblem) else "checkpoint"
    key = f" (first offending key: '{exc.key}')" if exc.key else ""
    return CheckpointError(f"cannot load {str(path)!r} as {what}: {exc.problem}{key}; {exc.fix}")


def _read(path: Path) -> Any:
    """Loads the file's top-level object without executing anything from it."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise Problem("file not found", fix="check the path") from None
    except OSError as exc:
        raise Problem(f"cannot read the file ({exc.strerror})", fix="check the path and permissions") from None
    if not head:
        raise Problem("the file is empty")
    if head.startswith(_ZIP_MAGIC):
        return _torch_load(path)
    try:
        with open(path, "rb") as f:
            obj = safe_load(f)
    except UnsafePickleError as exc:
        raise Problem(
            f"the pickle references the global '{exc.global_name}', which is not an allowed "
            "tensor/container type, so nothing was loaded or executed",
            fix="only load checkpoints from trusted sources; this one is not a plain StyleGAN2 pickle",
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        RuntimeError,
        OverflowError,
        MemoryError,
        UnicodeDecodeError,
    ) as exc:
        if head[:1] == b"\x80":
            why = one_line(exc, first_line_only=True, max_chars=200)
            raise Problem(f"the pickle is truncated or corrupt ({type(exc).__name__}: {why})") from None
        raise Problem(
            "not a recognised checkpoint (neither a torch.save archive nor a pickle)",
            fix="pass an NVlabs .pkl, an mmagic/rosinality .pth/.pt or a native checkpoint",
        ) from None
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
            raise Problem(
                f"the file references the global '{match.group(1)}', which weights-only loading "
                "refuses, so nothing was loaded or executed",
                fix="only load checkpoints from trusted sources; save just the state dict",
            ) from None
        if "Weights only load failed" in message:
            raise Problem(
                "the file holds objects that weights-only loading refuses, so nothing was loaded or executed",
                fix="only load checkpoints from trusted sources; save just the state dict",
            ) from None
        why = one_line(exc, first_line_only=True, max_chars=200)
        raise Problem(f"the torch.save archive is corrupt ({why})") from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        zipfile.BadZipFile,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
    ) as exc:
        why = one_line(exc, first_line_only=True, max_chars=200)
        raise Problem(f"the torch.save archive is truncated or corrupt ({type(exc).__name__}: {why})") from None


# ----------------------------------------------------------------------------- format classification


def _parse(obj: Any) -> Parsed:
    """Recognises the loaded object's format and converts it to NVlabs names."""
    fmt = _classify(obj)
    try:
        if fmt == FORMAT_NATIVE:
            return parse_native(obj)
        if fmt == FORMAT_NVLABS:
            return parse_nvlabs(obj)
        if fmt == FORMAT_NVLABS_TF:
            return parse_tf(obj)
        if fmt == FORMAT_MMAGIC:
            return parse_mmagic(obj)
        if fmt == FORMAT_ROSINALITY:
            return parse_rosinality(obj)
        if fmt == FORMAT_NVLABS_STATE_DICT:
            return parse_nvlabs_state_dict(obj)
    except Problem as exc:
        raise FormatProblem(fmt, exc) from None
    raise AssertionError(fmt)


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
        sd = unwrap_state_dict(obj)
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
    raise Problem(
        f"not a recognised StyleGAN2 checkpoint (found a {found})",
        fix="pass an NVlabs .pkl, an mmagic/rosinality .pth/.pt or a native checkpoint",
    )


# ----------------------------------------------------------------------------- building


def _build(parsed: Parsed) -> Generator:
    """Validates the NVlabs-named state dict against a Generator and loads it strictly."""
    fmt = parsed.fmt
    try:
        config = parsed.config if parsed.config is not None else _infer_config(parsed.state_dict, parsed.hints)
        try:
            with torch.device("meta"):  # no random init: fast, and the global RNG is left alone
                G = Generator(**config)
        except (TypeError, ValueError) as exc:
            why = one_line(exc, first_line_only=True, max_chars=200)
            raise Problem(f"invalid generator configuration {config} ({why})") from None
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
    except Problem as exc:
        raise FormatProblem(fmt, exc) from None
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
        raise Problem("unexpected resample filter shape", key="resample_filter")
    return f


def _validate(sd: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], origin: dict[str, str]) -> None:
    """Strict check: names the first missing, mis-shaped, non-float or unexpected tensor."""

    def name(key: str) -> str:
        return f"{origin[key]} -> {key}" if key in origin and origin[key] != key else key

    for key, ref in expected.items():
        if key not in sd:
            raise Problem("missing tensor", key=key)
        value = sd[key]
        if not isinstance(value, torch.Tensor):
            raise Problem(f"holds a {type(value).__name__} instead of a tensor", key=name(key))
        if tuple(value.shape) != tuple(ref.shape):
            raise Problem(f"mis-shaped tensor (expected {list(ref.shape)}, got {list(value.shape)})", key=name(key))
        if not value.is_floating_point():
            raise Problem(f"tensor has dtype {value.dtype}, expected floating point", key=name(key))
    for key in sd:
        if key not in expected:
            raise Problem("unexpected tensor", key=name(key))
