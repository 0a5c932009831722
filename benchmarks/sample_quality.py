"""Quality of sampled molecules vs denoiser steps (prints a markdown table).

    python benchmarks/sample_quality.py [--model qm9] [-n 1000] [--steps 10 25 50 100]
        [--sampler dpm2m] [--device cpu]

Per row: valid (bonds from coordinates: RDKit's rdDetermineBonds for explicit-hydrogen models,
EDM's distance rule plus RDKit's hydrogens for implicit-hydrogen ones; sanitises, no radicals,
net-neutral fragments; denominator: all samples), connected (valid and one fragment;
all samples), unique (distinct canonical SMILES among valid / valid), novel (unique valid SMILES
not in QM9's training split / unique valid; needs qm9pack, else "n/a"), and wall time per molecule.
These are molgen's own quick checks, not the EDM-protocol stability of the benchmark module.
"""

from __future__ import annotations

import argparse
import time

import torch
from rdkit import Chem

from molgen.generators.molecules import MoleculeGenerator


def training_smiles() -> set[str] | None:
    try:
        from molgen.datasets.qm9 import load_qm9

        return {Chem.CanonSmiles(s, useChiral=False) for s in load_qm9("train").smiles}
    except ModuleNotFoundError:
        return None


def score(mols: list[Chem.Mol], reference: set[str] | None) -> dict[str, float]:
    n = len(mols)
    valid = [m.GetProp("smiles") for m in mols if m.GetIntProp("valid")]
    connected = [s for s in valid if "." not in s]
    unique = {Chem.CanonSmiles(s, useChiral=False) for s in valid}
    row = {
        "valid": len(valid) / n,
        "connected": len(connected) / n,
        "unique": len(unique) / max(len(valid), 1),
    }
    row["novel"] = len(unique - reference) / max(len(unique), 1) if reference is not None else float("nan")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qm9")
    parser.add_argument("-n", "--num-molecules", type=int, default=1000)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--sampler", default="dpm2m")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    gen = MoleculeGenerator.from_pretrained(args.model, device=args.device)
    reference = training_smiles()
    print(
        f"model `{args.model}`, {args.num_molecules} samples per row, sampler {args.sampler}, "
        f"seed {args.seed}, batch {args.batch_size}, device {gen.device}, {args.threads} CPU thread(s)"
    )
    print()
    print("| steps | valid | connected | unique (of valid) | novel (of unique) | s/molecule |")
    print("|---|---|---|---|---|---|")
    for steps in args.steps:
        start = time.perf_counter()
        mols = gen.sample(
            args.num_molecules, steps=steps, sampler=args.sampler, seed=args.seed, batch_size=args.batch_size
        )
        per_mol = (time.perf_counter() - start) / len(mols)
        r = score(mols, reference)
        print(
            f"| {steps} | {100 * r['valid']:.1f} % | {100 * r['connected']:.1f} % | "
            f"{100 * r['unique']:.1f} % | {100 * r['novel']:.1f} % | {per_mol:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
