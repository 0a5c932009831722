"""3D plausibility and distribution metrics, accumulated as fixed-bin histograms (bounded memory).

* Bond lengths per bond type (e.g. ``C-H``, ``C=O``; EDM's distance rule decides the bonds) and
  bond angles per angle type (e.g. ``C-C-H``, centre in the middle), compared with a reference
  set by the 1-Wasserstein distance between histograms (Angstrom, degrees).
* Steric clashes: two atoms that are neither bonded nor share a bonded neighbour, closer than
  0.5 x the sum of their van der Waals radii (RDKit's table).
* Total-variation distance of atom-type, ring-size (SSSR of the EDM-bonded graph) and
  molecule-size distributions.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from rdkit import Chem, rdBase

from molgen.benchmark import edm
from molgen.structures.bond_lengths import ELEMENTS, bond_orders

BOND_BINS = np.linspace(0.6, 2.2, 161)  # 0.01 A
ANGLE_BINS = np.linspace(0.0, 180.0, 181)  # 1 degree
CLASH_FACTOR = 0.5
_PT = Chem.GetPeriodicTable()
_BOND_SYMBOL = {1: "-", 2: "=", 3: "#"}


class DistributionStats:
    """Histograms and counts over a set of molecules; add molecules one at a time."""

    def __init__(self) -> None:
        self.bonds: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(BOND_BINS) - 1))
        self.angles: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(ANGLE_BINS) - 1))
        self.atom_types: Counter = Counter()
        self.ring_sizes: Counter = Counter()
        self.sizes: Counter = Counter()
        self.molecules = 0
        self.clashing_molecules = 0

    def add(self, symbols: list[str], pos: np.ndarray, orders: np.ndarray | None = None) -> int:
        """Accumulate one molecule; returns its number of clashing atom pairs."""
        if orders is None:
            orders = bond_orders(symbols, pos)
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        rank = {s: k for k, s in enumerate(ELEMENTS)}
        for i, j in zip(*np.nonzero(np.triu(orders))):
            a, b = sorted((symbols[i], symbols[j]), key=lambda s: rank.get(s, 99))
            self.bonds[f"{a}{_BOND_SYMBOL[orders[i, j]]}{b}"] += np.histogram(dist[i, j], BOND_BINS)[0]
        bonded = orders > 0
        for centre in range(len(symbols)):
            nbrs = np.flatnonzero(bonded[centre])
            for x in range(len(nbrs)):
                for y in range(x + 1, len(nbrs)):
                    i, j = nbrs[x], nbrs[y]
                    u, v = pos[i] - pos[centre], pos[j] - pos[centre]
                    cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)
                    a, b = sorted((symbols[i], symbols[j]), key=lambda s: rank.get(s, 99))
                    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
                    self.angles[f"{a}-{symbols[centre]}-{b}"] += np.histogram(angle, ANGLE_BINS)[0]
        clashes = count_clashes(symbols, dist, bonded)
        self.atom_types.update(symbols)
        self.sizes[len(symbols)] += 1
        self.ring_sizes.update(_ring_sizes(symbols, pos, orders))
        self.molecules += 1
        self.clashing_molecules += clashes > 0
        return clashes

    def compare(self, reference: DistributionStats, top: int = 8) -> dict[str, float]:
        """Distances to ``reference``: W1 per frequent bond/angle type, their count-weighted
        means, total-variation distances, and the clash-free fraction of this set."""
        out: dict[str, float] = {}
        for name, mine, ref, bins in (
            ("bond", self.bonds, reference.bonds, BOND_BINS),
            ("angle", self.angles, reference.angles, ANGLE_BINS),
        ):
            keys = sorted(ref, key=lambda k: -ref[k].sum())
            weights, dists = [], []
            for key in keys:
                if key in mine and mine[key].sum() > 0:
                    d = wasserstein_hist(mine[key], ref[key], bins)
                    weights.append(ref[key].sum())
                    dists.append(d)
                    if len(weights) <= top:
                        out[f"{name}_w1[{key}]"] = d
            out[f"{name}_w1_mean"] = float(np.average(dists, weights=weights)) if dists else float("nan")
        out["atom_type_tv"] = total_variation(self.atom_types, reference.atom_types)
        out["ring_size_tv"] = total_variation(self.ring_sizes, reference.ring_sizes)
        out["size_tv"] = total_variation(self.sizes, reference.sizes)
        out["clash_free"] = 1 - self.clashing_molecules / max(self.molecules, 1)
        return out


def count_clashes(symbols: list[str], dist: np.ndarray, bonded: np.ndarray) -> int:
    """Atom pairs beyond 1-3 neighbours closer than CLASH_FACTOR x the sum of vdW radii."""
    radii = np.array([_PT.GetRvdw(s) for s in symbols])
    near = bonded | ((bonded.astype(int) @ bonded.astype(int)) > 0)
    np.fill_diagonal(near, True)
    too_close = (dist < CLASH_FACTOR * (radii[:, None] + radii[None])) & ~near
    return int(np.triu(too_close).sum())


def wasserstein_hist(a: np.ndarray, b: np.ndarray, bins: np.ndarray) -> float:
    """1-Wasserstein distance between two histograms on the same bins (units of ``bins``)."""
    ca, cb = np.cumsum(a) / a.sum(), np.cumsum(b) / b.sum()
    return float(np.sum(np.abs(ca - cb) * np.diff(bins)))


def total_variation(a: Counter, b: Counter) -> float:
    """Half the L1 distance between two normalised count distributions (0 = identical)."""
    na, nb = sum(a.values()) or 1, sum(b.values()) or 1
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def _ring_sizes(symbols: list[str], pos: np.ndarray, orders: np.ndarray) -> list[int]:
    mol = edm.to_rdkit(symbols, pos, orders)
    with rdBase.BlockLogs():
        Chem.FastFindRings(mol)
    return [len(r) for r in mol.GetRingInfo().AtomRings()]
