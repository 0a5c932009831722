"""A dense pair representation over the residues of each chain, refined by triangle updates.

The sparse residue graph of :mod:`molgen.models.backbone_denoiser` sees a residue's nearest
neighbours; whether strand i pairs with strand j is a statement about many pairs at once (if
i-k and k-j are close, so is i-j). A small dense track ``z`` ``[G, L, L, C]`` per chain does that
reasoning: it starts from the noisy CA distance map, the self-conditioning estimate's map, the
sequence separation and the node features, and goes through blocks of triangle multiplicative
updates (outgoing and incoming edges) and a transition (Jumper et al. 2021, AlphaFold2
supplementary Algorithms 11-12 and 15; Genie2 uses the same updates for backbone design, Lin et
al. 2024). The denoiser reads ``z`` on its graph edges, and a distogram head on ``z`` predicts
every residue pair's clean CA distance bin (an auxiliary loss that supervises pairs directly).

All inputs are distances and sequence offsets: ``z`` is invariant to rotations and translations.
Cost: ``O(G L^3 C)`` per block, for chains up to a few hundred residues.
"""

from __future__ import annotations

import torch
from torch import nn

from molgen.core.graph import Padded, full_pairs
from molgen.models.layers import GaussianRBF

# distogram bins of the clean CA-CA distance, in model units (10 Angstrom): below 3 A, 1 A wide
# up to 22 A, beyond it
DISTOGRAM_EDGES = torch.arange(0.3, 2.25, 0.1)
DISTOGRAM_BINS = len(DISTOGRAM_EDGES) + 1


def distogram_bins(distance: torch.Tensor) -> torch.Tensor:
    """Bin index ``[P]`` (long) of CA-CA distances ``[P]`` in model units."""
    return torch.bucketize(distance, DISTOGRAM_EDGES.to(distance.device, distance.dtype))


class TriangleMultiplication(nn.Module):
    """``z_ij += gate * Linear(LN(sum_k a_ik b_jk))`` (outgoing) or ``sum_k a_ki b_kj`` (incoming)."""

    def __init__(self, channels: int, outgoing: bool) -> None:
        super().__init__()
        self.outgoing = outgoing
        self.norm = nn.LayerNorm(channels)
        self.project = nn.Linear(channels, 4 * channels)  # a, b and their gates
        self.gate = nn.Linear(channels, channels)
        self.out_norm = nn.LayerNorm(channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """z ``[G, L, L, C]``, mask ``[G, L, L, 1]`` (real residue pairs). Returns the new z."""
        x = self.norm(z)
        a, b, gate_a, gate_b = self.project(x).chunk(4, dim=-1)
        a = a * torch.sigmoid(gate_a) * mask
        b = b * torch.sigmoid(gate_b) * mask
        if self.outgoing:
            update = torch.einsum("gikc,gjkc->gijc", a, b)
        else:
            update = torch.einsum("gkic,gkjc->gijc", a, b)
        return z + torch.sigmoid(self.gate(x)) * self.out(self.out_norm(update))


class PairBlock(nn.Module):
    """Outgoing and incoming triangle multiplication, then a two-layer transition."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.outgoing = TriangleMultiplication(channels, outgoing=True)
        self.incoming = TriangleMultiplication(channels, outgoing=False)
        wide = 2 * channels
        self.transition = nn.Sequential(
            nn.LayerNorm(channels), nn.Linear(channels, wide), nn.SiLU(), nn.Linear(wide, channels)
        )

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.incoming(self.outgoing(z, mask), mask)
        return z + self.transition(z)


class PairTrack(nn.Module):
    """Builds and refines ``z`` ``[G, L, L, channels]``; see the module docstring."""

    def __init__(
        self, channels: int, blocks: int, node_hidden: int, max_relpos: int, num_rbf: int, rbf_max: float
    ) -> None:
        super().__init__()
        self.max_relpos = max_relpos
        self.rbf = GaussianRBF(num_rbf, rbf_max)
        self.relpos = nn.Embedding(2 * max_relpos + 1, channels)
        self.distance_in = nn.Linear(num_rbf, channels)
        self.previous_in = nn.Linear(num_rbf + 1, channels)  # the estimate's distances and a has-it flag
        self.left = nn.Linear(node_hidden, channels, bias=False)
        self.right = nn.Linear(node_hidden, channels, bias=False)
        self.pairing = nn.Embedding(3, channels)  # none / antiparallel / parallel strand partners
        self.blocks = nn.ModuleList(PairBlock(channels) for _ in range(blocks))
        self.norm = nn.LayerNorm(channels)
        self.distogram = nn.Linear(channels, DISTOGRAM_BINS)

    def forward(
        self,
        padded: Padded,
        ca: torch.Tensor,
        index: torch.Tensor,
        h: torch.Tensor,
        previous_ca: torch.Tensor | None,
        pairing: torch.Tensor | None,
    ) -> torch.Tensor:
        """The refined, symmetric ``z`` ``[G, L, L, C]``.

        Args:
            padded: where the ``R`` residues sit in dense tensors.
            ca: ``[R, 3]`` noisy CA coordinates; ``index`` ``[R]`` residue numbers in the chain.
            h: ``[R, node_hidden]`` node features.
            previous_ca: ``[R, 3]`` CA of the self-conditioning estimate, or None.
            pairing: ``[G, L, L]`` long strand-pairing kinds (0 none), or None.
        """
        idx = padded.dense(index)
        offset = (idx[:, None, :] - idx[:, :, None]).clamp(-self.max_relpos, self.max_relpos)
        z = self.relpos(offset + self.max_relpos) + self.distance_in(self._rbf(padded.dense(ca)))
        if previous_ca is None:
            flagged = z.new_zeros(*z.shape[:3], self.previous_in.in_features)
        else:
            prev = self._rbf(padded.dense(previous_ca))
            flagged = torch.cat([prev, prev.new_ones(*prev.shape[:3], 1)], -1)
        z = z + self.previous_in(flagged)
        hd = padded.dense(h)
        z = z + self.left(hd)[:, :, None] + self.right(hd)[:, None, :]
        if pairing is not None:
            z = z + self.pairing(pairing) * (pairing > 0)[..., None]
        mask = padded.pair_mask[..., None].to(z.dtype)
        z = z * mask
        for block in self.blocks:
            z = block(z, mask)
        z = self.norm(z)
        return 0.5 * (z + z.transpose(1, 2))

    def _rbf(self, ca: torch.Tensor) -> torch.Tensor:
        """``[G, L, L, num_rbf]`` distance features of dense CA coordinates ``[G, L, 3]``."""
        dist = (ca[:, :, None] - ca[:, None, :]).norm(dim=-1)  # exact (cdist's matmul path is not)
        return self.rbf(dist.reshape(-1)).reshape(*dist.shape, -1)

    def distogram_logits(self, z: torch.Tensor, padded: Padded) -> torch.Tensor:
        """``[P, DISTOGRAM_BINS]`` for the unordered residue pairs of
        :func:`molgen.core.graph.full_pairs` (graph by graph)."""
        i, j = full_pairs(padded.counts)
        return self.distogram(padded.pairs(z, i, j))
