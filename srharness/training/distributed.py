"""One code path for 1 and N training processes: every run, even a single process, goes through
`torch.distributed` and DistributedDataParallel.

Processes come from `torchrun` (its RANK / WORLD_SIZE / LOCAL_RANK / MASTER_* environment) or,
outside torchrun, from `torch.multiprocessing.spawn` (N > 1) or the calling process itself
(N = 1) rendezvousing on a free local TCP port. Backends: gloo on CPU, nccl on CUDA, hccl where
torch_npu is importable (the Ascend guide's backend).
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value / self.world_size

    def barrier(self) -> None:
        dist.barrier()


def in_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ
                                                   and "MASTER_ADDR" in os.environ)


def npu_available() -> bool:
    try:
        import torch_npu  # noqa: F401  (registers torch.npu)
    except ImportError:
        return False
    return bool(torch.npu.is_available())


def pick_device(preference: str, local_rank: int) -> tuple[torch.device, str]:
    """(device, backend) for `preference` in auto | cpu | cuda | npu."""
    if preference == "auto":
        preference = "npu" if npu_available() else "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cpu":
        return torch.device("cpu"), "gloo"
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: torch.cuda.is_available() is False on this machine; use --device cpu")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank), "nccl"
    if preference == "npu":
        if not npu_available():
            raise RuntimeError("--device npu: torch_npu is not importable or sees no NPU; use --device cpu")
        torch.npu.set_device(local_rank)
        return torch.device("npu", local_rank), "hccl"
    raise ValueError(f"unknown device {preference!r}; use auto, cpu, cuda or npu")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init(device_preference: str, rank: int | None = None, world_size: int | None = None,
         port: int | None = None) -> DistContext:
    """Join the process group: from torchrun's environment when rank is None, else on 127.0.0.1:port."""
    if rank is None:
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        init_method = "env://"
    else:
        local_rank = rank
        init_method = f"tcp://127.0.0.1:{port}"
    device, backend = pick_device(device_preference, local_rank)
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size)
    return DistContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device, backend=backend)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def synchronize(device: torch.device) -> None:
    """Wait for queued device work so host timings cover it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "npu":
        torch.npu.synchronize(device)
