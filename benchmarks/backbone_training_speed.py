"""Training step time of backbone recipes against a baseline recipe (prints a markdown table).

    python benchmarks/backbone_training_speed.py CONFIG [CONFIG ...] [--baseline
        examples/backbones_pair_train_cpu.yaml] [--init-from backbones] [--steps 8] [--rounds 4]
        [--precision bf16] [--threads 1]

Every recipe (a `molgen train backbones --config` file; its model may add modules to the
``--init-from`` model, e.g. `model: {denoiser: {pair_channels: 16}}`) gets a trainer on the
bundled training chains; blocks of ``--steps`` full training steps (forward, backward, AdamW, EMA)
alternate between the recipes for ``--rounds`` rounds in one process, so all see the same machine
load. The last column is the ratio of medians to the baseline: the machine is shared, so only
ratios from one run are comparable.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from molgen.config import BackboneRunConfig, load_config
from molgen.datasets.backbones import load_backbone_set
from molgen.training.backbone_trainer import BackboneTrainer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--baseline", type=Path, default=EXAMPLES / "backbones_pair_train_cpu.yaml")
    parser.add_argument("--init-from", default="backbones")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    chains = load_backbone_set("pdb-chains")
    recipes = [args.baseline, *args.configs]
    with tempfile.TemporaryDirectory() as folder:
        trainers = []
        for number, path in enumerate(recipes):
            run = load_config(BackboneRunConfig, path)
            train = dataclasses.replace(
                run.train,
                checkpoint_every=10**9,
                log_every=10**9,
                validation_chains=0,
                precision=args.precision,
            )
            out = Path(folder) / str(number)
            trainers.append(BackboneTrainer(chains, out, run.model, train, init_from=args.init_from))
        for trainer in trainers:  # warm-up
            trainer.train_step()
        times: list[list[float]] = [[] for _ in trainers]
        for _ in range(args.rounds):
            for trainer, samples in zip(trainers, times):
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainer.train_step()
                samples.append((time.perf_counter() - start) / args.steps)
    medians = [statistics.median(samples) for samples in times]
    print("| recipe | parameters | s/step | vs baseline |")
    print("|---|---|---|---|")
    for path, trainer, median in zip(recipes, trainers, medians):
        size = sum(p.numel() for p in trainer.net.parameters())
        print(f"| {path.name} | {size:,} | {median:.3f} | {median / medians[0]:.2f}x |")


if __name__ == "__main__":
    main()
