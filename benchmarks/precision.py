"""float32 vs bfloat16 autocast: sample quality, sampling and training speed (prints a markdown table).

    python benchmarks/precision.py [--model qm9-heavy] [-n 1000] [--steps 100] [--sampler ancestral]
        [--device cpu]

Both rows sample the same seeds (same prior noise); "valid", "connected" and "unique" are as in
benchmarks/sample_quality.py. Training speed: fwd+bwd+AdamW of the model's denoiser on QM9-subset
batches of 64 (``TrainConfig.precision``). bfloat16 pays off on GPUs and CPUs with bf16 matrix
units; elsewhere autocast only adds casts.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from molgen.config import TrainConfig
from molgen.datasets.qm9 import load_qm9_subset
from molgen.generators.molecules import MoleculeGenerator
from molgen.training.trainer import MoleculeTrainer


def quality(mols) -> tuple[float, float, float]:
    valid = [m.GetProp("smiles") for m in mols if m.GetIntProp("valid")]
    connected = sum("." not in s for s in valid)
    return len(valid) / len(mols), connected / len(mols), len(set(valid)) / max(len(valid), 1)


def training_rate(gen: MoleculeGenerator, precision: str, steps: int) -> float:
    """Molecules per second over ``steps`` training steps (after 2 warm-up steps)."""
    train = TrainConfig(
        batch_size=64, max_steps=steps + 2, checkpoint_every=10**6, log_every=10**6, precision=precision
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = MoleculeTrainer(load_qm9_subset("train"), tmp, gen.config, train, device=gen.device)
        for _ in range(2):
            trainer.train_step()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        if gen.device.type == "cuda":
            torch.cuda.synchronize()
        return steps * 64 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qm9-heavy")
    parser.add_argument("-n", "--num-molecules", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--sampler", default="ancestral")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(
        f"model `{args.model}`, {args.num_molecules} samples, {args.sampler} {args.steps} steps, "
        f"device {args.device}"
    )
    print()
    print(
        "| precision | valid | connected | unique (of valid) | s/molecule (sampling) | training molecules/s |"
    )
    print("|---|---|---|---|---|---|")
    for precision in ("fp32", "bf16"):
        gen = MoleculeGenerator.from_pretrained(args.model, device=args.device, precision=precision)
        start = time.perf_counter()
        mols = gen.sample(
            args.num_molecules,
            steps=args.steps,
            sampler=args.sampler,
            seed=args.seed,
            batch_size=args.batch_size,
        )
        per_mol = (time.perf_counter() - start) / len(mols)
        valid, connected, unique = quality(mols)
        rate = training_rate(gen, precision, args.train_steps)
        print(
            f"| {precision} | {100 * valid:.1f} % | {100 * connected:.1f} % | {100 * unique:.1f} % | "
            f"{per_mol:.4f} | {rate:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
