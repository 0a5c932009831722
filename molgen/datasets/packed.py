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
    """

    atomic_numbers: np.ndarray
    pos: np.ndarray
    offsets: np.ndarray
    smiles: np.ndarray
    props: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_atoms(self) -> np.ndarray:
        """``[num_molecules]`` atoms per molecule."""
        return np.diff(self.offsets)

    @classmethod
    def from_molecules(cls, molecules: list[Molecule], smiles: list[str] | None = None) -> PackedMolecules:
        if not molecules:
            raise ValueError("no molecules to pack")
        counts = np.array([m.num_atoms for m in molecules])
        return cls(
            atomic_numbers=np.array(
                [_PT.GetAtomicNumber(s) for m in molecules for s in m.symbols], dtype=np.uint8
            ),
            pos=np.concatenate([m.pos for m in molecules]).astype(np.float32),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            smiles=np.array(smiles if smiles is not None else [""] * len(molecules)),
        )

    def molecule(self, i: int) -> Molecule:
        a, b = self.offsets[i], self.offsets[i + 1]
        symbols = [_PT.GetElementSymbol(int(z)) for z in self.atomic_numbers[a:b]]
        props = {k: float(v[i]) for k, v in self.props.items()}
        return Molecule(symbols, self.pos[a:b], props=props)

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
        return PackedMolecules(
            atomic_numbers=self.atomic_numbers[rows],
            pos=self.pos[rows],
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            smiles=self.smiles[indices],
            props={k: v[indices] for k, v in self.props.items()},
        )

    def without_hydrogens(self) -> PackedMolecules:
        """The same molecules with their hydrogen atoms removed (heavy-atom skeletons)."""
        heavy = self.atomic_numbers != 1
        counts = np.diff(np.concatenate([[0], np.cumsum(heavy)])[self.offsets])
        if (counts == 0).any():
            raise ValueError(f"{int((counts == 0).sum())} molecules have no heavy atoms")
        return PackedMolecules(
            atomic_numbers=self.atomic_numbers[heavy],
            pos=self.pos[heavy],
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            smiles=self.smiles,
            props=dict(self.props),
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
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PackedMolecules:
        with np.load(Path(path), allow_pickle=False) as d:
            props = {k[5:]: d[k] for k in d.files if k.startswith("prop_")}
            return cls(d["atomic_numbers"], d["pos"], d["offsets"], d["smiles"], props)
