"""Quick per-design checks of a backbone: geometry, chain breaks, clashes, compactness, DSSP
secondary structure and helix handedness (the sampling manifest's metrics and the backbone
benchmark's rows).

Definitions:

- geometry: a residue is within tolerance when every bond length (N-CA, CA-C, C-N) is within
  0.1 A of Engh & Huber's ideal, every angle (N-CA-C, CA-C-N, C-N-CA) within 10 degrees and the
  CA-CA distance to its neighbours within 0.2 A of 3.80 A
  (:func:`molgen.structures.backbone_geometry.residues_within_tolerance`).
- chain break: consecutive CA atoms more than 4.2 A apart.
- clash: two backbone atoms of residues at least 3 apart closer than 2.0 A, or two CA atoms of
  non-consecutive residues closer than 3.0 A.
- radius of gyration: of the CA atoms.
- secondary structure: DSSP (:func:`molgen.structures.secondary_structure.secondary_structure`).
- helix handedness: a helix (run of >= 4 DSSP H residues) is right-handed when its mean phi
  dihedral is negative.
- sheet: two strands pair, i.e. DSSP finds a ladder of at least two consecutive beta bridges
  (:func:`molgen.structures.secondary_structure.has_sheet`).
"""

from __future__ import annotations

import itertools

import numpy as np

from molgen.structures.backbone import Backbone
from molgen.structures.backbone_geometry import dihedral, residues_within_tolerance
from molgen.structures.secondary_structure import has_sheet, secondary_structure

CLASH_ATOM = 2.0  # Angstrom, backbone atoms of residues >= 3 apart
CLASH_CA = 3.0  # Angstrom, CA atoms of non-consecutive residues
HELIX_MIN_RESIDUES = 4


def radius_of_gyration(backbone: Backbone) -> float:
    ca = backbone.ca
    return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean()))


def count_clashes(backbone: Backbone) -> int:
    """Number of clashing atom pairs (definitions in the module docstring)."""
    x = backbone.coords.reshape(-1, 3)
    residue = np.repeat(np.arange(len(backbone)), 4)
    sep = np.abs(residue[:, None] - residue[None, :])
    dist = np.linalg.norm(x[:, None] - x[None, :], axis=-1)
    atom = np.triu((dist < CLASH_ATOM) & (sep >= 3))
    ca = backbone.ca
    ca_dist = np.linalg.norm(ca[:, None] - ca[None, :], axis=-1)
    ca_sep = np.abs(np.arange(len(ca))[:, None] - np.arange(len(ca))[None, :])
    ca_clash = np.triu((ca_dist < CLASH_CA) & (ca_sep >= 2))
    return int(atom.sum() + ca_clash.sum())


def helix_handedness(backbone: Backbone, ss: str) -> tuple[int, int]:
    """(right-handed helices, all helices) among DSSP H runs of >= HELIX_MIN_RESIDUES."""
    c = backbone.coords
    phi = np.full(len(c), np.nan)
    phi[1:] = dihedral(c[:-1, 2], c[1:, 0], c[1:, 1], c[1:, 2])
    right = total = 0
    for letter, run in itertools.groupby(enumerate(ss), key=lambda x: x[1]):
        idx = [i for i, _ in run]
        if letter != "H" or len(idx) < HELIX_MIN_RESIDUES:
            continue
        total += 1
        right += int(np.nanmean(phi[idx]) < 0)
    return right, total


def score_backbone(backbone: Backbone) -> dict:
    """Per-design numbers (the manifest's quick metrics and the benchmark's rows)."""
    ss = secondary_structure(backbone)
    right, helices = helix_handedness(backbone, ss)
    n = len(backbone)
    return {
        "length": n,
        "geometry_ok": float(residues_within_tolerance(backbone.coords).mean()),
        "chain_breaks": len(backbone.chain_breaks()),
        "clashes": count_clashes(backbone),
        "rg": radius_of_gyration(backbone),
        "helix": ss.count("H") / n,
        "strand": ss.count("E") / n,
        "loop": ss.count("L") / n,
        "helices": helices,
        "right_handed_helices": right,
        "sheet": int(has_sheet(backbone)),
        "ss": ss,
    }
