"""How close to the real chain is each of a backbone denoiser's estimates? (prints a markdown table)

    python benchmarks/backbone_estimates.py [--model backbones] [--noise 1.6 6 12] [--chains 6]
        [--lengths 40-128]

Held-out chains (data/heldout_chains/, the first ``--chains`` within ``--lengths``) are noised by
``--noise`` A per coordinate (seed 0) and denoised in one self-conditioned pass, as
benchmarks/backbone_low_noise.py does. Columns: the RMSD (A, N, CA, C, no superposition: the
estimate is in the input's frame) of the final x0 estimate and, for a model with
``coordinate_updates``, of the estimates between its layers, averaged over chains.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from molgen.datasets.backbones import read_backbone_folder
from molgen.diffusion.sde import VPSDE
from molgen.diffusion.targets import predict_x0, x0_from_output
from molgen.models.pretrained import load_pretrained
from molgen.training.validation import noised_chain

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "heldout_chains"


def estimate_errors(net, sde, chain, noise: float, coord_scale: float) -> list[float]:
    """RMSD (A) of every estimate of one pass (intermediate ones first, the output last)."""
    x0, z, t = noised_chain(sde, chain, noise, 0, coord_scale)
    with torch.no_grad():
        previous, _ = predict_x0(net, sde, z, t, 1.0)
        final, out = predict_x0(net, sde, z, t, 1.0, self_cond=previous)
    between = [] if out.intermediate is None else list(out.intermediate)
    estimates = [x0_from_output(sde, z, t, out._replace(disp=d), 1.0).pos for d in between] + [final.pos]
    return [float((e - x0.pos).square().sum(-1).mean().sqrt()) * coord_scale for e in estimates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="backbones")
    parser.add_argument("--noise", type=float, nargs="+", default=[1.6, 6.0, 12.0])
    parser.add_argument("--chains", type=int, default=6)
    parser.add_argument("--lengths", default="40-128", help="chain lengths MIN-MAX")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, net, stats, _ = load_pretrained(args.model, kind="backbones")
    sde = VPSDE(config.sde.schedule)
    low, high = (int(v) for v in args.lengths.split("-"))
    chains = [c for c in read_backbone_folder(HELD_OUT) if low <= len(c) <= high][: args.chains]
    steps = config.denoiser.num_layers - 1 if config.denoiser.coordinate_updates else 0
    columns = ["noise (A per coordinate)", *(f"after layer {k + 1}" for k in range(steps)), "output"]
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for noise in args.noise:
        rows = torch.tensor([estimate_errors(net, sde, c, noise, stats.coord_scale) for c in chains])
        print(f"| {noise} | " + " | ".join(f"{v:.2f}" for v in rows.mean(0).tolist()) + " |", flush=True)


if __name__ == "__main__":
    main()
