"""Training and sampling throughput of the molecule denoiser on QM9 batches, next to an EDM-sized
reference EGNN timed in the same run (prints a markdown table).

    python benchmarks/throughput.py [--model qm9] [--threads 1] [--batch 64] [--iters 20] [--device cpu]

Training: forward + backward + AdamW step on batches of the bundled QM9 subset (molecules/s);
the reference (`reference_egnn.py`, 9 x 256, ~5.3M parameters, eps-prediction MSE) gets the same
batches. Sampling: denoiser evaluations (molecule-evaluations/s) at the sampling batch size for
both, and the end-to-end cost per molecule of ``MoleculeGenerator.sample`` (50 steps, bond
perception included). The ratio column is molgen / reference: the machine is shared, so only
ratios from one run are comparable.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from reference_egnn import ReferenceEGNN
from torch.nn import functional as F

from molgen.config import TrainConfig
from molgen.core.graph import full_pairs
from molgen.core.state import State
from molgen.datasets.qm9 import load_qm9_subset
from molgen.diffusion.targets import predict_x0
from molgen.generators.molecules import MoleculeGenerator
from molgen.structures.vocab import AtomVocab
from molgen.training.losses import TrainingBatch, molecule_loss
from molgen.training.trainer import EncodedMolecules, model_atoms

WARMUP = 3


def median_rate(step: Callable[[int], None], items: int, iters: int, device: torch.device) -> float:
    """``items`` per second of ``step(i)`` (median over ``iters`` calls after a warm-up)."""
    times = []
    for i in range(iters + WARMUP):
        start = time.perf_counter()
        step(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
    return items / float(np.median(times))


def clean_batches(gen: MoleculeGenerator, data, batch: int, count: int) -> list[tuple[State, dict]]:
    """``count`` random training batches on the generator's device: x0 (with its pair channel for
    a model with bonds) and the targets (``types``, ``bond_orders``) of a TrainingBatch."""
    config = gen.config
    enc = EncodedMolecules(
        model_atoms(data, config), AtomVocab(config.vocab), gen.stats.coord_scale, bonds=config.bonds
    )
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        indices = rng.choice(len(enc), batch, replace=False)
        pos, types, b = enc.batch(indices)
        feat = F.one_hot(types, config.num_types).float() * config.sde.type_scale
        x0, targets = State(pos, feat, b, batch), {"types": types.to(gen.device)}
        if config.bonds:
            pair_index = full_pairs(torch.bincount(b, minlength=batch))
            orders = enc.bond_orders(indices)
            pair = F.one_hot(orders, config.num_pair_states).float() * config.sde.pair_scale
            x0 = State(pos, feat, b, batch, pair, pair_index)
            targets["bond_orders"] = orders.to(gen.device)
        out.append((x0.to(gen.device), targets))
    return out


def training_rates(gen: MoleculeGenerator, data, batch: int, iters: int) -> tuple[float, float]:
    """(molgen, reference) training molecules/s on the same batches."""
    batches = clean_batches(gen, data, batch, iters + WARMUP)
    sde = gen.sde
    times = [torch.rand(batch, device=gen.device) for _ in batches]
    reference = ReferenceEGNN(len(gen.symbols)).to(gen.device)
    rates = []
    for net in (gen.net.train(), reference):
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)

        def step(i: int, net=net, opt=opt) -> None:
            (x0, targets), t = batches[i], times[i]
            noise = sde.noise_like(x0)
            if net is reference:
                z = sde.add_noise(x0, t, noise)
                eps_pos, eps_feat = net(z.pos, z.feat, t, z.batch, z.num_graphs)
                loss = F.mse_loss(eps_pos, noise.pos) + F.mse_loss(eps_feat, noise.feat)
            else:
                loss = molecule_loss(
                    net, sde, TrainingBatch(x0, t, noise, **targets), gen.config.sde, TrainConfig()
                )[0]
            opt.zero_grad()
            loss.backward()
            opt.step()

        rates.append(median_rate(step, batch, iters, gen.device))
    gen.net.eval()
    return rates[0], rates[1]


@torch.no_grad()
def evaluation_rates(gen: MoleculeGenerator, data, batch: int, iters: int) -> tuple[float, float]:
    """(molgen, reference) denoiser evaluations (molecules/s) at sampling batch ``batch``."""
    ((x0, _),) = clean_batches(gen, data, batch, 1)
    z = x0.replace(x0.pos, torch.randn_like(x0.feat), None if x0.pair is None else torch.randn_like(x0.pair))
    t = torch.full((batch,), 0.5, device=gen.device)
    reference = ReferenceEGNN(len(gen.symbols)).to(gen.device).eval()
    ours = median_rate(
        lambda i: predict_x0(
            gen.net, gen.sde, z, t, gen.config.sde.type_scale, pair_scale=gen.config.sde.pair_scale
        ),
        batch,
        iters,
        gen.device,
    )
    theirs = median_rate(lambda i: reference(z.pos, z.feat, t, z.batch, batch), batch, iters, gen.device)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qm9")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64, help="training batch (molecules)")
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    gen = MoleculeGenerator.from_pretrained(args.model, device=args.device)
    data = load_qm9_subset("train")
    params = sum(p.numel() for p in gen.net.parameters())
    ref_params = sum(p.numel() for p in ReferenceEGNN(len(gen.symbols)).parameters())
    train = training_rates(gen, data, args.batch, args.iters)
    evals = evaluation_rates(gen, data, args.sample_batch, args.iters)
    start = time.perf_counter()
    mols = gen.sample(args.num_samples, steps=50, seed=0, batch_size=args.sample_batch)
    per_mol = (time.perf_counter() - start) / len(mols)

    device = torch.cuda.get_device_name(gen.device) if gen.device.type == "cuda" else "CPU"
    print(
        f"model `{args.model}` ({gen.config.hydrogens} hydrogens): {params / 1e6:.2f}M parameters; "
        f"reference EGNN {ref_params / 1e6:.2f}M; torch {torch.__version__}, "
        f"{args.threads} thread(s), {device}"
    )
    print()
    print("| measurement | molgen | reference EGNN | ratio |")
    print("|---|---|---|---|")
    label = f"training, molecules/s (batch {args.batch}, fwd+bwd+AdamW)"
    print(f"| {label} | {train[0]:.0f} | {train[1]:.1f} | {train[0] / train[1]:.1f}x |")
    label = f"denoiser evaluations, molecules/s (batch {args.sample_batch})"
    print(f"| {label} | {evals[0]:.0f} | {evals[1]:.1f} | {evals[0] / evals[1]:.1f}x |")
    label = f"sampling, 50 steps incl. bond perception ({args.num_samples} molecules)"
    print(f"| {label} | {per_mol:.3f} s/molecule | | |")


if __name__ == "__main__":
    main()
