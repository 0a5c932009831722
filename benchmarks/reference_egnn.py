"""A reference EGNN of EDM's size, for throughput ratios (not part of the package).

EDM (Hoogeboom et al., ICML 2022) denoises QM9 with an EGNN (Satorras et al., ICML 2021) of 9
equivariant blocks, 256 hidden features, attention-gated messages, tanh-bounded coordinate
updates (range 15) and fully connected graphs: about 5.3M parameters. This module rebuilds a
network of that shape from the papers' equations so that `benchmarks/throughput.py` can time it
next to molgen's denoiser in the same process. It is a *favourable* stand-in: it uses sparse
per-molecule edges, while EDM's code pads every molecule to 29 atoms (29 x 29 edges).
"""

from __future__ import annotations

import torch
from torch import nn

from molgen.core.graph import full_edges, remove_mean

HIDDEN = 256
BLOCKS = 9
COORDS_RANGE = 15.0


def _mlp(sizes: list[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2 or last_activation:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class EquivariantBlock(nn.Module):
    """One message-passing step on features ``h`` and one coordinate update."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        edge_in = 2 * hidden + 2  # h_i, h_j, |x_i - x_j|^2 now and at the input
        self.edge_mlp = _mlp([edge_in, hidden, hidden], last_activation=True)
        self.attention = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid())
        self.node_mlp = _mlp([2 * hidden, hidden, hidden], last_activation=False)
        self.coord_mlp = nn.Sequential(
            _mlp([edge_in, hidden, hidden], last_activation=True), nn.Linear(hidden, 1, bias=False)
        )

    def forward(self, h, x, src, dst, d0):
        """h ``[N, H]``, x ``[N, 3]``, edges ``src -> dst`` ``[E]``, d0 ``[E, 1]`` input distances."""
        diff = x[dst] - x[src]
        d2 = diff.square().sum(-1, keepdim=True)
        edge_in = torch.cat([h[dst], h[src], d2, d0], -1)
        m = self.edge_mlp(edge_in)
        m = m * self.attention(m)
        h = h + self.node_mlp(torch.cat([h, torch.zeros_like(h).index_add_(0, dst, m)], -1))
        step = diff / (d2.sqrt() + 1.0) * torch.tanh(self.coord_mlp(edge_in)) * COORDS_RANGE
        return h, x + torch.zeros_like(x).index_add_(0, dst, step)


class ReferenceEGNN(nn.Module):
    """EDM-sized EGNN: (noisy coordinates, noisy one-hot types, time) -> (eps_pos, eps_types)."""

    def __init__(self, num_types: int, hidden: int = HIDDEN, blocks: int = BLOCKS) -> None:
        super().__init__()
        self.embed = nn.Linear(num_types + 1, hidden)
        self.blocks = nn.ModuleList(EquivariantBlock(hidden) for _ in range(blocks))
        self.out = nn.Linear(hidden, num_types + 1)

    def forward(self, pos, feat, t, batch, num_graphs):
        """pos ``[N, 3]``, feat ``[N, T]``, t ``[num_graphs]``, batch ``[N]`` -> ``[N, 3]``, ``[N, T]``."""
        src, dst = full_edges(torch.bincount(batch, minlength=num_graphs))
        d0 = (pos[dst] - pos[src]).square().sum(-1, keepdim=True)
        h = self.embed(torch.cat([feat, t[batch, None]], -1))
        x = pos
        for block in self.blocks:
            h, x = block(h, x, src, dst, d0)
        return remove_mean(x - pos, batch, num_graphs), self.out(h)[:, :-1]
