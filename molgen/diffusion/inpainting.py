"""Rigid inpainting: parts of every sample that are given up to a rigid motion.

At every step the generator replaces the given atoms of the clean-data estimate by the given
coordinates, superposed (rotation and translation only) onto where the estimate put them, so
the network decides where the part goes and the part itself stays exact (fragments of
molecules, motifs of backbones). Fixed atom types and pair states (bonds within the part), when
given, are substituted as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from molgen.core.graph import remove_mean
from molgen.core.state import State
from molgen.structures.superpose import superpose


@dataclass
class RigidParts:
    """Rigid bodies of the same size in a batch (a graph may hold several, each placed on its own).

    Attributes:
        atoms: ``[B, k]`` node indices (in the batch) of the ``B`` bodies' ``k`` atoms.
        pos: ``[B, k, 3]`` their given coordinates (model units, any placement).
        feat: ``[B, k, F]`` their given type features, or None (types are not fixed).
        pair_rows: ``[B, q]`` rows of the state's pair channel among the bodies' atoms, or None.
        pair: ``[B, q, S]`` their given pair features (bond orders), or None.
    """

    atoms: torch.Tensor
    pos: torch.Tensor
    feat: torch.Tensor | None = None
    pair_rows: torch.Tensor | None = None
    pair: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> RigidParts:
        return RigidParts(
            *(
                None if x is None else x.to(device)
                for x in (self.atoms, self.pos, self.feat, self.pair_rows, self.pair)
            )
        )


def impose_rigid(x0: State, parts: Sequence[RigidParts]) -> State:
    """``x0`` with every body superposed onto its estimate and substituted, then re-centred
    (unchanged when there are none). The superposition runs in float64."""
    parts = [p for p in parts if p.atoms.numel()]
    if not parts:
        return x0
    pos, feat = x0.pos.clone(), x0.feat.clone()
    pair = None if x0.pair is None else x0.pair.clone()
    for part in parts:
        atoms = part.atoms.reshape(-1)
        placed = superpose(part.pos.double(), x0.pos[part.atoms].double())
        pos[atoms] = placed.reshape(-1, 3).to(pos.dtype)
        if part.feat is not None:
            feat[atoms] = part.feat.reshape(-1, feat.shape[1]).to(feat.dtype)
        if part.pair is not None and pair is not None:
            pair[part.pair_rows.reshape(-1)] = part.pair.reshape(-1, pair.shape[1]).to(pair.dtype)
    return x0.replace(remove_mean(pos, x0.batch, x0.num_graphs), feat, pair)


def group_rigid(
    atoms: Sequence[torch.Tensor], pos: Sequence[torch.Tensor], feat: Sequence[torch.Tensor] | None = None
) -> list[RigidParts]:
    """Bodies given one by one (``atoms[i]`` ``[k_i]`` node indices, ``pos[i]`` ``[k_i, 3]``,
    ``feat[i]`` ``[k_i, F]``) grouped by size into batched :class:`RigidParts`."""
    groups: dict[int, list[int]] = {}
    for i, a in enumerate(atoms):
        if len(a):
            groups.setdefault(len(a), []).append(i)
    return [
        RigidParts(
            torch.stack([atoms[i] for i in members]),
            torch.stack([pos[i] for i in members]),
            None if feat is None else torch.stack([feat[i] for i in members]),
        )
        for members in groups.values()
    ]
