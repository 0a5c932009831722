"""Where generated bonds and geometry disagree: which bonds of an SDF file EDM's distance rule
reads differently from the file's own bonds, and at what lengths (prints markdown tables).

    python benchmarks/bond_length_gap.py samples.sdf [--max-molecules 2000] [--top 12]

Counts the molecules whose own bonds pass the strict check (`molgen benchmark molecules`) but whose
coordinates are not stable by EDM's rule, then tallies every disagreeing bond by element pair, the
file's order (4: aromatic) and the rule's order, with the lengths found. A second table compares
the spread of the bond lengths of the file with that of the real QM9 test molecules (pm), by
element pair and order (hydrogens left out).
"""

from __future__ import annotations

import argparse
import collections
import itertools

import numpy as np

from molgen.benchmark import edm, own_bonds
from molgen.datasets.qm9 import load_qm9
from molgen.io.sdf import iter_sdf_records
from molgen.structures.bond_lengths import bond_orders


def heavy_bond_lengths(molecules) -> dict[tuple[str, int], list[float]]:
    """Lengths (A) of the file's bonds between heavy atoms, by (element pair, order)."""
    lengths = collections.defaultdict(list)
    for m in molecules:
        for i, j, order in m.bonds:
            pair = "".join(sorted([m.symbols[i], m.symbols[j]]))
            if "H" not in pair:
                lengths[(pair, int(order))].append(float(np.linalg.norm(m.pos[i] - m.pos[j])))
    return lengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdf")
    parser.add_argument("--max-molecules", type=int, default=2000)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    records = itertools.islice(iter_sdf_records(args.sdf), args.max_molecules)
    molecules = [m for m in records if m is not None and m.bonds is not None and len(m.bonds)]
    strict = stable = gap = 0
    tally = collections.defaultdict(list)
    for m in molecules:
        rule = bond_orders(m.symbols, m.pos)
        is_stable = bool(edm.atom_stability(m.symbols, rule).all())
        is_strict = not own_bonds.strict_problem(m)
        strict, stable = strict + is_strict, stable + is_stable
        if not is_strict or is_stable:
            continue
        gap += 1
        own = own_bonds.bond_order_matrix(m)
        dist = np.linalg.norm(m.pos[:, None] - m.pos[None], axis=-1)
        for i, j in zip(*np.nonzero(np.triu(own != rule))):
            pair = "".join(sorted([m.symbols[i], m.symbols[j]]))
            tally[(pair, int(own[i, j]), int(rule[i, j]))].append(dist[i, j])
    print(
        f"{len(molecules)} molecules with bonds: strict own-bond valid {strict}, stable by EDM's "
        f"rule {stable}, strict-valid but not stable {gap}\n"
    )
    print("| pair | file's order | rule's order | bonds | mean length (A) | 10th-90th percentile (A) |")
    print("|---|---|---|---|---|---|")
    for (pair, own, rule), d in sorted(tally.items(), key=lambda kv: -len(kv[1]))[: args.top]:
        d = np.array(d)
        p10, p90 = np.percentile(d, [10, 90])
        print(f"| {pair} | {own} | {rule} | {len(d)} | {d.mean():.3f} | {p10:.3f}-{p90:.3f} |")
    qm9 = load_qm9("test")
    real = heavy_bond_lengths(qm9.molecule(i) for i in range(min(len(molecules), len(qm9))))
    ours = heavy_bond_lengths(molecules)
    print("\n| pair, order | bonds | mean (A) | std (pm) | QM9 test mean (A) | QM9 test std (pm) |")
    print("|---|---|---|---|---|---|")
    for key in sorted(ours, key=lambda k: -len(ours[k]))[: args.top]:
        d, r = np.array(ours[key]), np.array(real.get(key, [np.nan]))
        print(
            f"| {key[0]} {key[1]} | {len(d)} | {d.mean():.3f} | {100 * d.std():.1f} "
            f"| {r.mean():.3f} | {100 * r.std():.1f} |"
        )


if __name__ == "__main__":
    main()
