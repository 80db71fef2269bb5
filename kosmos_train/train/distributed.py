"""Process-group set-up that works the same alone, under torchrun and under the deepspeed launcher.

On a machine without CUDA: DeepSpeed's CPU accelerator and the gloo backend. A plain
single process gets RANK/WORLD_SIZE/LOCAL_RANK defaults and a free local port.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    created: bool  # whether this call created the process group (and so should destroy it)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_accelerator() -> None:
    """Pick DeepSpeed's accelerator before deepspeed is imported anywhere."""
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def init_distributed() -> DistInfo:
    prepare_accelerator()
    import deepspeed
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        if "RANK" not in os.environ:  # a plain single process
            os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
        if not torch.cuda.is_available():
            # The CPU accelerator's shared-memory all-reduce op is JIT-compiled at start-up (30-90 s) and
            # only speeds up inference all-reduce; ZeRO training talks through gloo, so skip it.
            deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
        created = True
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    return DistInfo(rank, world, local_rank, device, created)


def teardown(info: DistInfo) -> None:
    """Barrier first: without it two-process gloo runs sometimes abort at exit."""
    import torch.distributed as dist

    if info.created and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
