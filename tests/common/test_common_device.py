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
