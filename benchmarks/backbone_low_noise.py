"""Does the backbone denoiser keep strands? One-step clean estimates of held-out strand-rich
chains from a little noise (prints a markdown table).

    python benchmarks/backbone_low_noise.py [--model backbones] [--noise 0.4 0.85 1.6 3.3] [--repeats 4]
        [--lengths 40-256] [--recycles 1]

The chains are data/heldout_chains/ (PDB entries left out of the training set), those within the
model's length range. Per noise level (Angstrom per coordinate: ``z = alpha x + sigma eps`` with
``sigma / alpha`` times the coordinate scale equal to it) and seeded repeat, the network's x0
estimate of the noised N, CA, C (O placed ideally) goes through DSSP. Columns: strand kept = strand
residues of the estimate / strand residues of the real chain (content, pooled over chains);
strand recall = real strand residues that are strand in the estimate; helix kept likewise; local
/ non-local H-bonds kept = the real chains' backbone hydrogen bonds (pydssp) between residues at
most 5 / more than 5 apart in sequence that the estimate keeps (non-local ones hold sheets).
``--recycles N``: a self-conditioning model reads its own previous estimate N times (1: as in
sampling and training).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from molgen.datasets.backbones import read_backbone_folder
from molgen.generators.backbones import BackboneGenerator
from molgen.structures.secondary_structure import secondary_structure
from molgen.training.validation import hbond_retention, one_step_estimates, ss_retention

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "heldout_chains"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="backbones")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.4, 0.85, 1.6, 3.3])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lengths", help="chain lengths MIN-MAX (default: the model's range)")
    parser.add_argument("--recycles", type=int, default=1, help="self-conditioned passes after the first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = BackboneGenerator.from_pretrained(args.model, device="cpu")
    lo, hi = map(int, args.lengths.split("-")) if args.lengths else gen.length_range
    chains = [c for c in read_backbone_folder(HELD_OUT) if lo <= len(c) <= hi]
    real = [secondary_structure(c) for c in chains]
    names = ", ".join(f"{c.metadata.get('id', '?')} ({len(c)})" for c in chains)
    print(f"model `{args.model}`; {len(chains)} held-out chains within {lo}-{hi} residues: {names}")
    strand, helix = (sum(s.count(k) for s in real) for k in "EH")
    print(f"real: strand {strand} and helix {helix} residues\n")
    columns = ["strand_kept", "strand_recall", "helix_kept", "helix_recall"]
    columns += ["local_hbonds_kept", "nonlocal_hbonds_kept"]
    print("| noise (A per coordinate) | " + " | ".join(c.replace("_", " ") for c in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for noise in args.noise:
        estimates = one_step_estimates(
            gen.net,
            gen.sde,
            chains,
            noise,
            gen.stats.coord_scale,
            gen.self_conditioning,
            args.repeats,
            args.recycles,
        )
        r = ss_retention(estimates) | hbond_retention(estimates)
        print(f"| {noise} | " + " | ".join(f"{r[c]:.2f}" for c in columns) + " |", flush=True)


if __name__ == "__main__":
    main()
