"""SMILES files: one SMILES per line (an optional second column is a name); '#' comments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from rdkit import Chem, rdBase

from molgen.io.records import readable


def read_smiles(path: str | os.PathLike) -> Iterator[Chem.Mol]:
    """Stream sanitised RDKit Mols from a SMILES file; bad lines are skipped and counted."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"SMILES file {path} does not exist")
    return readable(
        _parse_lines(path),
        path,
        skipped="invalid SMILES",
        nothing=f"no valid SMILES in {path}",
        bad="bad lines",
    )


def _parse_lines(path: Path) -> Iterator[Chem.Mol | None]:
    """One Mol (None if invalid) per SMILES line; comments, blank lines and headers skipped."""
    with open(path, errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if not fields or fields[0].startswith("#") or fields[0].lower() == "smiles":
                continue
            with rdBase.BlockLogs():
                mol = Chem.MolFromSmiles(fields[0])
            yield mol if mol is not None and mol.GetNumAtoms() else None
