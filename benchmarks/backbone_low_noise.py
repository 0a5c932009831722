"""Does the backbone denoiser keep strands? One-step clean estimates of held-out strand-rich
chains from a little noise (prints a markdown table).

    python benchmarks/backbone_low_noise.py [--model backbones] [--noise 0.4 0.85 1.6 3.3] [--repeats 4]
        [--lengths 40-256]

The chains are data/heldout_chains/ (PDB entries left out of the training set), those within the
model's length range. Per noise level (Angstrom per coordinate: ``z = alpha x + sigma eps`` with
``sigma / alpha`` times the coordinate scale equal to it) and seeded repeat, the network's x0
estimate of the noised N, CA, C (O placed ideally) goes through DSSP. Columns: strand kept = strand
residues of the estimate / strand residues of the real chain (content, pooled over chains);
strand recall = real strand residues that are strand in the estimate; helix kept likewise.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from molgen.core.state import State
from molgen.datasets.backbones import read_backbone_folder
from molgen.diffusion.targets import predict_x0
from molgen.generators.backbones import BackboneGenerator
from molgen.structures.backbone import Backbone, ideal_oxygens
from molgen.structures.secondary_structure import secondary_structure

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "heldout_chains"


@torch.no_grad()
def one_step_estimate(gen: BackboneGenerator, chain: Backbone, noise: float, seed: int) -> str:
    """DSSP string of the network's x0 estimate of ``chain`` noised by ``noise`` Angstrom per coordinate."""
    scale = gen.stats.coord_scale
    xyz = torch.as_tensor(chain.coords[:, :3], dtype=torch.float32).reshape(-1, 3)
    pos = (xyz - xyz.mean(0)) / scale
    x0 = State(pos, pos.new_zeros(len(pos), 0), torch.zeros(len(pos), dtype=torch.long), 1)
    logsnr = -2.0 * math.log(noise / scale)  # sigma / alpha = noise / scale
    alpha, sigma = math.sqrt(1 / (1 + math.exp(-logsnr))), math.sqrt(1 / (1 + math.exp(logsnr)))
    gen_noise = torch.Generator().manual_seed(seed)
    z = x0.replace(alpha * pos + sigma * gen.sde.noise_like(x0, gen_noise).pos, x0.feat)
    t = _time_of(gen, logsnr)
    estimate, _ = predict_x0(gen.net, gen.sde, z, torch.tensor([t]), 1.0)
    if gen.self_conditioning:  # as when sampling: a second pass reading the first estimate
        estimate, _ = predict_x0(gen.net, gen.sde, z, torch.tensor([t]), 1.0, self_cond=estimate)
    out = (estimate.pos.double() * scale).numpy().reshape(-1, 3, 3)
    o = ideal_oxygens(out[:, 0], out[:, 1], out[:, 2])
    return secondary_structure(Backbone(np.concatenate([out, o[:, None]], 1), chain.sequence))


def _time_of(gen: BackboneGenerator, logsnr: float) -> float:
    """The diffusion time with this log-SNR (bisection on the decreasing schedule)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(gen.sde.schedule.logsnr(torch.tensor(mid, dtype=torch.float64))) > logsnr:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="backbones")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.4, 0.85, 1.6, 3.3])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lengths", help="chain lengths MIN-MAX (default: the model's range)")
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
    print("| noise (A per coordinate) | strand kept | strand recall | helix kept | helix recall |")
    print("|---|---|---|---|---|")
    for noise in args.noise:
        kept = {"E": [0, 0, 0], "H": [0, 0, 0]}  # estimate count, recalled, real count
        for chain, truth in zip(chains, real):
            for r in range(args.repeats):
                ss = one_step_estimate(gen, chain, noise, seed=r)
                for k, counts in kept.items():
                    counts[0] += ss.count(k)
                    counts[1] += sum(a == k and b == k for a, b in zip(ss, truth))
                    counts[2] += truth.count(k)
        e, h = kept["E"], kept["H"]
        print(
            f"| {noise} | {e[0] / e[2]:.2f} | {e[1] / e[2]:.2f} | {h[0] / h[2]:.2f} | {h[1] / h[2]:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
