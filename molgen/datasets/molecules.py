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
