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
