"""Datasets: QM9 from qm9pack, user SDF/SMILES files, packed molecule arrays."""

from molgen.datasets.packed import PackedMolecules
from molgen.datasets.qm9 import load_qm9, load_qm9_subset, split_indices

__all__ = ["PackedMolecules", "load_qm9", "load_qm9_subset", "split_indices"]
