"""Devices: choosing one, waiting for it, and measuring its peak memory.

    from common.device import resolve_device, synchronize, PeakMemory
    device = resolve_device("auto")
    with PeakMemory(device) as mem:
        ...
    print(mem.peak_mib, mem.kind)

One place for what every benchmark and entry point needs, so cuda, mps and cpu
are treated alike everywhere.
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch

from common.errors import DeviceError

__all__ = [
    "PeakMemory",
    "autocast_off",
    "autocast_supported",
    "deterministic",
    "release_cached_memory",
    "resolve_device",
    "same_device",
    "synchronize",
]


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
            raise DeviceError(
                f"device {device!r} requested but this machine has {torch.cuda.device_count()} "
                f"CUDA device(s); use 'cuda:0' or 'auto'"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"device {device!r} requested but MPS is not available here; use 'cpu' or 'auto'")
    return dev


def same_device(a: str | torch.device, b: str | torch.device) -> bool:
    """Whether two device names denote the same device (`cuda` is `cuda:<current>`, `mps` is `mps:0`).

    `torch.device("cuda") != torch.device("cuda:0")` although a tensor moved to the first lands on
    the second; comparing type and resolved index tells "already there" from "must be copied".

    Args:
        a, b: device names ('cpu', 'cuda', 'cuda:1', 'mps') or torch.device objects.

    Returns:
        True when both have the same type and, for indexed types, the same resolved index.
    """
    a, b = torch.device(a), torch.device(b)
    return a.type == b.type and (a.type == "cpu" or _device_index(a) == _device_index(b))


def _device_index(device: torch.device) -> int:
    if device.index is not None:
        return device.index
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.current_device()
    return 0


def autocast_supported(device_type: str, torch_version: str | None = None) -> bool:
    """Whether `torch.autocast(device_type=...)` can be entered (even disabled) with this torch.

    torch.autocast accepts 'mps' only from torch 2.5 on (earlier releases raise "unsupported
    autocast device_type 'mps'" as soon as the context is built, enabled or not).

    Args:
        device_type: 'cpu', 'cuda', 'mps', ...
        torch_version: a version string such as '2.4.1+cpu'; None = the installed torch.
    """
    if device_type != "mps":
        return True
    version = torch_version or torch.__version__
    major, minor = (int("".join(c for c in part if c.isdigit()) or 0) for part in version.split(".")[:2])
    return (major, minor) >= (2, 5)


def autocast_off(device_type: str) -> AbstractContextManager:
    """A context that switches autocast off on `device_type` (nothing to switch off where torch has no autocast)."""
    if autocast_supported(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return nullcontext()


@contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Run the block with deterministic kernels (GPU results repeatable run to run), then restore.

    On the CPU every kernel the project uses is deterministic already. On CUDA this turns on
    `torch.use_deterministic_algorithms` (warn_only: an op without a deterministic kernel
    warns instead of failing), cuDNN's deterministic mode without autotuning, and the cuBLAS
    workspace setting CUDA asks for (`CUBLAS_WORKSPACE_CONFIG=:4096:8`, honoured when CUDA
    starts after it is set). The drag's feature sampling then avoids grid_sample, whose CUDA
    backward adds with atomics (`draggan.sampling`). Slower; results still depend on the GPU
    model and the torch/CUDA versions.

    Args:
        enabled: False = a no-op, so callers can pass their option straight through.
    """
    if not enabled:
        yield
        return
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


def synchronize(device: torch.device) -> None:
    """Waits until every kernel queued on `device` has finished (a no-op on the CPU).

    Timings of asynchronous devices (cuda, mps) are only meaningful after this.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def release_cached_memory(device: str | torch.device) -> str | None:
    """Returns the memory a device's caching allocator keeps after tensors were freed to the driver.

    PyTorch keeps freed CUDA and MPS blocks for reuse, so a generator dropped or moved to the
    CPU still holds its device memory for this process (and other processes cannot use it)
    until the cache is emptied. Unreferenced cycles are collected first, so what was dropped
    is really free. CUDA is emptied only when this process has initialised it (emptying
    would otherwise create a CUDA context); the CPU has no such cache.

    Args:
        device: the device whose cache to empty ('cpu', 'cuda', 'cuda:N', 'mps' or a torch.device).

    Returns:
        'cuda' or 'mps' when that device's cache was emptied, None when there was nothing to do.
    """
    device_type = torch.device(device).type
    if device_type == "cuda" and torch.cuda.is_initialized():
        gc.collect()
        torch.cuda.empty_cache()
        return "cuda"
    mps = getattr(torch, "mps", None)
    if device_type == "mps" and mps is not None and hasattr(mps, "empty_cache"):
        gc.collect()
        mps.empty_cache()
        return "mps"
    return None


class PeakMemory:
    """Peak memory of the code inside a `with` block, in MiB.

    * CUDA: `torch.cuda.max_memory_allocated` after resetting the peak statistics
      at the start (tensors only, not the caching allocator's reserve).
    * MPS: the largest `torch.mps.current_allocated_memory()` seen by a sampler thread
      during the block (every `MPS_SAMPLE_S`, and at both ends): torch keeps no peak
      statistic for MPS, and the process RSS does not include the GPU's memory.
    * elsewhere, on Linux: the process's peak resident set size (VmHWM), reset to
      the current size at the start through /proc/self/clear_refs, after freed
      heap memory was returned to the OS (glibc malloc_trim), so memory cached by
      earlier work is not reused unseen.
    * elsewhere: `resource.getrusage().ru_maxrss`, the process's peak since it
      started (an upper bound: it cannot be reset).

    Attributes (after the block):
        peak_mib: the peak during the block (absolute: includes what was live before it).
        base_mib: what was in use when the block started, measured the same way.
        delta_mib: peak_mib - base_mib, what the block itself added at its peak.
        kind: which of the measurements above was used, for tables.
    """

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.peak_mib = self.base_mib = float("nan")
        self._sampler: _AllocatedSampler | None = None
        if self.device.type == "cuda":
            self.kind = "peak alloc (CUDA)"
        elif self.device.type == "mps":
            self.kind = "peak alloc (MPS, sampled)"
        elif _clear_peak_rss():
            self.kind = "peak RSS (VmHWM)"
        else:
            self.kind = "peak RSS since start (ru_maxrss)"

    @property
    def delta_mib(self) -> float:
        """Growth over the block's start at the block's peak."""
        return self.peak_mib - self.base_mib

    def __enter__(self) -> PeakMemory:
        synchronize(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_mib = torch.cuda.memory_allocated(self.device) / 2**20
        elif self.device.type == "mps":
            self._sampler = _AllocatedSampler(torch.mps.current_allocated_memory)
            self.base_mib = self._sampler.start() / 2**20
        else:
            _release_free_memory()
            if self.kind.endswith("(VmHWM)"):
                _clear_peak_rss()
                self.base_mib = _proc_status_bytes("VmRSS") / 2**20
            else:
                self.base_mib = _maxrss_bytes() / 2**20
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        if self.device.type == "cuda":
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._sampler is not None:
            self.peak_mib = self._sampler.stop() / 2**20
        elif self.kind.endswith("(VmHWM)"):
            self.peak_mib = _proc_status_bytes("VmHWM") / 2**20
        else:
            self.peak_mib = _maxrss_bytes() / 2**20


MPS_SAMPLE_S = 0.002  # sampling period of the MPS peak: kernels of a drag step take milliseconds


class _AllocatedSampler:
    """Polls an allocated-bytes counter on a thread and keeps its maximum (for devices without a peak statistic)."""

    def __init__(self, read_bytes, period_s: float = MPS_SAMPLE_S):
        self._read = read_bytes
        self._period = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak = 0

    def _sample(self) -> int:
        value = int(self._read())
        self.peak = max(self.peak, value)
        return value

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._sample()

    def start(self) -> int:
        """Starts polling; returns the current value (the block's base)."""
        base = self._sample()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return base

    def stop(self) -> int:
        """Stops polling after a last sample; returns the maximum seen."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        return self.peak


def _clear_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _proc_status_bytes("VmHWM")
    except OSError:
        return False
    return True


def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"{field}:\s+(\d+) kB", f.read())
    if match is None:
        raise OSError(f"{field} not in /proc/self/status")
    return int(match.group(1)) * 1024


def _maxrss_bytes() -> int:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB on Linux


def _release_free_memory() -> None:
    """Returns memory that glibc keeps after frees to the OS, so the baseline is live memory only."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
