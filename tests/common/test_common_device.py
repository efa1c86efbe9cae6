"""`common.device`: device names, synchronisation and the peak-memory helper every benchmark uses."""

from __future__ import annotations

import pytest
import torch

from common.device import PeakMemory, resolve_device, synchronize
from common.errors import DeviceError


def test_peak_memory_sees_a_temporary_allocation_that_is_freed_inside_the_block():
    mem = PeakMemory(torch.device("cpu"))
    if "VmHWM" not in mem.kind:
        pytest.skip("the peak RSS can only be reset on Linux (/proc/self/clear_refs)")
    with mem:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del x
    assert mem.delta_mib >= 60 and mem.peak_mib >= mem.base_mib + 60
    with PeakMemory(torch.device("cpu")) as quiet:
        pass
    assert quiet.delta_mib < 30  # reset at the start: the earlier 64 MiB peak is not seen again


def test_resolve_device_and_synchronize_on_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    synchronize(torch.device("cpu"))  # a no-op there
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu9")


def test_peak_memory_on_mps_uses_the_allocated_memory_seen_during_the_block(monkeypatch):
    """torch keeps no MPS peak statistic: the helper samples torch.mps.current_allocated_memory (faked here)."""
    import time

    allocated = [100 * 2**20]
    monkeypatch.setattr(torch.mps, "current_allocated_memory", lambda: allocated[0])
    monkeypatch.setattr(torch.mps, "synchronize", lambda: None)
    mem = PeakMemory(torch.device("mps"))
    assert mem.kind == "peak alloc (MPS, sampled)"
    with mem:
        allocated[0] = 612 * 2**20  # a temporary 512 MiB, freed before the block ends
        time.sleep(0.05)
        allocated[0] = 110 * 2**20
    assert mem.base_mib == 100 and mem.peak_mib == 612 and mem.delta_mib == 512


def test_same_device_resolves_the_default_index():
    from common.device import same_device

    assert same_device("cuda", "cuda:0") and same_device(torch.device("mps"), "mps:0")
    assert same_device("cpu", torch.device("cpu")) and not same_device("cpu", "cuda:0")
    assert not same_device("cuda:0", "cuda:1") and not same_device("mps", "cuda")


def test_autocast_off_is_entered_only_where_torch_supports_the_device():
    from common.device import autocast_off, autocast_supported

    assert not autocast_supported("mps", "2.4.1") and not autocast_supported("mps", "2.1.0+cpu")
    assert autocast_supported("mps", "2.5.0") and autocast_supported("mps", "2.10.1")
    assert autocast_supported("cuda", "2.1.0") and autocast_supported("cpu", "2.1.0")
    with torch.autocast("cpu", dtype=torch.bfloat16), autocast_off("cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_deterministic_block_turns_the_switches_on_and_restores_them(monkeypatch):
    from common.device import deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with deterministic(True):
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before
    with deterministic(False):
        assert torch.are_deterministic_algorithms_enabled() == before[0]


@pytest.mark.parametrize(
    ("device", "cuda_in_use", "expected"),
    [
        ("cuda", True, ["cuda"]),
        (torch.device("cuda", 1), True, ["cuda"]),
        ("cuda", False, []),  # never create a CUDA context just to empty it
        ("mps", False, ["mps"]),
        ("cpu", True, []),
    ],
)
def test_release_cached_memory_empties_the_cache_of_the_devices_type(monkeypatch, device, cuda_in_use, expected):
    from common.device import release_cached_memory

    calls = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: cuda_in_use)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("cuda"))
    monkeypatch.setattr(torch.mps, "empty_cache", lambda: calls.append("mps"), raising=False)
    assert release_cached_memory(device) == (expected[0] if expected else None)
    assert calls == expected
