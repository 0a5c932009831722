"""Train a tiny molecule model on the bundled QM9 subset for a few steps, then sample from it.

python examples/train_tiny.py --out runs/tiny --steps 20
"""

import argparse
import dataclasses

from molgen import MoleculeGenerator, MoleculeTrainer, load_qm9_subset
from molgen.testing import TINY_MODEL, TINY_TRAIN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tiny")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    config = dataclasses.replace(TINY_TRAIN, max_steps=args.steps, log_every=5, checkpoint_every=10)
    folder = MoleculeTrainer(load_qm9_subset("train"), args.out, TINY_MODEL, config).train()
    molecules = MoleculeGenerator.from_pretrained(folder, device="cpu").sample(4, steps=5, seed=0)
    print(f"trained {args.steps} steps into {folder}; sampled {len(molecules)} molecules")


if __name__ == "__main__":
    main()
