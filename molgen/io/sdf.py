"""SDF reading (streaming, bad records skipped and counted) and atomic, streaming writing."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from rdkit import Chem, rdBase

from molgen.io.records import readable
from molgen.runtime import atomic_path
from molgen.structures.molecule import Molecule

logger = logging.getLogger("molgen")


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or a ValueError when no file can be written there."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"output {path} is a directory, expected an .sdf file path")
    if not path.parent.exists():
        raise ValueError(f"output folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"output folder {path.parent} is not writable")
    return path


def sdf_record(mol: Chem.Mol, number: int) -> str:
    """One SDF record of ``mol``, its SD tags numbered ``number`` (what RDKit's SDWriter writes as
    the ``number``-th record of a file, so a file can be continued record by record)."""
    tags = "".join(f">  <{name}>  ({number}) \n{mol.GetProp(name)}\n\n" for name in mol.GetPropNames())
    return Chem.MolToMolBlock(mol, kekulize=True) + tags + "$$$$\n"


class SDFWriter:
    """Writes molecules to ``path`` as they come; the file appears only on successful close.

    Use as a context manager. Records go to a temporary file beside ``path``, which is
    renamed onto ``path`` when the block exits without error (so a crash or a kill leaves no
    truncated SDF under the final name).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_output_file(path)
        self.count = 0

    def __enter__(self) -> SDFWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._handle = open(tmp, "w")
        return self

    def write(self, mol: Chem.Mol) -> None:
        self.count += 1
        self._handle.write(sdf_record(mol, self.count))

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._handle.close()
        return bool(self._atomic.__exit__(exc_type, exc, tb))


def iter_sdf_records(path: str | os.PathLike, remove_hs: bool = False) -> Iterator[Molecule | None]:
    """Stream every record of an SDF file: a Molecule, or None for an unreadable record
    (parse error, no atoms, no coordinates). Raises ValueError when the file is missing."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"SDF file {path} does not exist")
    with open(path, "rb") as handle:
        supplier = Chem.ForwardSDMolSupplier(handle, sanitize=False, removeHs=remove_hs)
        while True:
            with rdBase.BlockLogs():  # per-record parse errors become None, silently
                mol = next(supplier, StopIteration)
            if mol is StopIteration:
                return
            if mol is None or mol.GetNumAtoms() == 0 or mol.GetNumConformers() == 0:
                yield None
                continue
            try:
                molecule = Molecule.from_rdkit(mol)
            except ValueError:
                molecule = None
            yield molecule


def read_sdf(path: str | os.PathLike, remove_hs: bool = False) -> Iterator[Molecule]:
    """Stream the readable molecules of an SDF file.

    Unreadable records are skipped; the count is logged as a warning at the end. Raises
    ValueError when the file is missing or yields nothing.
    """
    return readable(
        iter_sdf_records(path, remove_hs),
        path,
        skipped="unreadable SDF record(s)",
        nothing=f"no readable molecules in {path}",
        bad="bad records",
    )


def read_first_molecule(path: str | os.PathLike) -> Molecule:
    """The first readable molecule of an SDF file (hydrogens kept as written); ValueError if none."""
    return next(read_sdf(path))


def write_sdf(molecules, path: str | os.PathLike) -> int:
    """Write an iterable of RDKit Mols to ``path`` atomically; returns the record count."""
    with SDFWriter(path) as writer:
        for mol in molecules:
            writer.write(mol)
    return writer.count
