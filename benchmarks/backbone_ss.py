"""How well sampled backbones obey a requested secondary structure (prints a markdown table).

    python benchmarks/backbone_ss.py [--model backbones] [-n 32] [--guidance 1 2] [--steps 100] \
        [--sampler ancestral-mean]

Requests are the DSSP strings of ``n`` real chains (50-128 residues) of the bundled training
set, so every request is a layout proteins actually have. Each is sampled once per guidance
weight (same seeds); agreement is the share of residues whose DSSP class (pydssp) equals the
requested one, overall and per requested class. Issue targets: >= 80 % with guidance, >= 70 %
without.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from molgen.benchmark.report import rows_table
from molgen.datasets.backbones import load_backbone_npz
from molgen.generators.backbones import DEFAULT_SAMPLER, DEFAULT_STEPS, BackboneGenerator
from molgen.generators.conditioners import SecondaryStructure
from molgen.structures.secondary_structure import secondary_structure, ss_agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="backbones")
    parser.add_argument("-n", "--num", type=int, default=32)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    gen = BackboneGenerator.from_pretrained(args.model, device="cpu")
    lo, hi = max(50, gen.length_range[0]), min(128, gen.length_range[1])
    chains = [c for c in load_backbone_npz() if lo <= len(c) <= hi]
    picked = np.random.default_rng(args.seed).choice(len(chains), args.num, replace=False)
    requests = [secondary_structure(chains[i]) for i in picked]
    rows = []
    for weight in args.guidance:
        start = time.perf_counter()
        scores = []
        for k, ss in enumerate(requests):
            design = gen.design(
                1,
                [SecondaryStructure(ss)],
                guidance=weight,
                steps=args.steps,
                sampler=args.sampler,
                seed=args.seed + k,
            )[0]
            scores.append(ss_agreement(ss, secondary_structure(design)))
        seconds = (time.perf_counter() - start) / len(requests)
        row = {"guidance": weight, "designs": len(requests)}
        for key in ("all", "H", "E", "L"):
            values = np.array([s[key] for s in scores])
            row[f"agreement_{key}"] = float(np.nanmean(values))
        rows.append(row | {"seconds_per_design": seconds})
    requested = "".join(requests)
    helix, strand = requested.count("H") / len(requested), requested.count("E") / len(requested)
    print(f"model {args.model}, {args.sampler} {args.steps} steps")
    print(f"{len(requests)} requests = DSSP strings of training chains ({lo}-{hi} residues)")
    print(f"requested helix {helix:.2f}, strand {strand:.2f}")
    print(rows_table(rows))


if __name__ == "__main__":
    main()
