"""Sample molecules with the bundled QM9 model and write them to an SDF file.

python examples/sample_molecules.py --num 20 --out examples_out.sdf
"""

import argparse

from molgen import MoleculeGenerator, write_sdf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", default="examples_out.sdf")
    args = parser.parse_args()

    generator = MoleculeGenerator.from_pretrained("qm9", device="auto")
    molecules = generator.sample(args.num, steps=args.steps, seed=0)
    write_sdf(molecules, args.out)
    valid = [m for m in molecules if m.GetIntProp("valid")]
    print(f"{len(valid)}/{len(molecules)} valid; first SMILES: {[m.GetProp('smiles') for m in valid[:5]]}")


if __name__ == "__main__":
    main()
