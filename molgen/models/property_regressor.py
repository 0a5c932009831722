"""An E(3)-invariant property regressor: the denoiser's EGNN layers and a sum over atoms.

Used as EDM's evaluation of property-conditioned generation: trained on molecules the generator
never saw, it predicts the properties of generated molecules, to compare with the requested ones.
"""

from __future__ import annotations

import torch
from torch import nn

from molgen.config import RegressorConfig
from molgen.models.molecule_denoiser import EGNNLayer, run_layers


class PropertyRegressor(nn.Module):
    """Predicts ``len(config.properties)`` normalised properties per molecule."""

    def __init__(self, config: RegressorConfig) -> None:
        super().__init__()
        net = config.network
        self.embed = nn.Linear(len(config.vocab), net.hidden)
        self.layers = nn.ModuleList(
            EGNNLayer(net.hidden, net.edge_hidden, net.num_rbf, net.rbf_max) for _ in range(net.num_layers)
        )
        self.head = nn.Sequential(
            nn.LayerNorm(net.hidden),
            nn.Linear(net.hidden, net.hidden),
            nn.SiLU(),
            nn.Linear(net.hidden, len(config.properties)),
        )

    def forward(
        self, pos: torch.Tensor, feat: torch.Tensor, batch: torch.Tensor, num_graphs: int
    ) -> torch.Tensor:
        """pos ``[N, 3]`` (model units), feat ``[N, num_types]`` one-hot types, batch ``[N]``
        -> ``[num_graphs, num_properties]`` (sum of per-atom contributions)."""
        h, _, _ = run_layers(self.layers, self.embed(feat), pos, batch, num_graphs)
        out = torch.zeros(num_graphs, self.head[-1].out_features, dtype=h.dtype, device=h.device)
        return out.index_add_(0, batch, self.head(h))
