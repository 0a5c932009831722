"""What a perfect model of QM9 would score on uniqueness, and where a sample file's molecules lie
relative to QM9 (prints markdown tables).

QM9 enumerates (nearly) every molecule of up to 9 heavy atoms C, N, O, F that GDB-17's rules
admit, so a model can only be unique beyond a point by generating molecules outside it. Two anchors
draw ``-n`` molecules with replacement (as a generative model samples): from the training split (a
model that reproduces its training data exactly) and from all of QM9 (one that reproduces the
population QM9 enumerates). Then, for each SDF given, its distinct valid molecules (the SMILES
of ``molgen benchmark molecules``) split into: in QM9's training split, in its validation or test
split, not in QM9, each with the share whose ring systems all occur in the training split.

    python benchmarks/qm9_coverage.py [SDF ...] [-n 10000] [--seed 0]

Needs molgen[qm9]. QM9's molecules are keyed by their canonical SMILES without stereochemistry.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
from rdkit import Chem, rdBase

from molgen.benchmark import own_bonds
from molgen.benchmark.molecules import benchmark_sdf, qm9_train_ring_systems
from molgen.benchmark.report import rows_table
from molgen.datasets.qm9 import load_qm9
from molgen.structures.molecule import canonical_smiles


def qm9_smiles(split: str) -> list[str]:
    """Canonical SMILES (no stereo) of every molecule of a QM9 split, in the split's order."""
    out = []
    with rdBase.BlockLogs():
        for text in load_qm9(split).smiles:
            mol = Chem.MolFromSmiles(str(text))
            out.append(canonical_smiles(mol, isomeric=False) if mol is not None else "")
    return out


def rings_known(smiles: str, known: set[str]) -> bool:
    """Every ring system of the molecule ``smiles`` occurs in ``known``."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    return mol is not None and own_bonds.ring_systems(mol) <= known


def percent(num: int, den: int) -> str:
    return f"{100 * num / den:.2f} % ({num:,} / {den:,})" if den else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdf", nargs="*", help="sample files to place relative to QM9")
    parser.add_argument("-n", type=int, default=10000, help="draws per anchor (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = qm9_smiles("train")
    held_out = qm9_smiles("valid") + qm9_smiles("test")
    known = qm9_train_ring_systems()
    train_set, held_out_set = set(train), set(held_out) - set(train)
    rng = np.random.default_rng(args.seed)

    rows = []
    for name, pool in (("training split", train), ("all of QM9", train + held_out)):
        draws = [pool[i] for i in rng.integers(0, len(pool), args.n)]
        distinct = set(draws)
        plausible = sum(rings_known(s, known) for s in draws)
        rows.append(
            {
                "drawn from": f"{name} ({len(set(pool)):,} distinct molecules)",
                "uniqueness": percent(len(distinct), len(draws)),
                "not in the training split (of distinct)": percent(len(distinct - train_set), len(distinct)),
                "ring systems known (of draws)": percent(plausible, len(draws)),
            }
        )
    print(f"{args.n:,} molecules drawn with replacement, seed {args.seed}\n")
    print(rows_table(rows))

    for path in args.sdf:
        result, _ = benchmark_sdf(path, progress=True)
        valid = [s for s in result.scores if s.valid]
        counts = Counter(s.smiles for s in valid if s.smiles)
        rings = {s.smiles: s.rings_known for s in valid if s.smiles}
        groups = {
            "in the training split": [s for s in counts if s in train_set],
            "in the validation or test split": [s for s in counts if s in held_out_set],
            "not in QM9": [s for s in counts if s not in train_set and s not in held_out_set],
        }
        rows = [
            {
                "distinct valid molecules": name,
                "share": percent(len(group), len(counts)),
                "samples": sum(counts[s] for s in group),
                "ring systems known": percent(sum(rings[s] for s in group), len(group)),
            }
            for name, group in groups.items()
        ]
        print(f"\n{path}: {len(valid):,} valid of {len(result.scores):,}, {len(counts):,} distinct\n")
        print(rows_table(rows))
        unseen = [s for s in groups["not in QM9"] if not rings[s]]
        most = sorted(unseen, key=lambda s: -counts[s])[:12]
        listed = ", ".join(f"{s} x{counts[s]}" for s in most)
        print(f"\nnot in QM9 with an unseen ring system, most repeated: {listed}")


if __name__ == "__main__":
    main()
