"""Running one command as several processes with `torchrun` (one node or many).

    torchrun --nproc_per_node=2 -m pipeline.cli.batch --batch jobs.jsonl --out DIR
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=4 -m ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in each worker's environment; `Distributed.from_env`
joins the process group (NCCL when the worker drives a CUDA device, gloo otherwise) or, without
torchrun, is a world of one that needs no process group. Work is split by rank with `shard`
(item i goes to rank i % world_size), so every rank computes the same split from the same list.

Under torchrun each worker takes its own GPU (`--device cuda` or `auto` -> cuda:LOCAL_RANK; one
explicit `cuda:N` for all is refused), NCCL barriers name that GPU, and `main_first` lets rank 0
download weights before the others look for them. Used by `pipeline.batch` and
`evaluation.inversion_quality`.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from common.errors import DeviceError

__all__ = ["Distributed", "shard"]

# A barrier waits for the slowest rank's whole shard (hours of PTI on a big batch); torch's
# default of 10-30 minutes would kill healthy runs. A crashed rank is caught by torchrun, which
# stops the others.
BARRIER_TIMEOUT = datetime.timedelta(hours=48)


def shard(items: list, rank: int, world_size: int) -> list:
    """The items rank `rank` of `world_size` works on: every world_size-th, from index `rank`."""
    return list(items[rank::world_size])


@dataclass
class Distributed:
    """This process's place among the workers torchrun started.

    Attributes:
        rank: global rank, 0 .. world_size - 1 (0 without torchrun).
        world_size: number of workers on all nodes (1 without torchrun).
        local_rank: rank on this node; the CUDA device index a worker uses.
        enabled: a process group was initialised (world_size > 1).
        backend: 'nccl' or 'gloo' when enabled, else None.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False
    backend: str | None = None

    @classmethod
    def from_env(cls, device: str = "auto") -> Distributed:
        """Join torchrun's process group when WORLD_SIZE > 1, else a world of one.

        Args:
            device: the device option the user gave; 'auto'/'cuda' with CUDA available
                means each worker uses cuda:LOCAL_RANK and NCCL, anything else gloo.
        """
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        import torch.distributed as dist

        check_worker_device(device)
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = worker_uses_cuda(device)
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=BARRIER_TIMEOUT)
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, enabled=True, backend=backend)

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that merges and writes the shared results."""
        return self.rank == 0

    def device(self, device: str = "auto") -> str:
        """The device this worker runs on: cuda:LOCAL_RANK for 'auto'/'cuda' under torchrun with CUDA."""
        if self.enabled and worker_uses_cuda(device):
            return f"cuda:{self.local_rank}"
        return device

    def barrier(self) -> None:
        """Wait until every rank got here (no-op in a world of one).

        With NCCL the barrier names this worker's GPU: without `device_ids` NCCL guesses
        `rank % num_gpus`, which is another rank's GPU (and hangs) on a node running fewer
        workers than it has GPUs.
        """
        if self.enabled:
            import torch.distributed as dist

            if self.backend == "nccl":
                dist.barrier(device_ids=[self.local_rank])
            else:
                dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. downloads weights), the other ranks after it finished.

        The others then find the files in place instead of downloading the same 350 MB each.
        """
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def gather(self, obj) -> list | None:
        """Every rank's `obj` (picklable) on rank 0, in rank order; None on the other ranks."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank."""
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Leave the process group (call once, at the end)."""
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.enabled = False


def check_worker_device(device: str) -> None:
    """Refuse a device that would put every torchrun worker on the same GPU.

    Raises:
        DeviceError: `device` names one CUDA device ('cuda:0'); under torchrun each worker must
            take its own (`cuda` or `auto`: cuda:LOCAL_RANK).
    """
    if device.startswith("cuda:"):
        raise DeviceError(
            f"--device {device} would put every torchrun worker on one GPU; "
            "use --device cuda (each worker takes cuda:LOCAL_RANK)"
        )


def worker_uses_cuda(device: str) -> bool:
    """Whether a torchrun worker asked for `device` should take cuda:LOCAL_RANK."""
    return device in ("auto", "cuda") and torch.cuda.is_available()
