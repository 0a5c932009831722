"""Graph helpers in plain torch (no torch-cluster): fully connected edges and unordered pairs
within each graph, the graph index of every node, per-graph centring, and dense per-graph
(padded) views of node values."""

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


def full_pairs(counts: torch.Tensor) -> torch.Tensor:
    """``[2, num_pairs]`` all unordered pairs ``i < j`` within each graph, graph by graph and
    within a graph ordered by ``j`` then ``i`` (so pair ``(i, j)`` of a graph is its row
    ``j (j - 1) / 2 + i``, counted in local node numbers); ``num_pairs = sum(n (n - 1) / 2)``."""
    src, dst = full_edges(counts)
    keep = src < dst
    return torch.stack([src[keep], dst[keep]])


def pair_of_edge(src: torch.Tensor, dst: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``[E]`` row in :func:`full_pairs` of the unordered pair of every ordered edge
    ``(src, dst)`` ``[E]`` (both directions of a pair map to the same row)."""
    counts = counts.long()
    batch = batch_vector(counts)
    starts = torch.cumsum(counts, 0) - counts
    pair_counts = counts * (counts - 1) // 2
    pair_starts = torch.cumsum(pair_counts, 0) - pair_counts
    graph = batch[src]
    lo = torch.minimum(src, dst) - starts[graph]
    hi = torch.maximum(src, dst) - starts[graph]
    return pair_starts[graph] + hi * (hi - 1) // 2 + lo


def batch_vector(counts: torch.Tensor) -> torch.Tensor:
    """``[num_nodes]`` graph index of every node, from ``[num_graphs]`` node counts."""
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)


def remove_mean(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Subtract each graph's centre (of geometry) from ``pos`` ``[num_nodes, 3]``."""
    total = torch.zeros(num_graphs, pos.shape[-1], dtype=pos.dtype, device=pos.device)
    total.index_add_(0, batch, pos)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(pos.dtype)
    return pos - (total / count[:, None])[batch]


class Padded:
    """Where each node of a batch sits in dense per-graph tensors: graph ``graph`` ``[N]``, row
    ``row`` ``[N]``, nodes per graph ``counts`` ``[G]``, ``mask`` ``[G, L]`` (True on real nodes;
    ``L`` the largest graph) and ``node`` ``[G, L]`` (the node at each real place). Pairwise work
    on ``[G, L, L]`` costs ``G L^2`` where a batch-wide ``[N, N]`` matrix costs ``(G L)^2``."""

    def __init__(self, batch: torch.Tensor, num_graphs: int) -> None:
        counts = torch.bincount(batch, minlength=num_graphs)
        starts = torch.cumsum(counts, 0) - counts
        self.graph = batch
        self.row = torch.arange(len(batch), device=batch.device) - starts[batch]
        self.counts = counts
        longest = int(counts.max()) if len(counts) else 0
        self.mask = torch.zeros(num_graphs, longest, dtype=torch.bool, device=batch.device)
        self.mask[self.graph, self.row] = True
        self.node = self.dense(torch.arange(len(batch), device=batch.device))

    @property
    def pair_mask(self) -> torch.Tensor:
        """``[G, L, L]`` bool: both places hold real nodes."""
        return self.mask[:, :, None] & self.mask[:, None, :]

    def dense(self, values: torch.Tensor) -> torch.Tensor:
        """Per-node ``values`` ``[N, ...]`` as ``[G, L, ...]`` (zero padding)."""
        out = values.new_zeros(*self.mask.shape, *values.shape[1:])
        out[self.graph, self.row] = values
        return out

    def pairs(self, z: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """``z[g, row i, row j]`` ``[E, ...]`` for node pairs ``(i, j)`` ``[E]`` of one graph each."""
        return z[self.graph[i], self.row[i], self.row[j]]
