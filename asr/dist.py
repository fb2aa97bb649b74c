"""Distributed training under torchrun: joining the process group, agreeing on a flag, waiting.
Outside torchrun (WORLD_SIZE unset or 1) every helper is a no-op for one process."""

from __future__ import annotations

import os

import torch


def start(device: torch.device) -> tuple[int, int, torch.device]:
    """(world size, rank, device) under torchrun (WORLD_SIZE > 1): joins the process group (NCCL on
    GPUs, gloo on CPUs), one GPU per local rank. Outside torchrun: (1, 0, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 1, 0, device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_world_size(), dist.get_rank(), device


def any_process(flag: bool, world: int, device: torch.device) -> bool:
    """True if `flag` is true in any process (so that all stop at the same step)."""
    if world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def global_count(n: int, world: int, device: torch.device) -> torch.Tensor:
    """The sum of `n` over the processes (the global batch's utterances), as a 1-element tensor."""
    count = torch.tensor([float(n)], device=device)
    if world > 1:
        torch.distributed.all_reduce(count)
    return count


def barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def close(world: int) -> None:
    if world > 1:
        torch.distributed.destroy_process_group()
