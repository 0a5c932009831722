"""Secondary structure of backbones: the three-class alphabet (H helix, E strand, L loop), DSSP
assignment, and agreement of an observed string with a requested one.

DSSP is pydssp's implementation, on N, CA, C, O, reduced to the three classes H / E / loop.
"""

from __future__ import annotations

import numpy as np
import torch

from molgen.structures.backbone import Backbone

SS_CLASSES = "HEL"  # helix, strand, loop; index len(SS_CLASSES) means unspecified
SS_UNSPECIFIED = len(SS_CLASSES)


def ss_indices(ss: str) -> torch.Tensor:
    """``"HHEL-"`` -> ``[R]`` class indices (``-`` and ``X`` are unspecified)."""
    table = {letter: i for i, letter in enumerate(SS_CLASSES)} | {"-": SS_UNSPECIFIED, "X": SS_UNSPECIFIED}
    unknown = sorted(set(ss) - set(table))
    if unknown:
        raise ValueError(f"secondary structure letters must be H, E, L, - or X; got {''.join(unknown)!r}")
    return torch.tensor([table[letter] for letter in ss], dtype=torch.long)


def secondary_structure(backbone: Backbone) -> str:
    """DSSP string, one of ``H``, ``E``, ``L`` per residue."""
    import pydssp

    ss = pydssp.assign(backbone.coords.astype(np.float32), out_type="c3")
    return "".join(ss).replace("-", "L")


def hydrogen_bonds(backbone: Backbone) -> np.ndarray:
    """``[R, R]`` bool: ``[i, j]`` when the N-H of residue ``i`` bonds the C=O of residue ``j``
    (DSSP's electrostatic energy below -0.5 kcal/mol, as pydssp computes it)."""
    import pydssp

    return pydssp.get_hbond_map(backbone.coords.astype(np.float32)) > 0.5


MIN_BRIDGE_SEPARATION = 3  # residues: partners closer in sequence form turns, not bridges


def bridge_partners(backbone: Backbone) -> tuple[np.ndarray, np.ndarray]:
    """DSSP's beta bridges (Kabsch & Sander 1983) from pydssp's hydrogen-bond map.

    With ``hb(a, b)`` the C=O of residue ``a`` bonded to the N-H of residue ``b``: residues ``i``
    and ``j`` form a parallel bridge when ``hb(i-1, j) and hb(j, i+1)`` or ``hb(j-1, i) and
    hb(i, j+1)``; an antiparallel one when ``hb(i, j) and hb(j, i)`` or ``hb(i-1, j+1) and
    hb(j-1, i+1)``.

    Returns:
        pairs: ``[P, 2]`` residue pairs ``i < j`` (at least ``MIN_BRIDGE_SEPARATION`` apart).
        parallel: ``[P]`` bool, True for a parallel bridge.
    """
    hb = np.pad(hydrogen_bonds(backbone).T, 1)  # hb[a + 1, b + 1]: C=O of a -> N-H of b; padded for i-1, i+1
    n = len(backbone)
    i, j = np.triu_indices(n, MIN_BRIDGE_SEPARATION)
    a, b = i + 1, j + 1  # padded indices
    parallel = (hb[a - 1, b] & hb[b, a + 1]) | (hb[b - 1, a] & hb[a, b + 1])
    antiparallel = (hb[a, b] & hb[b, a]) | (hb[a - 1, b + 1] & hb[b - 1, a + 1])
    bridged = parallel | antiparallel
    return np.stack([i[bridged], j[bridged]], 1), parallel[bridged]


def has_sheet(backbone: Backbone) -> bool:
    """Whether two strands pair: a ladder of at least two consecutive bridges (``(i, j)`` and
    ``(i+1, j+1)`` or ``(i+1, j-1)``)."""
    pairs, _ = bridge_partners(backbone)
    found = {tuple(p) for p in pairs.tolist()}
    return any((i + 1, j + 1) in found or (i + 1, j - 1) in found for i, j in found)


ANTIPARALLEL, PARALLEL = 1, 2  # kinds of a strand pairing (0: none)
# a pair kind + BRIDGED (3, 4) marks a residue pair of two pairing strands that DSSP bridges: the
# register, for models trained with BackboneDenoiserConfig.registers
BRIDGED = 2


def strand_elements(ss: str) -> np.ndarray:
    """``[R]`` strand element of every residue: runs of ``E`` numbered 0, 1, ... from the N
    terminus (``E1`` of a pairing request is element 0); -1 outside strands."""
    letters = np.frombuffer(ss.encode(), dtype=np.uint8) == ord("E")
    starts = letters & ~np.concatenate([[False], letters[:-1]])
    return np.where(letters, np.cumsum(starts) - 1, -1)


def strand_pairing(
    backbone: Backbone, ss: str | None = None, bridges: tuple[np.ndarray, np.ndarray] | None = None
) -> dict[tuple[int, int], int]:
    """Which strand elements of ``backbone`` pair (DSSP bridges between them): ``{(a, b): kind}``
    with ``a < b`` element numbers (:func:`strand_elements`) and kind ``PARALLEL`` when most of
    their bridges are parallel, else ``ANTIPARALLEL``. ``ss`` and ``bridges``
    (:func:`bridge_partners`) are computed when not given."""
    ss = secondary_structure(backbone) if ss is None else ss
    element = strand_elements(ss)
    pairs, parallel = bridge_partners(backbone) if bridges is None else bridges
    votes: dict[tuple[int, int], list[int]] = {}
    for (i, j), par in zip(pairs.tolist(), parallel.tolist()):
        a, b = sorted((int(element[i]), int(element[j])))
        if a >= 0 and a != b:
            votes.setdefault((a, b), []).append(int(par))
    return {key: PARALLEL if 2 * sum(v) > len(v) else ANTIPARALLEL for key, v in votes.items()}


def ss_agreement(requested: str, observed: str) -> dict[str, float]:
    """Share of the specified residues whose DSSP class matches the request: overall (``all``)
    and per requested class (``H``, ``E``, ``L``; NaN for a class not requested). ``-``/``X``
    residues are free and not counted."""
    if len(requested) != len(observed):
        raise ValueError(f"requested {len(requested)} residues, observed {len(observed)}")
    want = np.array(list(requested.upper().replace("X", "-")))
    got = np.array(list(observed))
    out = {}
    for key, mask in [("all", want != "-")] + [(c, want == c) for c in "HEL"]:
        out[key] = float((want[mask] == got[mask]).mean()) if mask.any() else float("nan")
    return out
