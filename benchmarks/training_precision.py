"""Training under bfloat16 autocast vs float32: step time and gradient fidelity (prints a markdown table).

    python benchmarks/training_precision.py [--kinds backbones molecules] [--steps 10] [--rounds 3]

For each model kind, the training run of its bundled model's last CPU stage (backbones:
examples/backbones_pair_train_cpu.yaml from `backbones`; molecules:
examples/qm9_bonds_cooldown.yaml from `qm9`, the explicit-hydrogen model):

- step time: blocks of ``--steps`` full training steps (forward, backward, AdamW, EMA), float32 and
  bfloat16 alternating for ``--rounds`` rounds in one process, so both see the same machine load;
  the ratio of the medians is the comparison.
- gradient fidelity: on the same batches (same noise draws), the cosine between the float32 and
  the bfloat16 gradient of all parameters, next to the cosine between the float32 gradients of two
  consecutive batches (the noise that SGD lives with anyway); and the relative loss difference.

bfloat16 pays where the CPU has bfloat16 instructions (AVX512-BF16, AMX); elsewhere autocast only
adds casts. Train with it by `molgen train ... --precision bf16`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from molgen.config import BackboneRunConfig, RunConfig, load_config
from molgen.datasets.backbones import load_backbone_set
from molgen.datasets.molecules import load_training_molecules
from molgen.runtime import autocast
from molgen.training.backbone_trainer import BackboneTrainer
from molgen.training.trainer import MoleculeTrainer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KINDS = {  # kind: (run config class, trainer, data loader, data, config file, initial weights)
    "backbones": (
        BackboneRunConfig,
        BackboneTrainer,
        load_backbone_set,
        "pdb-chains",
        "backbones_pair_train_cpu.yaml",
        "backbones",
    ),
    "molecules": (
        RunConfig,
        MoleculeTrainer,
        load_training_molecules,
        "qm9",
        "qm9_bonds_cooldown.yaml",
        "qm9",
    ),
}


def make_trainer(kind: str, folder: str, precision: str | None = None):
    """A trainer of ``kind``'s recipe (its own precision unless ``precision`` is given)."""
    run_config, trainer, load, data, config_file, init = KINDS[kind]
    run = load_config(run_config, EXAMPLES / config_file)
    train = dataclasses.replace(
        run.train, checkpoint_every=10**9, log_every=10**9, precision=precision or run.train.precision
    )
    if hasattr(train, "validation_chains"):
        train = dataclasses.replace(train, validation_chains=0, validation_designs=0)
    return trainer(load(data), folder, run.model, train, init_from=init)


def gradient(trainer, step: int, precision: str) -> tuple[float, torch.Tensor]:
    """Loss and flat gradient (zeros for parameters without one) of training step ``step``."""
    with autocast(trainer.device, precision):
        loss, _ = trainer.loss(step)
    trainer.net.zero_grad(set_to_none=True)
    loss.backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in trainer.net.parameters()]
    return float(loss.detach()), torch.cat([g.flatten() for g in grads])


def step_seconds(trainer, precision: str, steps: int) -> float:
    trainer.config = dataclasses.replace(trainer.config, precision=precision)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return (time.perf_counter() - start) / steps


def measure(kind: str, steps: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        trainer = make_trainer(kind, folder)
        cos_precision, cos_batches, loss_diff = [], [], []
        for step in (1000, 2000, 3000):
            loss32, g32 = gradient(trainer, step, "fp32")
            loss16, g16 = gradient(trainer, step, "bf16")
            _, g_next = gradient(trainer, step + 1, "fp32")
            cos_precision.append(float(torch.cosine_similarity(g32, g16, dim=0)))
            cos_batches.append(float(torch.cosine_similarity(g32, g_next, dim=0)))
            loss_diff.append(abs(loss16 - loss32) / abs(loss32))
        times = {"fp32": [], "bf16": []}
        step_seconds(trainer, "fp32", 2)  # warm-up of both paths
        step_seconds(trainer, "bf16", 2)
        for _ in range(rounds):
            for precision, samples in times.items():
                samples.append(step_seconds(trainer, precision, steps))
    fp32, bf16 = (statistics.median(times[p]) for p in ("fp32", "bf16"))
    return {
        "fp32": fp32,
        "bf16": bf16,
        "speed-up": fp32 / bf16,
        "cos_precision": min(cos_precision),
        "cos_batches": max(cos_batches),
        "loss_diff": max(loss_diff),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| model kind | s/step fp32 | s/step bf16 | speed-up | gradient cosine fp32 vs bf16 (min of 3 "
        "batches) | gradient cosine of consecutive batches (max) | loss difference (max) |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind in args.kinds:
        r = measure(kind, args.steps, args.rounds)
        print(
            f"| {kind} | {r['fp32']:.3f} | {r['bf16']:.3f} | {r['speed-up']:.2f}x | {r['cos_precision']:.4f} "
            f"| {r['cos_batches']:.3f} | {r['loss_diff']:.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
