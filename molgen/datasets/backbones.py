"""Protein backbone training sets: the bundled chains (``molgen/data/backbones.npz``), or PDB/mmCIF files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from molgen.io.pdb import read_chains
from molgen.runtime import bundled_data
from molgen.structures.backbone import ALPHABET, Backbone

logger = logging.getLogger("molgen")

BUNDLED_BACKBONES = bundled_data("backbones.npz")
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


def load_backbone_npz(path: str | os.PathLike = BUNDLED_BACKBONES) -> list[Backbone]:
    """Chains of a ``backbones.npz`` (format in data/README.md); ``metadata`` carries
    ``id``, ``source``, ``o_imputed`` and ``cluster``."""
    with np.load(Path(path), allow_pickle=False) as d:
        lengths = d["lengths"]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        alphabet = str(d["alphabet"])
        if alphabet != ALPHABET:
            raise ValueError(f"{path}: unexpected residue alphabet {alphabet!r}")
        coords, seq = d["coords"], d["seq"]
        out = []
        for i in range(len(lengths)):
            a, b = offsets[i], offsets[i + 1]
            meta = {
                "id": str(d["ids"][i]),
                "source": str(d["source"][i]),
                "o_imputed": bool(d["o_imputed"][i]),
                "cluster": int(d["cluster"][i]),
            }
            out.append(Backbone(coords[a:b], "".join(ALPHABET[k] for k in seq[a:b]), metadata=meta))
    return out


def read_backbone_folder(folder: str | os.PathLike, min_length: int = 20) -> list[Backbone]:
    """Every chain of every PDB/mmCIF file in ``folder`` (first model, standard residues),
    split at chain breaks; pieces shorter than ``min_length`` are dropped. Unreadable files are
    skipped with a warning; a folder with nothing usable is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in STRUCTURE_SUFFIXES)
    pieces, bad = [], []
    for path in files:
        try:
            chains = read_chains(path)
        except ValueError:
            bad.append(path.name)
            continue
        for chain in chains:
            for piece in chain.split_at_breaks():
                if len(piece) >= min_length:
                    piece.metadata["id"] = f"{path.stem}_{chain.chain}"
                    pieces.append(piece)
    if bad:
        logger.warning("%s: skipped %d unreadable file(s): %s", folder, len(bad), bad[:10])
    if not pieces:
        raise ValueError(f"no protein chain of >= {min_length} residues in {folder} ({len(files)} files)")
    return pieces


BUNDLED_SET_NAME = "pdb-chains"  # --data name of the bundled training set


def load_backbone_set(path: str | os.PathLike | None = None) -> list[Backbone]:
    """Backbones from a ``.npz`` (format in data/README.md), a folder of PDB/mmCIF files, or
    (None or ``"pdb-chains"``) the bundled training set."""
    if path is None or str(path) == BUNDLED_SET_NAME:
        return load_backbone_npz()
    path = Path(path)
    if path.is_dir():
        return read_backbone_folder(path)
    if path.suffix == ".npz" and path.is_file():
        return load_backbone_npz(path)
    raise ValueError(f"{path}: not a folder of structures or an existing .npz file")
