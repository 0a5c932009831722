"""The diffusion state: what the noise process, the denoisers and the samplers pass around."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

Coefficient = float | torch.Tensor  # a number, or a ``[num_graphs]`` tensor of one per graph


@dataclass
class State:
    """Node (and optionally pair) tensors of a batch of graphs, stored graph by graph.

    Attributes:
        pos: ``[num_nodes, 3]`` coordinates (zero mean per graph).
        feat: ``[num_nodes, num_features]`` continuous type features (``[num_nodes, 0]`` for
            backbones, whose atoms have no types to generate).
        batch: ``[num_nodes]`` graph index of every node.
        num_graphs: number of graphs in the batch.
        pair: ``[num_pairs, num_pair_states]`` continuous pair features (bond orders), one row
            per unordered node pair ``i < j`` of each graph, or None (no pair channel).
        pair_index: ``[2, num_pairs]`` the nodes ``(i, j)`` of every row of ``pair``
            (:func:`molgen.core.graph.full_pairs`), or None.
    """

    pos: torch.Tensor
    feat: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    pair: torch.Tensor | None = None
    pair_index: torch.Tensor | None = None

    def replace(self, pos: torch.Tensor, feat: torch.Tensor, pair: torch.Tensor | None = None) -> State:
        """The same graphs with new node tensors, and new pair features (None: keep these)."""
        pair = self.pair if pair is None else pair
        return State(pos, feat, self.batch, self.num_graphs, pair, self.pair_index)

    @property
    def pair_batch(self) -> torch.Tensor | None:
        """``[num_pairs]`` graph index of every pair (None without pairs)."""
        return None if self.pair_index is None else self.batch[self.pair_index[0]]

    def combine(self, terms: Sequence[tuple[Coefficient, State]]) -> State:
        """``sum(c * s for c, s in terms)`` on every channel (the graphs of ``self``): a number
        scales a whole state, a ``[num_graphs]`` tensor scales each graph by its own value."""

        def total(channel: str, index: torch.Tensor | None) -> torch.Tensor | None:
            if getattr(self, channel) is None:
                return None
            out = 0.0
            for coef, state in terms:
                if isinstance(coef, torch.Tensor) and coef.dim() == 1:
                    coef = coef[index, None]
                out = out + coef * getattr(state, channel)
            return out

        return self.replace(
            total("pos", self.batch), total("feat", self.batch), total("pair", self.pair_batch)
        )

    def to(self, device: torch.device | str) -> State:
        """The same state on ``device``."""
        pair, pair_index = (None if x is None else x.to(device) for x in (self.pair, self.pair_index))
        return State(
            self.pos.to(device),
            self.feat.to(device),
            self.batch.to(device),
            self.num_graphs,
            pair,
            pair_index,
        )

    def graphs(self, lo: int, hi: int) -> State:
        """Graphs ``lo .. hi-1`` of the batch, renumbered from 0 (nodes and pairs are stored graph
        by graph)."""
        nodes = (self.batch >= lo) & (self.batch < hi)
        pair = pair_index = None
        if self.pair is not None:
            pairs = (self.pair_batch >= lo) & (self.pair_batch < hi)
            first_node = int((self.batch < lo).sum())
            pair, pair_index = self.pair[pairs], self.pair_index[:, pairs] - first_node
        return State(self.pos[nodes], self.feat[nodes], self.batch[nodes] - lo, hi - lo, pair, pair_index)

    def doubled(self) -> State:
        """The batch followed by a copy of itself (graphs ``G .. 2G-1``): both branches of
        classifier-free guidance in one network pass."""
        pair = pair_index = None
        if self.pair is not None:
            pair = torch.cat([self.pair, self.pair])
            pair_index = torch.cat([self.pair_index, self.pair_index + len(self.pos)], 1)
        return State(
            torch.cat([self.pos, self.pos]),
            torch.cat([self.feat, self.feat]),
            torch.cat([self.batch, self.batch + self.num_graphs]),
            2 * self.num_graphs,
            pair,
            pair_index,
        )
