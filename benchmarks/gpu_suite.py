"""What only a GPU can tell, in one run of under 8 minutes: precision, drag speed, PTI, memory.

    python -m benchmarks.gpu_suite --out DIR [--device cuda] [--budget-s 420]
    python -m benchmarks.gpu_suite --out DIR --device cpu --quick     # the same code path, tiny sizes

Measures, on random-weight config-f generators (channel_base 32768, channel_max 512,
z/w 512, 8 mapping layers; random weights time and fit like trained ones):
  1. the fp16 top blocks of an NVlabs-style generator (num_fp16_res 4, conv_clamp 256,
     as NVlabs' stylegan2-ada pickles) against the same generator in fp32: max and RMS
     difference of the image (on CUDA the blocks run in fp16 natively; elsewhere through
     `stylegan.networks.reduced_precision`);
  2. drag steps at 256 and 512 px (one handle pulled across the image): ms per step in
     fp32 and bf16 autocast, each without and with `torch.compile` of the step's hot
     path (`stylegan.ops.modulated_conv2d`; failures are caught and reported, never
     fatal);
  3. one PTI inversion at 512 px of an image the generator made (seconds, PSNR);
  4. the peak memory of each (`common.device.PeakMemory`: CUDA peak allocation).
Writes `DIR/gpu_suite.md` (a Markdown table) and `DIR/gpu_suite.json`. Every stage is
skipped, with a note, once `--budget-s` seconds have passed. `--quick` shrinks every size
(32/64 px, channel_max 32, a few steps) and leaves out the compiled drags (dynamo's
tracing alone takes tens of seconds on a small CPU; the test suite checks their wiring
with the 'eager' backend separately), so the rest runs on a CPU in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from common.device import PeakMemory, resolve_device, synchronize

__all__ = ["SuiteConfig", "run_suite", "format_markdown", "main"]


@dataclass(frozen=True)
class SuiteConfig:
    """Sizes and budgets of one suite run (`quick()` for the CPU smoke run)."""

    drag_resolutions: tuple[int, ...] = (256, 512)  # drag benchmarks at these generator sizes
    drag_steps: int = 20  # timed drag steps per setting
    drag_warmup: int = 3  # untimed steps first (compilation happens here)
    pti_resolution: int = 512  # PTI inversion at this size
    pti_w_steps: int = 450  # W projection steps before tuning (InversionConfig default)
    pti_steps: int = 350  # PTI steps (InversionConfig default)
    channel_max: int = 512  # 512 = config-f
    w_dim: int = 512  # z and w dims (config-f: 512)
    num_fp16_res: int = 4  # NVlabs stylegan2-ada pickles: 4 fp16 blocks
    conv_clamp: float = 256.0  # NVlabs: 256 with fp16
    compile_backend: str = "inductor"  # torch.compile backend ('eager' only checks the wiring)
    compile_resolutions: tuple[int, ...] | None = None  # drag sizes also timed compiled (None = all)
    compile_dtypes: tuple[str, ...] = ("fp32", "bf16")  # ... in these dtypes
    budget_s: float = 420.0  # stop starting stages after this many seconds
    lpips_backbone: str | None = None  # PTI's LPIPS-squeeze backbone (None: cache or packaged, else random)

    def __post_init__(self):
        if not self.drag_resolutions or any(r < 16 or r & (r - 1) for r in self.drag_resolutions):
            raise ValueError(f"drag_resolutions must be powers of two >= 16, got {self.drag_resolutions}")
        if min(self.drag_steps, self.pti_w_steps, self.pti_steps) < 1 or self.drag_warmup < 0:
            raise ValueError("step counts must be positive (drag_warmup >= 0)")
        if self.budget_s <= 0:
            raise ValueError(f"budget_s must be positive, got {self.budget_s}")

    @classmethod
    def quick(cls, **changes) -> SuiteConfig:
        """Tiny sizes: the whole suite in seconds on a CPU."""
        small = dict(
            drag_resolutions=(32, 64),
            drag_steps=2,
            drag_warmup=1,
            pti_resolution=32,
            pti_w_steps=3,
            pti_steps=3,
            channel_max=32,
            w_dim=32,
            num_fp16_res=2,
            compile_backend="eager",
            compile_resolutions=(),
            lpips_backbone="random",
        )
        return cls(**{**small, **changes})


@dataclass
class SuiteResult:
    """Everything measured; `to_json()` is what gpu_suite.json holds."""

    device: str
    torch_version: str
    quick: bool
    fp16_blocks: dict = field(default_factory=dict)
    drag: list[dict] = field(default_factory=list)
    pti: dict = field(default_factory=dict)
    backend: dict = field(default_factory=dict)  # TF32, cudnn.benchmark, CUDA / cuDNN versions
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _generator(res: int, config: SuiteConfig, device: torch.device, fp16: bool = False, seed: int = 0):
    """A seeded random config-f-shaped generator (NVlabs' fp16 settings when `fp16`)."""
    from stylegan.random import random_generator

    return random_generator(
        res,
        seed,
        w_avg_samples=None,
        device=device,
        z_dim=config.w_dim,
        w_dim=config.w_dim,
        channel_base=config.channel_max * 64,
        channel_max=config.channel_max,
        num_fp16_res=config.num_fp16_res if fp16 else 0,
        conv_clamp=config.conv_clamp if fp16 else None,
        mapping_layers=8,
    )


def measure_fp16_blocks(config: SuiteConfig, device: torch.device) -> dict:
    """Max / RMS difference of the image with fp16 top blocks vs the same generator in fp32."""
    from stylegan.networks import reduced_precision

    res = max(config.drag_resolutions)
    G = _generator(res, config, device, fp16=True)
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        ws = G.mapping(z, truncation_psi=0.7)
        with true_fp32():
            ref = G.synthesis(ws, force_fp32=True)
        if device.type == "cuda":
            path = "native fp16 (CUDA)"
            with PeakMemory(device) as mem:
                out = G.synthesis(ws)
        else:  # fp16 convolutions off CUDA where this PyTorch has them, else bf16 stands in
            dtype = torch.float16 if _has_fp16_conv(device) else torch.bfloat16
            path = f"reduced_precision({str(dtype).replace('torch.', '')}) on {device.type}"
            with reduced_precision(G, dtype), PeakMemory(device) as mem:
                out = G.synthesis(ws)
    diff = (out.float() - ref).abs()
    return {
        "res": res,
        "num_fp16_res": config.num_fp16_res,
        "conv_clamp": config.conv_clamp,
        "path": path,
        "max_abs_diff": float(diff.max()),
        "rms_diff": float(diff.square().mean().sqrt()),
        "image_std": float(ref.std()),
        "finite": bool(torch.isfinite(out).all()),
        "peak_mib": float(mem.peak_mib),
    }


def _has_fp16_conv(device: torch.device) -> bool:
    try:
        x = torch.ones(1, 1, 3, 3, dtype=torch.float16, device=device)
        return torch.nn.functional.conv2d(x, x).dtype == torch.float16
    except RuntimeError:
        return False


def backend_settings() -> dict:
    """The numerics settings a GPU table depends on: TF32, cudnn.benchmark and library versions."""
    return {
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


@contextmanager
def true_fp32() -> Iterator[None]:
    """fp32 that is fp32: TF32 off for matmuls and cuDNN convolutions (cuDNN's default is on from
    Ampere, which would make the 'fp32' reference a 10-bit-mantissa one)."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def dynamo_limit_name(dynamo_config) -> str:
    """The recompile limit's name: `recompile_limit` from torch 2.7, `cache_size_limit` before."""
    return "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"


@contextmanager
def _compiled(G, backend: str) -> Iterator[None]:
    """torch.compile the hot path of a drag step, `stylegan.ops.modulated_conv2d` (every synthesis
    layer, on the crops of `stylegan.local` and in full renders), where the modules look it up.

    A pure tensor function: one graph per (up, padding, demodulate, dtype), dynamic crop sizes.
    """
    import torch._dynamo

    import stylegan.local as local
    import stylegan.networks as networks

    name = dynamo_limit_name(torch._dynamo.config)
    eager, limit = networks.modulated_conv2d, getattr(torch._dynamo.config, name)
    # One graph per layer shape (channels, up, dtype): more than dynamo's default limit of 8.
    setattr(torch._dynamo.config, name, max(limit, 64))
    compiled = torch.compile(eager, backend=backend, dynamic=True)
    local.modulated_conv2d = networks.modulated_conv2d = compiled
    try:
        yield
    finally:
        local.modulated_conv2d = networks.modulated_conv2d = eager
        setattr(torch._dynamo.config, name, limit)


FP16_BLOCKS = "fp16-blocks"  # drag row of a generator with num_fp16_res fp16 blocks (what NVlabs pickles run)
EAGER_DTYPES = ("fp32", "bf16", FP16_BLOCKS)  # uncompiled drag rows at every size


def warm_up(config: SuiteConfig, device: torch.device) -> None:
    """A short untimed drag first, so the first timed row does not pay for CUDA context and library set-up."""
    from benchmarks.drag import measure

    measure(_generator(min(config.drag_resolutions), config, device), steps=1, warmup=1, dtype="fp32")


def measure_drag(res: int, dtype: str, compiled: bool, config: SuiteConfig, device: torch.device) -> dict:
    """ms per drag step (median) and peak memory for one setting; a failure becomes the row's 'error'."""
    from benchmarks.drag import measure

    row = {"res": res, "dtype": dtype, "compile": config.compile_backend if compiled else "off"}
    fp16_blocks = dtype == FP16_BLOCKS  # NVlabs' own fp16 top blocks, no autocast
    try:
        G = _generator(res, config, device, fp16=fp16_blocks)
        exact = true_fp32() if dtype == "fp32" else nullcontext()
        with exact, _compiled(G, config.compile_backend) if compiled else nullcontext():
            m = measure(G, steps=config.drag_steps, warmup=config.drag_warmup, dtype="fp32" if fp16_blocks else dtype)
        row.update(
            ms_per_step=m["median_s"] * 1e3,
            min_ms=m["min_s"] * 1e3,
            steps=m["steps"],
            peak_mib=m["peak_mib"],
            mem_kind=m["mem_kind"],
        )
    except Exception as exc:  # noqa: BLE001 - compile / autocast failures are results, not crashes
        row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def measure_pti(config: SuiteConfig, device: torch.device) -> dict:
    """One PTI inversion of an image the generator made (so the answer is reachable): seconds, PSNR."""
    from common.errors import MissingWeightsError
    from inversion import InversionConfig, invert
    from inversion.lpips_loss import resolve_backbone
    from inversion.metrics import psnr

    backbone = config.lpips_backbone
    if backbone is None:
        try:  # torchvision's cache, else the SqueezeNet features shipped with the package
            backbone = resolve_backbone("squeeze")
        except MissingWeightsError:
            backbone = "random"
    from stylegan import uint8_from_ws
    from stylegan.random import random_generator

    G = random_generator(  # outputs scaled into about [-1, 1], like a trained model's
        config.pti_resolution,
        seed=0,
        output_std=0.5,
        device=device,
        z_dim=config.w_dim,
        w_dim=config.w_dim,
        channel_base=config.channel_max * 64,
        channel_max=config.channel_max,
        mapping_layers=4,
    )
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)).to(device))
    target = uint8_from_ws(G, ws)[0]
    inv_config = InversionConfig(
        w_steps=config.pti_w_steps,
        pti_steps=config.pti_steps,
        lpips_net="squeeze",
        pti_lpips_net="squeeze",
        lpips_backbone=backbone,
    )
    with PeakMemory(device) as mem:
        t0 = time.perf_counter()
        result = invert(G, np.ascontiguousarray(target), "pti", inv_config)
        synchronize(device)
        seconds = time.perf_counter() - t0
    return {
        "res": config.pti_resolution,
        "w_steps": config.pti_w_steps,
        "pti_steps": config.pti_steps,
        "lpips_backbone": "random" if backbone == "random" else Path(backbone).name,
        "seconds": seconds,
        "psnr_db": float(psnr(target, result.reconstruction)),
        "peak_mib": float(mem.peak_mib),
    }


