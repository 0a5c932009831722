"""SMILES files: one SMILES per line (an optional second column is a name); '#' comments."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from rdkit import Chem, rdBase

logger = logging.getLogger("molgen")


def read_smiles(path: str | os.PathLike) -> Iterator[Chem.Mol]:
    """Stream sanitised RDKit Mols from a SMILES file; bad lines are skipped and counted."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"SMILES file {path} does not exist")
    skipped = good = 0
    with open(path, errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if not fields or fields[0].startswith("#") or fields[0].lower() == "smiles":
                continue
            with rdBase.BlockLogs():
                mol = Chem.MolFromSmiles(fields[0])
            if mol is None or mol.GetNumAtoms() == 0:
                skipped += 1
                continue
            good += 1
            yield mol
    if skipped:
        logger.warning("%s: skipped %d invalid SMILES, read %d", path, skipped, good)
    if good == 0:
        raise ValueError(f"no valid SMILES in {path} ({skipped} bad lines)")
