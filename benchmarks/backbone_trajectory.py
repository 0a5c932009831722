"""Secondary structure of the clean estimate along a sampling trajectory (prints a markdown table).

    python benchmarks/backbone_trajectory.py [--model backbones] [--length 100] [-n 8]
        [--steps 100] [--sampler ancestral-mean] [--time-power P] [--seed 0] [--rows 10]

Unconditional designs are sampled as ``BackboneGenerator.sample`` samples them (same prior,
self-conditioning and sampler); at evenly spaced steps the network's x0 estimate gets ideal
carbonyl oxygens and goes through DSSP. The table shows at which noise levels strands and
helices appear in the estimates and whether they survive to the end: the low-noise test
(``backbone_low_noise.py``) asks whether the network keeps real strands, this one whether the
sampler keeps the strands the network proposes.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from molgen.core.state import State
from molgen.diffusion.guidance import guided_x0
from molgen.diffusion.samplers import sample
from molgen.generators.backbones import DEFAULT_SAMPLER, DEFAULT_STEPS, BackboneGenerator
from molgen.structures.backbone import Backbone, with_ideal_oxygens
from molgen.structures.secondary_structure import secondary_structure


def dssp_shares(pos: torch.Tensor, num_chains: int, scale: float) -> tuple[float, float]:
    """Mean helix and strand share of ``num_chains`` equal-length chains, ``pos`` ``[3 R, 3]``."""
    xyz = pos.double().cpu().numpy().reshape(num_chains, -1, 3, 3) * scale
    shares = []
    for chain in xyz:
        ss = secondary_structure(Backbone(with_ideal_oxygens(chain), "G" * len(chain)))
        shares.append((ss.count("H") / len(ss), ss.count("E") / len(ss)))
    return tuple(np.mean(shares, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="backbones")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("-n", "--num", type=int, default=8)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER)
    parser.add_argument("--time-power", type=float, help="time grid power (default: the model's, else 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=10, help="estimates shown (evenly spaced steps)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = BackboneGenerator.from_pretrained(args.model, device="cpu")
    gen.check_lengths([args.length])
    power = args.time_power if args.time_power is not None else float(gen.sampling.get("time_power", 1.0))
    atoms = 3 * args.length * args.num
    batch = torch.arange(args.num).repeat_interleave(3 * args.length)
    shape = State(torch.zeros(atoms, 3), torch.zeros(atoms, 0), batch, args.num)
    z = gen.sde.prior(shape, torch.Generator().manual_seed(args.seed))
    estimates, previous = [], None

    def denoise(state: State, t: float) -> State:
        nonlocal previous
        tt = torch.full((state.num_graphs,), t)
        x0 = guided_x0(gen.net, gen.sde, state, tt, 1.0, None, 1.0, previous)
        previous = x0 if gen.self_conditioning else None
        estimates.append((t, x0.pos))
        return x0

    with torch.no_grad():
        sample(
            denoise,
            gen.sde,
            z,
            args.steps,
            args.sampler,
            torch.Generator().manual_seed(args.seed),
            time_power=power,
        )
    shown = sorted({round(k * (len(estimates) - 1) / max(args.rows - 1, 1)) for k in range(args.rows)})
    scale = gen.stats.coord_scale  # Angstrom per model unit
    print(f"model {args.model}, {args.num} designs of {args.length} residues, ", end="")
    print(f"{args.sampler} {args.steps} steps, time power {power}\n")
    print("| step | t | noise (A per coordinate) | helix in estimate | strand in estimate |")
    print("|---|---|---|---|---|")
    for k in shown:
        t, pos = estimates[k]
        logsnr = float(gen.sde.schedule.logsnr(torch.tensor(t, dtype=torch.float64)))
        noise = scale * math.exp(-logsnr / 2)  # sigma / alpha
        helix, strand = dssp_shares(pos, args.num, scale)
        print(f"| {k + 1} | {t:.2f} | {noise:.1f} | {helix:.2f} | {strand:.2f} |")


if __name__ == "__main__":
    main()