def run_suite(config: SuiteConfig, device: torch.device, quick: bool = False, log=print) -> SuiteResult:
    """Runs the stages in order, each skipped (with a note) once the time budget is spent."""
    start = time.perf_counter()
    result = SuiteResult(device=_device_name(device), torch_version=torch.__version__, quick=quick)
    result.backend = backend_settings()

    def time_left(stage: str) -> bool:
        spent = time.perf_counter() - start
        if spent < config.budget_s:
            return True
        result.notes.append(f"skipped {stage}: {spent:.0f} s of the {config.budget_s:.0f} s budget spent")
        return False

    if time_left("fp16 blocks"):
        log("fp16 top blocks vs fp32 ...")
        result.fp16_blocks = measure_fp16_blocks(config, device)
    # Uncompiled drags and PTI first: torch.compile's cost is the least predictable, so it goes last,
    # where the time budget can cut it without losing the rest.
    compiled_sizes = config.drag_resolutions if config.compile_resolutions is None else config.compile_resolutions
    settings = [(res, dtype, False) for res in config.drag_resolutions for dtype in EAGER_DTYPES]
    compiled = [
        (res, dtype, True)
        for res in config.drag_resolutions
        if res in compiled_sizes
        for dtype in config.compile_dtypes
    ]
    if settings and time_left("warm-up"):
        warm_up(config, device)
    for res, dtype, on in settings:
        _drag_stage(result, res, dtype, on, config, device, time_left, log)
    if time_left("PTI"):
        log(f"PTI at {config.pti_resolution} px ...")
        result.pti = measure_pti(config, device)
    for res, dtype, on in compiled:
        _drag_stage(result, res, dtype, on, config, device, time_left, log)
    result.seconds = time.perf_counter() - start
    return result


