"""Molecules stored back to back in flat arrays (fast, picklable, batched by index)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem

from molgen.runtime import atomic_path
from molgen.structures.molecule import Molecule

_PT = Chem.GetPeriodicTable()


@dataclass
class PackedMolecules:
    """A molecule set as flat arrays.

    Attributes:
        atomic_numbers: ``[total_atoms]`` uint8.
        pos: ``[total_atoms, 3]`` float32 coordinates in Angstrom.
        offsets: ``[num_molecules + 1]`` int64; molecule ``i`` is rows ``offsets[i]:offsets[i+1]``.
        smiles: ``[num_molecules]`` str, may be empty strings.
        props: name -> ``[num_molecules]`` float64 arrays (e.g. QM9 properties).
        bonds: optional ``[num_bonds, 3]`` int64 ``(row_i, row_j, order)`` with ``row_i < row_j``
            rows of the flat atom arrays and Kekulé orders 1/2/3, grouped by molecule in order
            (None: no bonds known).
        bond_offsets: ``[num_molecules + 1]`` int64 (with ``bonds``); molecule ``i`` owns bonds
            ``bond_offsets[i]:bond_offsets[i+1]``.
        charges: optional ``[total_atoms]`` int8 formal charges (with ``bonds``).
    """

    atomic_numbers: np.ndarray
    pos: np.ndarray
    offsets: np.ndarray
    smiles: np.ndarray
    props: dict[str, np.ndarray] = field(default_factory=dict)
    bonds: np.ndarray | None = None
    bond_offsets: np.ndarray | None = None
    charges: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_atoms(self) -> np.ndarray:
        """``[num_molecules]`` atoms per molecule."""
        return np.diff(self.offsets)

    @classmethod
    def from_molecules(cls, molecules: list[Molecule], smiles: list[str] | None = None) -> PackedMolecules:
        """Pack ``molecules``; their bonds and charges come along when every molecule has
        Kekulé bonds (orders 1-3)."""
        if not molecules:
            raise ValueError("no molecules to pack")
        counts = np.array([m.num_atoms for m in molecules])
        packed = cls(
            atomic_numbers=np.array(
                [_PT.GetAtomicNumber(s) for m in molecules for s in m.symbols], dtype=np.uint8
            ),
            pos=np.concatenate([m.pos for m in molecules]).astype(np.float32),
            offsets=_offsets(counts),
            smiles=np.array(smiles if smiles is not None else [""] * len(molecules)),
        )
        kekule = all(m.bonds is not None and np.isin(m.bonds[:, 2], (1, 2, 3)).all() for m in molecules)
        return packed.with_bonds(molecules) if kekule else packed

    def molecule(self, i: int) -> Molecule:
        a, b = self.offsets[i], self.offsets[i + 1]
        symbols = [_PT.GetElementSymbol(int(z)) for z in self.atomic_numbers[a:b]]
        props = {k: float(v[i]) for k, v in self.props.items()}
        if self.bonds is None:
            return Molecule(symbols, self.pos[a:b], props=props)
        bonds = self.bonds[self.bond_offsets[i] : self.bond_offsets[i + 1]] - np.array([a, a, 0])
        return Molecule(symbols, self.pos[a:b], bonds, props, self.charges[a:b])

    def atom_rows(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the atoms of ``indices`` and the molecule slot of each row (vectorised).

        Returns:
            rows: ``[num_atoms_in_batch]`` indices into the flat arrays.
            batch: ``[num_atoms_in_batch]`` position of each atom's molecule in ``indices``.
        """
        indices = np.asarray(indices, dtype=np.int64)
        counts = self.num_atoms[indices]
        batch = np.repeat(np.arange(len(indices)), counts)
        starts = np.repeat(self.offsets[indices], counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return starts + within, batch

    def subset(self, indices: np.ndarray) -> PackedMolecules:
        indices = np.asarray(indices, dtype=np.int64)
        rows, _ = self.atom_rows(indices)
        counts = self.num_atoms[indices]
        subset = PackedMolecules(
            atomic_numbers=self.atomic_numbers[rows],
            pos=self.pos[rows],
            offsets=_offsets(counts),
            smiles=self.smiles[indices],
            props={k: v[indices] for k, v in self.props.items()},
        )
        if self.bonds is not None:
            new_row = np.full(len(self.pos), -1, dtype=np.int64)
            new_row[rows] = np.arange(len(rows))
            subset.bonds, subset.bond_offsets = self._bonds_of(indices, new_row)
            subset.charges = self.charges[rows]
        return subset

    def bond_rows(self, indices: np.ndarray) -> np.ndarray:
        """``[num_bonds_in_batch]`` rows of ``bonds`` of the molecules ``indices``, in that order."""
        counts = np.diff(self.bond_offsets)[indices]
        starts = np.repeat(self.bond_offsets[indices], counts)
        return starts + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)

    def _bonds_of(self, indices: np.ndarray, new_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bonds of the molecules ``indices`` with atom rows renumbered by ``new_row`` (-1:
        atom dropped, and its bonds with it), and their offsets."""
        bonds = self.bonds[self.bond_rows(indices)]
        molecule = np.repeat(np.arange(len(indices)), np.diff(self.bond_offsets)[indices])
        ends = new_row[bonds[:, :2]]
        keep = (ends >= 0).all(1)
        bonds = np.concatenate([ends, bonds[:, 2:]], 1)[keep]
        return bonds, _offsets(np.bincount(molecule[keep], minlength=len(indices)))

    def without_hydrogens(self) -> PackedMolecules:
        """The same molecules with their hydrogen atoms removed (heavy-atom skeletons)."""
        heavy = self.atomic_numbers != 1
        counts = np.diff(np.concatenate([[0], np.cumsum(heavy)])[self.offsets])
        if (counts == 0).any():
            raise ValueError(f"{int((counts == 0).sum())} molecules have no heavy atoms")
        skeletons = PackedMolecules(
            atomic_numbers=self.atomic_numbers[heavy],
            pos=self.pos[heavy],
            offsets=_offsets(counts),
            smiles=self.smiles,
            props=dict(self.props),
        )
        if self.bonds is not None:
            new_row = np.where(heavy, np.cumsum(heavy) - 1, -1)
            skeletons.bonds, skeletons.bond_offsets = self._bonds_of(np.arange(len(self)), new_row)
            skeletons.charges = self.charges[heavy]
        return skeletons

    def with_bonds(self, molecules: list[Molecule]) -> PackedMolecules:
        """These molecules with the bonds and formal charges of ``molecules`` (one per molecule,
        same atoms in the same order; Kekulé orders 1-3)."""
        bonds = [m.bonds if m.bonds is not None else np.zeros((0, 3), np.int64) for m in molecules]
        for i, b in enumerate(bonds):
            if len(b) and not np.isin(b[:, 2], (1, 2, 3)).all():
                raise ValueError(f"molecule {i}: bond orders must be Kekulé (1, 2 or 3)")
        rows = np.concatenate([np.sort(b[:, :2], 1) + a for b, a in zip(bonds, self.offsets)])
        orders = np.concatenate([b[:, 2] for b in bonds])
        charges = [m.charges if m.charges is not None else np.zeros(m.num_atoms) for m in molecules]
        return PackedMolecules(
            self.atomic_numbers,
            self.pos,
            self.offsets,
            self.smiles,
            self.props,
            np.concatenate([rows, orders[:, None]], 1).astype(np.int64),
            _offsets(np.array([len(b) for b in bonds])),
            np.concatenate(charges).astype(np.int8),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write a compressed ``.npz`` atomically (no pickled objects inside)."""
        arrays = {
            "atomic_numbers": self.atomic_numbers,
            "pos": self.pos,
            "offsets": self.offsets,
            "smiles": self.smiles.astype("U"),
        }
        arrays.update({f"prop_{k}": v for k, v in self.props.items()})
        if self.bonds is not None:
            arrays.update(bonds=self.bonds, bond_offsets=self.bond_offsets, charges=self.charges)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PackedMolecules:
        with np.load(Path(path), allow_pickle=False) as d:
            props = {k[5:]: d[k] for k in d.files if k.startswith("prop_")}
            bonds = [d[k] if k in d.files else None for k in ("bonds", "bond_offsets", "charges")]
            return cls(d["atomic_numbers"], d["pos"], d["offsets"], d["smiles"], props, *bonds)


def _offsets(counts: np.ndarray) -> np.ndarray:
    """``[len(counts) + 1]`` int64 start offsets of consecutive groups of ``counts`` items."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
