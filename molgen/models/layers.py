"""Building blocks shared by the denoisers."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.utils import scatter


class GaussianRBF(nn.Module):
    """Expands distances ``[E]`` into ``[E, num_rbf]`` Gaussian features on ``[0, cutoff]``."""

    def __init__(self, num_rbf: int, cutoff: float) -> None:
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, cutoff, num_rbf))
        self.gamma = (num_rbf / cutoff) ** 2

    def forward(self, dist: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gamma * (dist[:, None] - self.centers) ** 2)


class FourierTime(nn.Module):
    """Embeds a per-node scalar (log-SNR) ``[N]`` into ``[N, 2 * num_freqs]`` features."""

    def __init__(self, num_freqs: int = 8, scale: float = 20.0) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi * torch.arange(1, num_freqs + 1) / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = x[:, None] * self.freqs
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


def scatter_mean(values: torch.Tensor, index: torch.Tensor, inv_count: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` ``[E, F]`` over edges grouped by ``index`` ``[E]`` into ``[N, F]``.

    ``inv_count`` ``[N, 1]`` is 1 / (number of edges per node), precomputed once per batch. The
    sum is PyG's ``scatter`` (faster than ``index_add_`` on these shapes: benchmarks/pyg_ops.py).
    """
    return scatter(values, index, 0, inv_count.shape[0], reduce="sum") * inv_count


def compile_layers(net: nn.Module) -> None:
    """Compile every message-passing layer of ``net`` (its ``layers``) with ``torch.compile``.

    Dynamic shapes, as graph sizes change every batch. Parameters and state dict keys stay as they
    are; the first calls are slow while it compiles, and on a CPU it needs a C++ compiler.
    """
    for layer in net.layers:
        layer.compile(dynamic=True)
