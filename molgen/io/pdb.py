"""PDB/mmCIF reading into Backbones (N, CA, C, O per residue) and atomic PDB writing."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import numpy as np
from Bio.PDB import PDBIO, MMCIFParser, PDBParser
from Bio.PDB.Polypeptide import is_aa, protein_letters_3to1
from Bio.PDB.StructureBuilder import StructureBuilder

from molgen.runtime import atomic_path, molgen_version
from molgen.structures.backbone import ATOMS, Backbone

THREE_LETTER = {one: three for three, one in protein_letters_3to1.items() if len(three) == 3}


def read_chains(path: str | os.PathLike) -> list[Backbone]:
    """All protein chains of the first model; standard residues with N, CA, C, O only
    (selenomethionine read as methionine). Chains are not split at breaks."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"structure file {path} does not exist")
    parser = MMCIFParser(QUIET=True) if path.suffix.lower() in (".cif", ".mmcif") else PDBParser(QUIET=True)
    try:
        structure = parser.get_structure(path.stem, str(path))
    except Exception as err:  # Biopython raises ValueError/KeyError/IndexError on malformed files
        raise ValueError(f"{path}: unreadable structure ({type(err).__name__}: {err})") from None
    models = list(structure)
    if not models:
        return []
    out = []
    for chain in models[0]:
        coords, letters, numbers = [], [], []
        for residue in chain:
            name = "MET" if residue.get_resname() == "MSE" else residue.get_resname()
            if not (is_aa(name, standard=True) and all(a in residue for a in ATOMS)):
                continue
            coords.append([residue[a].coord for a in ATOMS])
            letters.append(protein_letters_3to1[name])
            numbers.append(residue.id[1])
        if coords:
            out.append(Backbone(np.array(coords), "".join(letters), chain.id, np.array(numbers)))
    return out


def read_backbone(path: str | os.PathLike, chain: str | None = None) -> Backbone:
    """The backbone of one chain (default: the first with amino acids) of a PDB/mmCIF file."""
    chains = read_chains(path)
    if not chains:
        raise ValueError(f"{path}: no protein chain with complete backbones")
    if chain is None:
        return chains[0]
    for backbone in chains:
        if backbone.chain == chain:
            return backbone
    raise ValueError(f"{path}: no chain {chain!r}; chains are {[b.chain for b in chains]}")


def write_pdb(backbone: Backbone, path: str | os.PathLike) -> Path:
    """Write ``backbone`` to a PDB file (atomically) with N, CA, C, O per residue and element
    symbols, after a REMARK line naming the molgen version; returns the path."""
    builder = StructureBuilder()
    builder.init_structure("molgen")
    builder.init_model(0)
    builder.init_chain(backbone.chain)
    for i, letter in enumerate(backbone.sequence):
        builder.init_seg("    ")
        builder.init_residue(THREE_LETTER[letter], " ", int(backbone.residue_numbers[i]), " ")
        for name, xyz in zip(ATOMS, backbone.coords[i]):
            builder.init_atom(
                name,
                xyz.astype(np.float32),
                float(backbone.b_factors[i]),
                1.0,
                " ",
                f" {name:<3}",
                element=name[0],
            )
    io = PDBIO()
    io.set_structure(builder.get_structure())
    text = StringIO()
    io.save(text)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(f"REMARK   1 WRITTEN BY MOLGEN {molgen_version()}\n" + text.getvalue())
    return path
