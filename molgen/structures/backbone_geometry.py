"""Backbone geometry: ideal values, measurements, and a restrained idealisation.

Ideal bond lengths and angles are Engh & Huber's (Acta Cryst. A47, 392, 1991). The training
set (molgen/data/backbones.npz, 224,806 residues) measures N-CA 1.459 +- 0.012, CA-C 1.525 +- 0.012,
C-N 1.330 +- 0.012 Angstrom; N-CA-C 111.0 +- 2.8, CA-C-N 116.6 +- 1.3, C-N-CA 121.6 +- 1.7 degrees;
CA-CA 3.803 +- 0.056 Angstrom.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from molgen.structures.backbone import C_O_BOND

IDEAL_BONDS = {"N-CA": 1.458, "CA-C": 1.525, "C-N": 1.329}  # Angstrom
IDEAL_ANGLES = {"N-CA-C": 111.2, "CA-C-N": 116.2, "C-N-CA": 121.7}  # degrees
IDEAL_CA_CA = 3.80  # Angstrom, trans peptide
BOND_TOLERANCE = 0.1  # Angstrom
ANGLE_TOLERANCE = 10.0  # degrees
CA_CA_TOLERANCE = 0.2  # Angstrom
# Closest approaches that refinement enforces (below 1e-5 of such pairs in the training set):
MIN_ATOM_DISTANCE = 2.5  # Angstrom, backbone atoms of residues >= 3 apart
MIN_CA_DISTANCE = 3.5  # Angstrom, CA atoms of residues >= 2 apart


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1) + 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def dihedral(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Dihedral angle a-b-c-d in degrees, (-180, 180], for ``[..., 3]`` arrays."""
    b0, b1, b2 = a - b, c - b, d - c
    b1 = b1 / (np.linalg.norm(b1, axis=-1, keepdims=True) + 1e-12)
    v = b0 - (b0 * b1).sum(-1, keepdims=True) * b1
    w = b2 - (b2 * b1).sum(-1, keepdims=True) * b1
    x = (v * w).sum(-1)
    y = (np.cross(b1, v) * w).sum(-1)
    return np.degrees(np.arctan2(y, x))


def measure(coords: np.ndarray) -> dict[str, np.ndarray]:
    """Bond lengths, angles and CA-CA distances of one chain ``[L, >=3, 3]`` (N, CA, C first).

    Returns ``[L]`` arrays for the intra-residue terms and ``[L - 1]`` arrays for the peptide
    bond terms (between residue i and i+1), keyed like IDEAL_BONDS / IDEAL_ANGLES plus ``CA-CA``.
    """
    n, ca, c = coords[:, 0], coords[:, 1], coords[:, 2]
    return {
        "N-CA": np.linalg.norm(n - ca, axis=-1),
        "CA-C": np.linalg.norm(ca - c, axis=-1),
        "C-N": np.linalg.norm(c[:-1] - n[1:], axis=-1),
        "N-CA-C": _angle(n, ca, c),
        "CA-C-N": _angle(ca[:-1], c[:-1], n[1:]),
        "C-N-CA": _angle(c[:-1], n[1:], ca[1:]),
        "CA-CA": np.linalg.norm(ca[:-1] - ca[1:], axis=-1),
    }


def residues_within_tolerance(coords: np.ndarray) -> np.ndarray:
    """``[L]`` bool: every bond, angle and CA-CA term touching the residue is within tolerance
    (bonds +- BOND_TOLERANCE, angles +- ANGLE_TOLERANCE, CA-CA +- CA_CA_TOLERANCE of ideal)."""
    m = measure(coords)
    ok = np.ones(len(coords), dtype=bool)
    for name, ideal in {**IDEAL_BONDS, **IDEAL_ANGLES, "CA-CA": IDEAL_CA_CA}.items():
        tol = BOND_TOLERANCE if name in IDEAL_BONDS else ANGLE_TOLERANCE
        tol = CA_CA_TOLERANCE if name == "CA-CA" else tol
        good = np.abs(m[name] - ideal) <= tol
        if len(good) == len(coords):
            ok &= good
        else:  # a term between residues i and i+1 counts for both
            ok[:-1] &= good
            ok[1:] &= good
    return ok


