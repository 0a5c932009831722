"""torchrun integration: process-group set-up and tear-down around a training run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist


@contextlib.contextmanager
def distributed_context(device: torch.device) -> Iterator[torch.device]:
    """Initialise DDP when launched by torchrun (``WORLD_SIZE > 1``); yields this rank's device.

    gloo on CPU, NCCL on CUDA (one GPU per local rank). A no-op in a single process.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        yield device
        return
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield device
    finally:
        dist.destroy_process_group()
