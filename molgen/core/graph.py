"""Graph helpers in plain torch (no torch-cluster): fully connected edges within each graph, the
graph index of every node, per-graph centring."""

from __future__ import annotations

import torch


def full_edges(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All ordered pairs ``i != j`` within each graph of a batch.

    Args:
        counts: ``[num_graphs]`` number of nodes per graph; nodes are stored graph by graph.

    Returns:
        src, dst: ``[num_edges]`` node indices; ``num_edges = sum(n * (n - 1))``.
    """
    counts = counts.long()
    starts = torch.cumsum(counts, 0) - counts
    pairs = counts * counts
    graph = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), pairs)
    k = torch.arange(int(pairs.sum()), device=counts.device)
    k = k - torch.repeat_interleave(torch.cumsum(pairs, 0) - pairs, pairs)
    n = counts[graph]
    i, j = k // n, k % n
    keep = i != j
    base = starts[graph]
    return (base + j)[keep], (base + i)[keep]


def batch_vector(counts: torch.Tensor) -> torch.Tensor:
    """``[num_nodes]`` graph index of every node, from ``[num_graphs]`` node counts."""
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)


def remove_mean(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Subtract each graph's centre (of geometry) from ``pos`` ``[num_nodes, 3]``."""
    total = torch.zeros(num_graphs, pos.shape[-1], dtype=pos.dtype, device=pos.device)
    total.index_add_(0, batch, pos)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(pos.dtype)
    return pos - (total / count[:, None])[batch]