def idealize(
    coords: np.ndarray, iterations: int = 60, anchor: float = 0.3, fixed: np.ndarray | None = None
) -> np.ndarray:
    """Pull N, CA, C ``[L, 3, 3]`` towards ideal bond lengths, angles and trans peptides, and
    push apart non-bonded atoms closer than ``MIN_ATOM_DISTANCE`` / ``MIN_CA_DISTANCE`` (N, CA,
    C and the carbonyl O of every residue but the last), while staying close to the input
    (harmonic anchor of width ``anchor`` Angstrom); L-BFGS in float64. Residues flagged in
    ``fixed`` (``[L]`` bool, e.g. a motif) do not move.

    This polishes the last few tenths of an Angstrom of a generated backbone; it cannot repair
    a wrong fold. Returns the refined ``[L, 3, 3]`` array.
    """
    start = torch.as_tensor(coords, dtype=torch.float64)
    hold = torch.zeros(len(start), 1, 1, dtype=torch.bool)
    if fixed is not None:
        hold[torch.as_tensor(fixed, dtype=torch.bool)] = True
    free = start.clone().requires_grad_(True)
    bonds = torch.tensor(list(IDEAL_BONDS.values()), dtype=torch.float64)
    cos_angles = torch.cos(torch.deg2rad(torch.tensor(list(IDEAL_ANGLES.values()), dtype=torch.float64)))
    opt = torch.optim.LBFGS([free], max_iter=iterations, line_search_fn="strong_wolfe")
    atom_pairs, ca_pairs = _close_pairs(start)

    def energy() -> torch.Tensor:
        opt.zero_grad()
        x = torch.where(hold, start, free)
        n, ca, c = x[:, 0], x[:, 1], x[:, 2]
        d = [(n - ca).norm(dim=-1), (ca - c).norm(dim=-1), (c[:-1] - n[1:]).norm(dim=-1)]
        e = sum(((di - b) / 0.02).square().sum() for di, b in zip(d, bonds))
        e = e + (((ca[1:] - ca[:-1]).norm(dim=-1) - IDEAL_CA_CA) / 0.02).square().sum()  # trans peptides
        triples = [(n, ca, c), (ca[:-1], c[:-1], n[1:]), (c[:-1], n[1:], ca[1:])]
        for (a, b, cc), cos0 in zip(triples, cos_angles):
            u, v = a - b, cc - b
            cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))
            e = e + ((cos - cos0) / 0.03).square().sum()
        e = e + ((x - start).square().sum(-1) / anchor**2).sum()
        e = e + _repulsion(_with_oxygens(x), atom_pairs, MIN_ATOM_DISTANCE)
        e = e + _repulsion(ca, ca_pairs, MIN_CA_DISTANCE)
        e.backward()
        return e

    opt.step(energy)
    return torch.where(hold, start, free).detach().numpy()


def carbonyl_oxygens(ca: torch.Tensor, c: torch.Tensor, next_n: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` carbonyl O of residues with CA ``ca``, C ``c`` and the next residue's N
    ``next_n``, placed as :func:`molgen.structures.backbone.ideal_oxygens` (differentiable)."""
    u = F.normalize(ca - c, dim=-1) + F.normalize(next_n - c, dim=-1)
    return c - C_O_BOND * F.normalize(u, dim=-1)


def _with_oxygens(x: torch.Tensor) -> torch.Tensor:
    """N, CA, C ``[L, 3, 3]`` -> ``[4 L - 1, 3]`` atoms: N, CA, C of every residue and the
    carbonyl O of residues 0 .. L-2 (:func:`carbonyl_oxygens`), in the order N, CA, C, O per residue."""
    o = carbonyl_oxygens(x[:-1, 1], x[:-1, 2], x[1:, 0])
    return torch.cat([torch.cat([x[:-1], o[:, None]], dim=1).reshape(-1, 3), x[-1]])


def _close_pairs(x: torch.Tensor, margin: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-bonded pairs that refinement could bring within the minimum distances: atoms of
    residues >= 3 apart (``[2, P]`` indices into :func:`_with_oxygens`) and CA atoms of
    residues >= 2 apart (``[2, Q]`` residue indices) that start within that distance + ``margin``."""
    atoms = _with_oxygens(x)
    residue = torch.arange(len(atoms)) // 4
    i, j = torch.triu_indices(len(atoms), len(atoms), offset=1)
    keep = (residue[j] - residue[i] >= 3) & ((atoms[i] - atoms[j]).norm(dim=-1) < MIN_ATOM_DISTANCE + margin)
    ca = x[:, 1]
    a, b = torch.triu_indices(len(ca), len(ca), offset=2)
    near = (ca[a] - ca[b]).norm(dim=-1) < MIN_CA_DISTANCE + margin
    return torch.stack([i[keep], j[keep]]), torch.stack([a[near], b[near]])


def _repulsion(points: torch.Tensor, pairs: torch.Tensor, minimum: float, width: float = 0.1) -> torch.Tensor:
    """Sum of ``((minimum - d) / width)^2`` over the ``pairs`` ``[2, P]`` of ``points`` (distance
    ``d``) closer than ``minimum``."""
    d = (points[pairs[0]] - points[pairs[1]]).norm(dim=-1)
    return ((minimum - d).clamp(min=0) / width).square().sum()
