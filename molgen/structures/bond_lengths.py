"""Bond orders from interatomic distances: the rule of EDM (Hoogeboom et al., ICML 2022).

A pair is bonded when its distance is below the typical single-bond length plus 10 pm; the order
rises to 2 below the double-bond length plus 5 pm and to 3 below the triple-bond length plus
3 pm. Bond lengths (pm) are the typical values tabulated by EDM (from wiredchemist.com and
chemistry-reference.com); only the elements of QM9 are covered. Used by the EDM benchmark
protocol and to build molecules from heavy-atom samples.
"""

from __future__ import annotations

import numpy as np

ELEMENTS = ("H", "C", "N", "O", "F")
MARGINS_PM = (10.0, 5.0, 3.0)

_SINGLE = {
    ("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92,
    ("C", "C"): 154, ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135,
    ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136,
    ("O", "O"): 148, ("O", "F"): 142, ("F", "F"): 142,
}  # fmt: skip
_DOUBLE = {
    ("C", "C"): 134,
    ("C", "N"): 129,
    ("C", "O"): 120,
    ("N", "N"): 125,
    ("N", "O"): 121,
    ("O", "O"): 121,
}
_TRIPLE = {("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113, ("N", "N"): 110}


def _table(lengths: dict[tuple[str, str], float]) -> np.ndarray:
    """Symmetric ``[6, 6]`` table in Angstrom; index 5 (unknown element) and gaps are -inf."""
    out = np.full((len(ELEMENTS) + 1, len(ELEMENTS) + 1), -np.inf)
    for (a, b), pm in lengths.items():
        i, j = ELEMENTS.index(a), ELEMENTS.index(b)
        out[i, j] = out[j, i] = pm / 100.0
    return out


_THRESHOLDS = np.stack(
    [_table(t) + m / 100.0 for t, m in zip((_SINGLE, _DOUBLE, _TRIPLE), MARGINS_PM)]
)  # [3, 6, 6]: single, double, triple cut-offs in Angstrom


def element_indices(symbols: list[str]) -> np.ndarray:
    """``[N]`` index into ELEMENTS, ``len(ELEMENTS)`` for elements outside the tables."""
    lookup = {s: i for i, s in enumerate(ELEMENTS)}
    return np.array([lookup.get(s, len(ELEMENTS)) for s in symbols], dtype=np.int64)


def bond_orders(symbols: list[str], pos: np.ndarray) -> np.ndarray:
    """``[N, N]`` int bond-order matrix (0 = no bond) from distances, EDM's rule."""
    idx = element_indices(symbols)
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    cut = _THRESHOLDS[:, idx[:, None], idx[None, :]]  # [3, N, N]
    order = (dist[None] < cut).astype(np.int64)
    # a double needs the single criterion, a triple the double one (cut-offs shrink with order)
    orders = order[0] * (1 + order[1] * (1 + order[2]))
    np.fill_diagonal(orders, 0)
    return orders
