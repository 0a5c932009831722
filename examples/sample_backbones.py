"""Sample protein backbones with the bundled model, write PDB files and score them.

python examples/sample_backbones.py --lengths 60 80 --out designs_example
"""

import argparse
from pathlib import Path

from molgen import BackboneGenerator, write_pdb
from molgen.generators.backbones import DEFAULT_STEPS
from molgen.structures.backbone_quality import score_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[60, 80])
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--out", default="designs_example")
    args = parser.parse_args()

    generator = BackboneGenerator.from_pretrained("backbones", device="auto")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, design in enumerate(generator.sample(lengths=args.lengths, steps=args.steps, seed=0)):
        path = write_pdb(design, out / f"design_{i}.pdb")
        score = score_backbone(design)
        print(f"{path}: {len(design)} residues, DSSP {score['ss']}, {score['clashes']} clashes")


if __name__ == "__main__":
    main()
