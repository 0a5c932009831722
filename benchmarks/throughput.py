"""Training and sampling throughput of the molecule denoiser on QM9 batches (prints a markdown table).

    python benchmarks/throughput.py [--model qm9] [--threads 1] [--batch 64] [--iters 20] [--device cpu]

Training: forward + backward + AdamW step on batches of the bundled QM9 subset (molecules/s).
Sampling: denoiser evaluations (molecule-evaluations/s) at the sampling batch size, and the
end-to-end cost per molecule of ``MoleculeGenerator.sample`` (50 steps, bond perception included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

from molgen.datasets.qm9 import load_qm9_subset
from molgen.diffusion.sde import State
from molgen.diffusion.targets import predict_x0
from molgen.generators.molecules import MoleculeGenerator
from molgen.training.trainer import EncodedMolecules, diffusion_loss


def time_training(gen: MoleculeGenerator, data, batch: int, iters: int) -> float:
    enc = EncodedMolecules(data, _vocab(gen), gen.stats.coord_scale)
    net, sde = gen.net.train(), gen.sde
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    times = []
    for i in range(iters + 3):
        pos, types, b = (x.to(gen.device) for x in enc.batch(rng.choice(len(enc), batch, replace=False)))
        x0 = State(pos, F.one_hot(types, len(gen.symbols)).float() * gen.config.sde.type_scale, b, batch)
        t = torch.rand(batch, device=gen.device)
        start = time.perf_counter()
        loss, _, _ = diffusion_loss(
            net, sde, x0, types, t, sde.noise_like(x0), gen.config.sde.type_scale, 5.0, 1.0
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        _synchronize(gen.device)
        if i >= 3:
            times.append(time.perf_counter() - start)
    net.eval()
    return batch / float(np.median(times))


@torch.no_grad()
def time_denoiser(gen: MoleculeGenerator, data, batch: int, iters: int) -> float:
    enc = EncodedMolecules(data, _vocab(gen), gen.stats.coord_scale)
    pos, types, b = (x.to(gen.device) for x in enc.batch(np.arange(batch)))
    z = State(pos, torch.randn(len(types), len(gen.symbols), device=gen.device), b, batch)
    t = torch.full((batch,), 0.5, device=gen.device)
    times = []
    for i in range(iters + 2):
        start = time.perf_counter()
        predict_x0(gen.net, gen.sde, z, t, gen.config.sde.type_scale)
        _synchronize(gen.device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _vocab(gen: MoleculeGenerator):
    from molgen.structures.vocab import AtomVocab

    return AtomVocab(tuple(gen.symbols))


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
    train = time_training(gen, data, args.batch, args.iters)
    evals = time_denoiser(gen, data, args.sample_batch, args.iters)
    start = time.perf_counter()
    mols = gen.sample(args.num_samples, steps=50, seed=0, batch_size=args.sample_batch)
    per_mol = (time.perf_counter() - start) / len(mols)

    print(
        f"model `{args.model}`: {params / 1e6:.2f}M parameters; torch {torch.__version__}, "
        f"{args.threads} thread(s), "
        f"{torch.cuda.get_device_name(gen.device) if gen.device.type == 'cuda' else 'CPU'}"
    )
    print()
    print("| measurement | value |")
    print("|---|---|")
    print(f"| training throughput (batch {args.batch}, fwd+bwd+AdamW) | {train:.0f} molecules/s |")
    print(f"| denoiser evaluations (batch {args.sample_batch}) | {evals:.0f} molecule-evaluations/s |")
    label = f"sampling, 50 steps incl. bond perception ({args.num_samples} molecules)"
    print(f"| {label} | {per_mol:.3f} s/molecule |")


if __name__ == "__main__":
    main()
