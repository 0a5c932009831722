"""EDM's evaluation protocol for 3D molecules (Hoogeboom et al., ICML 2022), from coordinates only.

Bond orders come from interatomic distances (:mod:`molgen.structures.bond_lengths`). An atom is
*stable* when its summed bond order equals its valence (H 1, C 4, N 3, O 2, F 1); a molecule is
stable when all atoms are.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem

from molgen.structures.molecule import Molecule

VALENCE = {"H": 1, "C": 4, "N": 3, "O": 2, "F": 1}


def atom_stability(symbols: list[str], orders: np.ndarray) -> np.ndarray:
    """``[N]`` bool: summed bond order equals the element's valence."""
    valence = np.array([VALENCE.get(s, -1) for s in symbols])
    return orders.sum(1) == valence


def to_rdkit(symbols: list[str], pos: np.ndarray, orders: np.ndarray) -> Chem.Mol:
    """An RDKit molecule with the bond-order matrix ``orders`` and one conformer (not sanitised)."""
    i, j = np.nonzero(np.triu(orders))
    return Molecule(symbols, pos, np.stack([i, j, orders[i, j]], -1)).to_rdkit_raw()
