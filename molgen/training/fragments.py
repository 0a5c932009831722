"""Random fragments of training molecules: what a fragment-conditioned model learns to build around.

A molecule given a fragment gets, with equal chance, one of its ring systems (fused rings as one
unit: the scaffolds users fix) or a connected piece of random size grown breadth-first from a
random atom (also when its only ring system is the whole molecule). A fragment never covers the
whole molecule.
"""

from __future__ import annotations

import numpy as np
import torch


def random_fragments(
    orders: torch.Tensor,
    pair_index: torch.Tensor,
    sizes: torch.Tensor,
    probability: float,
    gen: torch.Generator,
) -> torch.Tensor:
    """``[N]`` bool: the fixed atoms of a batch of molecules.

    Args:
        orders: ``[P]`` bond order of every atom pair (0 = no bond), rows of ``pair_index``.
        pair_index: ``[2, P]`` the nodes of every pair (:func:`molgen.core.graph.full_pairs`).
        sizes: ``[G]`` atoms per molecule (nodes stored molecule by molecule).
        probability: chance that a molecule gets a fragment.
        gen: the random draws (four per molecule, whether or not it gets one).
    """
    draws = torch.rand(len(sizes), 4, generator=gen).numpy()
    sizes = sizes.numpy()
    first = np.cumsum(sizes) - sizes
    bonded = orders.numpy() > 0
    i, j = pair_index[:, bonded].numpy()
    graph = np.repeat(np.arange(len(sizes)), sizes)[i]
    per_graph = np.split(np.stack([i, j], 1), np.cumsum(np.bincount(graph, minlength=len(sizes)))[:-1])
    fixed = np.zeros(int(sizes.sum()), dtype=bool)
    for g in np.flatnonzero(draws[:, 0] < probability):
        n = int(sizes[g])
        if n < 2:
            continue
        edges = [(a - first[g], b - first[g]) for a, b in per_graph[g].tolist()]
        systems = [s for s in ring_systems(n, edges) if len(s) < n] if draws[g, 1] < 0.5 else []
        if systems:
            atoms = systems[int(draws[g, 2] * len(systems))]
        else:
            order = breadth_first(n, edges, int(draws[g, 2] * n))
            atoms = order[: 1 + int(draws[g, 3] * (n - 1))]
        fixed[first[g] + np.asarray(atoms)] = True
    return torch.from_numpy(fixed)


def breadth_first(n: int, edges: list[tuple[int, int]], start: int) -> list[int]:
    """The atoms reachable from ``start`` over ``edges`` (of ``n`` atoms), in breadth-first order."""
    neighbours = [[] for _ in range(n)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    order, seen = [start], {start}
    for atom in order:
        for other in neighbours[atom]:
            if other not in seen:
                seen.add(other)
                order.append(other)
    return order


def ring_systems(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    """The ring systems of a graph of ``n`` atoms: atoms joined by ring bonds (a bond is in a
    ring when its atoms stay connected without it), each system sorted."""
    ring_edges = [
        (a, b) for k, (a, b) in enumerate(edges) if b in breadth_first(n, edges[:k] + edges[k + 1 :], a)
    ]
    systems: dict[int, list[int]] = {}
    for start in sorted({a for edge in ring_edges for a in edge}):
        if not any(start in s for s in systems.values()):
            systems[start] = sorted(breadth_first(n, ring_edges, start))
    return list(systems.values())
