"""Fragment inpainting on QM9 ring scaffolds (prints a markdown table).

    python benchmarks/inpainting.py [--model qm9-heavy-bonds] [-n 100] [--steps S] [--resample R]

Sampler settings left out are the generator's defaults for a request with ``fixed=`` (RePaint
inpainting for a model that does not read fragments, the model's general defaults for one that does).

The fragments are molgen/data/fragments/*.sdf: each scaffold's ring atoms (heavy atoms only, with their
real 3D geometry and Kekule bonds) cut from the first QM9 test molecule that contains it with bonds
that make a valid molecule on their own (``--write-fragments`` recuts them; needs qm9pack). Every
sample must keep them. Per row: contains (the scaffold
matches exactly the fixed atoms of the sample, RDKit substructure search on the sanitised sample),
valid (sanitises, neutral, no radicals), plausible (valid and every ring system, fused rings as one
unit, occurs in QM9's training split; needs qm9pack), connected (valid and one fragment), all over
all samples.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rdkit import Chem

from molgen.benchmark.molecules import qm9_train_ring_systems, sanitised_copy
from molgen.benchmark.own_bonds import ring_systems
from molgen.datasets.qm9 import load_qm9
from molgen.generators.molecules import MoleculeGenerator
from molgen.io.sdf import read_first_molecule, write_sdf
from molgen.runtime import bundled_data
from molgen.structures.molecule import Molecule

FRAGMENTS = bundled_data("fragments")
SCAFFOLDS = {"benzene": "c1ccccc1", "pyridine": "c1ccncc1", "cyclohexane": "C1CCCCC1", "furan": "c1ccoc1"}


def scaffold_fragment(test, smiles: str) -> tuple[Molecule, int]:
    """The scaffold's atoms cut from the first test molecule holding it, and that molecule's index."""
    pattern = Chem.MolFromSmiles(smiles)
    for i, s in enumerate(test.smiles):
        mol = Chem.MolFromSmiles(str(s))
        if mol is None or not mol.HasSubstructMatch(pattern):
            continue
        full = test.molecule(i).to_rdkit()
        match = full.GetSubstructMatch(pattern) if full.GetIntProp("valid") else ()
        if match:
            whole = Molecule.from_rdkit(full)  # Kekule bonds
            index = {a: n for n, a in enumerate(match)}
            bonds = [(index[a], index[b], o) for a, b, o in whole.bonds.tolist() if a in index and b in index]
            fragment = Molecule([whole.symbols[a] for a in match], whole.pos[list(match)], np.array(bonds))
            if fragment.to_rdkit_adding_hydrogens().GetIntProp("valid"):  # its bonds stand alone
                return fragment, i
    raise ValueError(f"no QM9 test molecule contains {smiles}")


def holds_fragment(mol: Chem.Mol, pattern: Chem.Mol, k: int) -> bool:
    """The sample is valid and ``pattern`` matches exactly its first ``k`` (fixed) atoms."""
    if not mol.GetIntProp("valid"):
        return False
    fixed = set(range(k))
    return any(set(m) == fixed for m in mol.GetSubstructMatches(pattern, uniquify=False, maxMatches=1000))


def write_fragments() -> None:
    """Cut every scaffold from QM9's test split into molgen/data/fragments/NAME.sdf (needs qm9pack)."""
    test = load_qm9("test")
    for name, smiles in SCAFFOLDS.items():
        fragment, i = scaffold_fragment(test, smiles)
        mol = fragment.to_rdkit_raw()
        mol.SetProp("_Name", f"{name} ring of QM9 molecule {int(test.props['index'][i])} ({test.smiles[i]})")
        write_sdf([mol], FRAGMENTS / f"{name}.sdf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qm9-heavy-bonds")
    parser.add_argument("-n", "--num-molecules", type=int, default=100)
    parser.add_argument("--steps", type=int, help="default: the generator's")
    parser.add_argument("--resample", type=int, help="RePaint resampling per step (default: the generator's)")
    parser.add_argument("--sampler", help="default: the generator's")
    parser.add_argument(
        "--time-power", type=float, help="time grid t_i = (1 - i/steps)^P (default: the generator's)"
    )
    parser.add_argument("--scaffolds", default=",".join(SCAFFOLDS), help="comma-separated subset")
    parser.add_argument(
        "--max-atoms", type=int, default=9, help="largest sample (heavy atoms for implicit-H models)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write-fragments", action="store_true", help="recut molgen/data/fragments/ from QM9"
    )
    args = parser.parse_args()
    if args.write_fragments:
        write_fragments()
        return
    torch.set_num_threads(args.threads)

    gen = MoleculeGenerator.from_pretrained(args.model, device=args.device)
    known_rings = qm9_train_ring_systems()
    rows = []
    for name in args.scaffolds.split(","):
        smiles = SCAFFOLDS[name]
        path = FRAGMENTS / f"{name}.sdf"
        fragment = read_first_molecule(path)
        k = fragment.num_atoms
        start = time.perf_counter()
        mols = gen.sample(
            args.num_molecules,
            num_atoms=range(k + 1, args.max_atoms + 1),
            steps=args.steps,
            sampler=args.sampler,
            seed=args.seed,
            fixed=fragment,
            resample=args.resample,
            time_power=args.time_power,
        )
        seconds = (time.perf_counter() - start) / len(mols)
        pattern = Chem.MolFromSmiles(smiles)
        contains = np.mean([holds_fragment(m, pattern, k) for m in mols])
        valid = np.mean([m.GetIntProp("valid") for m in mols])
        plausible = np.mean(
            [m.GetIntProp("valid") and ring_systems(sanitised_copy(m)) <= known_rings for m in mols]
        )
        connected = np.mean([m.GetIntProp("valid") and "." not in m.GetProp("smiles") for m in mols])
        rows.append(
            f"| {name} `{smiles}` | `molgen/data/fragments/{path.name}` | {100 * contains:.1f} % | "
            f"{100 * valid:.1f} % | {100 * plausible:.1f} % | {100 * connected:.1f} % | {seconds:.3f} |"
        )
    used = {key: mols[0].GetProp(key) for key in ("sampler", "steps", "resample", "time_power")}
    print(
        f"model `{args.model}`, {args.num_molecules} samples per scaffold, "
        f"sizes (fragment + 1)..{args.max_atoms}, "
        f"sampler {used['sampler']} {used['steps']} steps x {used['resample']} (RePaint), "
        f"time power {used['time_power']}, seed {args.seed}\n"
    )
    print("| scaffold | fragment file | contains scaffold | valid | plausible | connected | s/molecule |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
