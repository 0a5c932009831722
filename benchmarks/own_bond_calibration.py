"""Calibration of the own-bond metrics of ``molgen benchmark molecules`` on real molecules
(prints a markdown table): QM9 test molecules written to SDF with RDKit's bonds
(``rdDetermineBonds`` from the coordinates, total charge 0), then scored like any SDF.

    python benchmarks/own_bond_calibration.py [-n 13083] [--out qm9_test_rdkit_bonds.sdf]

Needs molgen[qm9] (the QM9 test split and the training split's ring systems).
"""

from __future__ import annotations

import argparse

from molgen.benchmark.molecules import benchmark_sdf
from molgen.benchmark.report import markdown_table
from molgen.datasets.qm9 import load_qm9
from molgen.io.sdf import SDFWriter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=None, help="molecules (default: the whole test split)")
    parser.add_argument("--out", default="qm9_test_rdkit_bonds.sdf", help="the SDF written and scored")
    args = parser.parse_args()
    data = load_qm9("test")
    n = len(data) if args.n is None else min(args.n, len(data))
    with SDFWriter(args.out) as writer:
        for i in range(n):
            writer.write(data.molecule(i).to_rdkit())
    result, _ = benchmark_sdf(args.out, progress=True)
    print(f"{n} QM9 test molecules with RDKit's bonds (rdDetermineBonds), {args.out}\n")
    print(markdown_table(result.metrics))
    failures = [s for s in result.scores if not s.strict_valid]
    if failures:
        print("\nstrict failures: " + "; ".join(f"{s.index}: {s.problem}" for s in failures[:10]))


if __name__ == "__main__":
    main()
