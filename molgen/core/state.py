"""The diffusion state: what the noise process, the denoisers and the samplers pass around."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class State:
    """Node tensors of a batch of graphs (molecules or chains), stored graph by graph.

    Attributes:
        pos: ``[num_nodes, 3]`` coordinates (zero mean per graph).
        feat: ``[num_nodes, num_features]`` continuous type features (``[num_nodes, 0]`` for
            backbones, whose atoms have no types to generate).
        batch: ``[num_nodes]`` graph index of every node.
        num_graphs: number of graphs in the batch.
    """

    pos: torch.Tensor
    feat: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    def replace(self, pos: torch.Tensor, feat: torch.Tensor) -> State:
        return State(pos, feat, self.batch, self.num_graphs)

    def doubled(self) -> State:
        """The batch followed by a copy of itself (graphs ``G .. 2G-1``): both branches of
        classifier-free guidance in one network pass."""
        return State(
            torch.cat([self.pos, self.pos]),
            torch.cat([self.feat, self.feat]),
            torch.cat([self.batch, self.batch + self.num_graphs]),
            2 * self.num_graphs,
        )
