"""The Backbone domain object: N, CA, C, O per residue (file formats are in molgen.io.pdb)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ATOMS = ("N", "CA", "C", "O")
ALPHABET = "ACDEFGHIKLMNPQRSTVWY"
MAX_CA_CA = 4.2  # Angstrom; a longer consecutive CA-CA distance is a chain break
C_O_BOND = 1.231  # Angstrom (Engh & Huber 1991)
CA_C_O_ANGLE = 120.5  # degrees


@dataclass
class Backbone:
    """A protein backbone.

    Attributes:
        coords: ``[num_residues, 4, 3]`` coordinates of N, CA, C, O in Angstrom.
        sequence: one-letter residue types (``"G"`` for designed positions).
        chain: chain identifier.
        residue_numbers: PDB residue numbers ``[num_residues]`` (default 1..L).
        b_factors: per-residue B-factors ``[num_residues]`` (default 0).
    """

    coords: np.ndarray
    sequence: str = ""
    chain: str = "A"
    residue_numbers: np.ndarray | None = None
    b_factors: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.coords = np.asarray(self.coords, dtype=np.float64)
        if self.coords.ndim != 3 or self.coords.shape[1:] != (4, 3):
            raise ValueError(f"backbone coords must be [L, 4, 3], got {list(self.coords.shape)}")
        if not np.isfinite(self.coords).all():
            raise ValueError("backbone has non-finite coordinates")
        n = len(self.coords)
        self.sequence = self.sequence or "G" * n
        if len(self.sequence) != n:
            raise ValueError(f"sequence has {len(self.sequence)} letters for {n} residues")
        unknown = set(self.sequence) - set(ALPHABET)
        if unknown:
            raise ValueError(f"unknown residue letters {sorted(unknown)}")
        self.residue_numbers = (
            np.arange(1, n + 1) if self.residue_numbers is None else np.asarray(self.residue_numbers)
        )
        self.b_factors = (
            np.zeros(n) if self.b_factors is None else np.asarray(self.b_factors, dtype=np.float64)
        )

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def ca(self) -> np.ndarray:
        """``[num_residues, 3]`` CA coordinates."""
        return self.coords[:, 1]

    def chain_breaks(self) -> np.ndarray:
        """Indices ``i`` where CA(i)-CA(i+1) exceeds MAX_CA_CA."""
        return np.flatnonzero(np.linalg.norm(np.diff(self.ca, axis=0), axis=-1) > MAX_CA_CA)

    def split_at_breaks(self) -> list[Backbone]:
        """Continuous pieces of this backbone."""
        edges = np.concatenate([[0], self.chain_breaks() + 1, [len(self)]])
        return [self[a:b] for a, b in zip(edges[:-1], edges[1:])]

    def __getitem__(self, index: slice) -> Backbone:
        return Backbone(
            self.coords[index],
            self.sequence[index],
            self.chain,
            self.residue_numbers[index],
            self.b_factors[index],
            dict(self.metadata),
        )


def ideal_oxygens(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Carbonyl O of every residue from N, CA, C ``[L, 3]`` each -> ``[L, 3]``.

    O lies in the peptide plane, C_O_BOND from C, opposite the bisector of C->CA(i) and
    C->N(i+1). The last residue, which has no N(i+1), gets CA-C-O = CA_C_O_ANGLE with the
    N-CA-C-O dihedral at 180 degrees (an approximation).
    """
    o = np.empty_like(c)
    if len(c) > 1:
        u = _unit(ca[:-1] - c[:-1]) + _unit(n[1:] - c[:-1])
        o[:-1] = c[:-1] - C_O_BOND * _unit(u)
    o[-1] = place_atom(n[-1], ca[-1], c[-1], C_O_BOND, CA_C_O_ANGLE, 180.0)
    return o


def with_ideal_oxygens(xyz: np.ndarray) -> np.ndarray:
    """N, CA, C ``[L, 3, 3]`` -> N, CA, C, O ``[L, 4, 3]`` with O from :func:`ideal_oxygens`."""
    o = ideal_oxygens(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    return np.concatenate([xyz, o[:, None]], axis=1)


def place_atom(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float, torsion: float
) -> np.ndarray:
    """Position of D with |CD| = bond, angle BCD = angle and dihedral ABCD = torsion (degrees)."""
    angle, torsion = np.radians(angle), np.radians(torsion)
    bc = _unit(c - b)
    normal = _unit(np.cross(b - a, bc))
    d_local = np.array(
        [
            -bond * np.cos(angle),
            bond * np.sin(angle) * np.cos(torsion),
            bond * np.sin(angle) * np.sin(torsion),
        ]
    )
    frame = np.stack([bc, np.cross(normal, bc), normal], axis=-1)
    return c + frame @ d_local


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)