def _drag_stage(
    result: SuiteResult, res: int, dtype: str, compiled: bool, config: SuiteConfig, device: torch.device, time_left, log
) -> None:
    label = f"drag {res} px {dtype} compile={'on' if compiled else 'off'}"
    if time_left(label):
        log(label + " ...")
        result.drag.append(measure_drag(res, dtype, compiled, config, device))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def _backend_line(backend: dict) -> str:
    if not backend:
        return ""
    return (
        f"TF32 (default outside the fp32 rows): matmul {backend['tf32_matmul']}, cuDNN {backend['tf32_cudnn']}; "
        f"cudnn.benchmark {backend['cudnn_benchmark']}; CUDA {backend['cuda_version']}, "
        f"cuDNN {backend['cudnn_version']}"
    )


def format_markdown(result: SuiteResult) -> str:
    """The results as one Markdown table (plus notes)."""
    lines = [
        f"GPU suite on {result.device}, torch {result.torch_version}"
        f"{' (--quick sizes)' if result.quick else ''}, {result.seconds:.0f} s",
        _backend_line(result.backend),
        "",
        "| measurement | setting | result | peak memory (MiB) |",
        "|---|---|---|---:|",
    ]
    f = result.fp16_blocks
    if f:
        lines.append(
            f"| fp16 top blocks vs fp32 | {f['res']} px, num_fp16_res {f['num_fp16_res']}, conv_clamp "
            f"{f['conv_clamp']:g}, {f['path']} | max diff {f['max_abs_diff']:.4f}, RMS {f['rms_diff']:.5f} "
            f"(image std {f['image_std']:.2f}) | {_fmt(f['peak_mib'], '.0f')} |"
        )
    for r in result.drag:
        setting = f"{r['res']} px, {r['dtype']}, compile {r['compile']}"
        if "error" in r:
            lines.append(f"| drag step | {setting} | failed: {r['error']} | n/a |")
        else:
            lines.append(
                f"| drag step | {setting} | {r['ms_per_step']:.1f} ms/step (min {r['min_ms']:.1f}) | "
                f"{_fmt(r['peak_mib'], '.0f')} |"
            )
    p = result.pti
    if p:
        lines.append(
            f"| PTI inversion | {p['res']} px, {p['w_steps']} W + {p['pti_steps']} PTI steps, LPIPS-squeeze "
            f"({p['lpips_backbone']}) | {p['seconds']:.1f} s, PSNR {p['psnr_db']:.1f} dB | "
            f"{_fmt(p['peak_mib'], '.0f')} |"
        )
    lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_suite", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for gpu_suite.md and gpu_suite.json")
    parser.add_argument("--device", default="cuda", help="'cuda' (default), 'cuda:N', 'cpu', 'mps' or 'auto'")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the whole path in seconds (CPU test)")
    parser.add_argument("--budget-s", type=float, default=None, help="skip stages after this many seconds (420)")
    parser.add_argument("--compile-backend", default=None, help="torch.compile backend (inductor; --quick: eager)")
    parser.add_argument("--lpips-backbone", default=None, help="LPIPS-squeeze backbone file for PTI, or 'random'")
    args = parser.parse_args(argv)
    changes = {
        k: v
        for k, v in (
            ("budget_s", args.budget_s),
            ("compile_backend", args.compile_backend),
            ("lpips_backbone", args.lpips_backbone),
        )
        if v is not None
    }
    from common.errors import DragPipelineError

    try:
        config = SuiteConfig.quick(**changes) if args.quick else SuiteConfig(**changes)
        device = resolve_device(args.device)
    except (ValueError, DragPipelineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = run_suite(config, device, quick=args.quick, log=lambda s: print(s, file=sys.stderr, flush=True))
    except DragPipelineError as exc:  # e.g. a --lpips-backbone that is not there
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    table = format_markdown(result)
    (out / "gpu_suite.md").write_text(table)
    (out / "gpu_suite.json").write_text(json.dumps(result.to_json(), indent=2))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
