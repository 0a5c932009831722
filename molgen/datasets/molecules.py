"""A user's molecules (SDF with 3D coordinates, or SMILES embedded with RDKit ETKDG) as a
:class:`PackedMolecules` training set."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import AllChem
from tqdm.auto import tqdm

from molgen.datasets.packed import PackedMolecules
from molgen.datasets.qm9 import load_qm9, load_qm9_subset
from molgen.io.sdf import read_sdf
from molgen.io.smiles import read_smiles
from molgen.structures.molecule import Molecule

logger = logging.getLogger("molgen")

SMILES_SUFFIXES = (".smi", ".smiles", ".txt")


def load_molecule_file(path: str | os.PathLike, seed: int = 0, progress: bool = False) -> PackedMolecules:
    """Read ``.sdf`` (coordinates as given, hydrogens kept) or a SMILES file (explicit
    hydrogens added, one ETKDG conformer each; molecules that fail to embed are skipped)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".sdf":
        molecules = list(read_sdf(path))
        smiles = [""] * len(molecules)
    elif suffix in SMILES_SUFFIXES:
        molecules, smiles = [], []
        failed = 0
        for mol in tqdm(read_smiles(path), disable=not progress, desc="embedding", unit="mol"):
            embedded = embed(mol, seed)
            if embedded is None:
                failed += 1
                continue
            molecules.append(Molecule.from_rdkit(embedded))
            smiles.append(Chem.MolToSmiles(mol))
        if failed:
            logger.warning("%s: %d molecule(s) failed to embed in 3D and were skipped", path, failed)
        if not molecules:
            raise ValueError(f"no molecule of {path} could be embedded in 3D")
    else:
        raise ValueError(f"unsupported molecule file {path}: use .sdf or .smi")
    return PackedMolecules.from_molecules(molecules, smiles)


def embed(mol: Chem.Mol, seed: int = 0) -> Chem.Mol | None:
    """Explicit-hydrogen copy of ``mol`` with one ETKDG conformer (None when embedding fails)."""
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        return None
    return mol


TRAINING_SETS = (
    "qm9 (full; needs the qm9 extra) | qm9-train-a / qm9-train-b (halves of its training split) | qm9-subset"
)


def load_training_molecules(data: str, progress: bool = False) -> PackedMolecules:
    """A training set by name (see ``TRAINING_SETS``) or from an SDF / SMILES file."""
    if data == "qm9":
        return load_qm9("train")
    if data in ("qm9-train-a", "qm9-train-b"):
        return load_qm9(data[4:])
    if data == "qm9-subset":
        return load_qm9_subset("train")
    if not os.path.exists(data):
        raise ValueError(
            f"--data {data!r}: not qm9, qm9-train-a, qm9-train-b, qm9-subset or an existing file"
        )
    return load_molecule_file(data, progress=progress)
