"""What a backbone may be conditioned on: per-residue secondary structure, per-chain helix and
strand fractions, which strand elements pair (block adjacency), and a motif (residues whose
backbone is given, in any rigid placement).

Every part can be absent ("unspecified"), which is also how the model is trained to work
unconditionally (conditioning dropout) and how classifier-free guidance gets its reference.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch.nn import functional as F

from molgen.core.graph import Padded
from molgen.structures.secondary_structure import SS_UNSPECIFIED


@dataclass(frozen=True)
class BackboneConditions:
    """Conditioning of a batch of ``G`` chains with ``R`` residues in all.

    Attributes:
        ss: ``[R]`` long, secondary structure class per residue (``SS_UNSPECIFIED`` = free).
        ss_fraction: ``[G, 2]`` requested helix and strand fractions per chain.
        ss_fraction_given: ``[G]`` bool, whether ``ss_fraction`` applies to the chain.
        motif: ``[R]`` bool, residues whose backbone is fixed by the motif.
        motif_xyz: ``[R, 3, 3]`` N, CA, C of the motif residues (model units; any rigid placement
            per motif group; rows of non-motif residues are ignored).
        motif_group: ``[R]`` long, motif group of every motif residue: residues of one group keep
            their relative pose, different groups are placed independently (the network sees the
            motif's internal geometry only within a group).
        pair_index: ``[2, Q]`` long, residue pairs ``i < j`` (indices into the ``R`` residues)
            whose strand elements are to pair: every residue of one element with every residue of
            the other (RFdiffusion's block adjacency), so the register is left to the model.
        pair_kind: ``[Q]`` long, ``ANTIPARALLEL`` or ``PARALLEL``
            (:mod:`molgen.structures.secondary_structure`), + ``BRIDGED`` for a pair that is to
            be bridged (the register, where known).
        residue_number: ``[R]`` long position of every residue in its full chain, and
        chain_length: ``[R]`` long length of that chain, when the residues are a crop of longer
            chains (training: windows and spatial crops with gaps); None (sampling): each chain's
            residues are the whole chain, in order.
    """

    ss: torch.Tensor
    ss_fraction: torch.Tensor
    ss_fraction_given: torch.Tensor
    motif: torch.Tensor
    motif_xyz: torch.Tensor
    motif_group: torch.Tensor
    pair_index: torch.Tensor
    pair_kind: torch.Tensor
    residue_number: torch.Tensor | None = None
    chain_length: torch.Tensor | None = None

    @classmethod
    def none(
        cls, num_residues: int, num_graphs: int, device: torch.device | str = "cpu"
    ) -> BackboneConditions:
        """Nothing specified (unconditional generation)."""
        return cls(
            ss=torch.full((num_residues,), SS_UNSPECIFIED, dtype=torch.long, device=device),
            ss_fraction=torch.zeros(num_graphs, 2, device=device),
            ss_fraction_given=torch.zeros(num_graphs, dtype=torch.bool, device=device),
            motif=torch.zeros(num_residues, dtype=torch.bool, device=device),
            motif_xyz=torch.zeros(num_residues, 3, 3, device=device),
            motif_group=torch.zeros(num_residues, dtype=torch.long, device=device),
            pair_index=torch.zeros(2, 0, dtype=torch.long, device=device),
            pair_kind=torch.zeros(0, dtype=torch.long, device=device),
        )

    def unconditional(self) -> BackboneConditions:
        """The reference of classifier-free guidance: the secondary-structure parts (classes,
        fractions, strand pairing) unspecified. The motif stays: it is imposed on every estimate
        (rigid inpainting), not guided."""
        return replace(
            self,
            ss=torch.full_like(self.ss, SS_UNSPECIFIED),
            ss_fraction_given=torch.zeros_like(self.ss_fraction_given),
            pair_index=self.pair_index[:, :0],
            pair_kind=self.pair_kind[:0],
        )

    def cat(self, other: BackboneConditions) -> BackboneConditions:
        """This batch's chains followed by ``other``'s."""
        pair_index = torch.cat([self.pair_index, other.pair_index + len(self.ss)], 1)
        per_item = {
            f.name: _cat(getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if f.name != "pair_index"
        }
        return BackboneConditions(**per_item, pair_index=pair_index)

    def graphs(self, lo: int, hi: int, residue_graph: torch.Tensor) -> BackboneConditions:
        """Chains ``lo .. hi-1`` (``residue_graph`` ``[R]``: the chain of every residue, stored
        chain by chain), residue pairs renumbered from their first residue."""
        residues = (residue_graph >= lo) & (residue_graph < hi)
        pairs = residues[self.pair_index[0]]

        def rows(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x[residues]

        return BackboneConditions(
            ss=rows(self.ss),
            ss_fraction=self.ss_fraction[lo:hi],
            ss_fraction_given=self.ss_fraction_given[lo:hi],
            motif=rows(self.motif),
            motif_xyz=rows(self.motif_xyz),
            motif_group=rows(self.motif_group),
            pair_index=self.pair_index[:, pairs] - int((residue_graph < lo).sum()),
            pair_kind=self.pair_kind[pairs],
            residue_number=rows(self.residue_number),
            chain_length=rows(self.chain_length),
        )

    def pairing_matrix(self, padded: Padded) -> torch.Tensor:
        """``[G, L, L]`` long: the pairing kind of every residue pair of each chain, both orders
        (0: none), at the places of ``padded`` (built from the same residues)."""
        out = torch.zeros(padded.pair_mask.shape, dtype=torch.long, device=self.ss.device)
        i, j = self.pair_index
        graph, row = padded.graph, padded.row
        out[graph[i], row[i], row[j]] = self.pair_kind
        out[graph[j], row[j], row[i]] = self.pair_kind
        return out

    @property
    def has_guided_parts(self) -> bool:
        """Whether secondary structure (per residue, as fractions, or strand pairing) is given."""
        return bool(
            (self.ss != SS_UNSPECIFIED).any() or self.ss_fraction_given.any() or self.pair_kind.numel()
        )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> BackboneConditions:
        return BackboneConditions(
            ss=self.ss.to(device),
            ss_fraction=self.ss_fraction.to(device, dtype),
            ss_fraction_given=self.ss_fraction_given.to(device),
            motif=self.motif.to(device),
            motif_xyz=self.motif_xyz.to(device, dtype),
            motif_group=self.motif_group.to(device),
            pair_index=self.pair_index.to(device),
            pair_kind=self.pair_kind.to(device),
            residue_number=None if self.residue_number is None else self.residue_number.to(device),
            chain_length=None if self.chain_length is None else self.chain_length.to(device),
        )

    def motif_pairs(self, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """``[E]`` bool: both residues of each pair ``(src, dst)`` are in the same motif group."""
        return self.motif[src] & self.motif[dst] & (self.motif_group[src] == self.motif_group[dst])


def _cat(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """Concatenate two optional per-item tensors (both given or both None)."""
    if (a is None) != (b is None):
        raise ValueError("cannot join conditions with and without residue numbering")
    return None if a is None else torch.cat([a, b])


def residue_frames(xyz: torch.Tensor) -> torch.Tensor:
    """Right-handed frames ``[R, 3, 3]`` (rows e1, e2, e3) of residues ``[R, 3, 3]`` (N, CA, C):
    e1 along CA->C, e2 in the N-CA-C plane. Exact for clean (motif) coordinates."""
    e1 = F.normalize(xyz[:, 2] - xyz[:, 1], dim=-1, eps=1e-6)
    to_n = xyz[:, 0] - xyz[:, 1]
    e2 = F.normalize(to_n - (to_n * e1).sum(-1, keepdim=True) * e1, dim=-1, eps=1e-6)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=1)
