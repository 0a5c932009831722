"""CPU time per generated protein backbone (prints a markdown table).

    python benchmarks/backbone_speed.py [--model backbones] [--length 100] [--steps 200] [--threads 1]
        [--device cpu]

Rows: one denoiser evaluation; the whole sampling loop (``steps`` evaluations); the restrained
refinement; ``BackboneGenerator.sample`` end to end for one design and per design in a batch of 8.
The issue target is <= 10 s per 100-residue backbone; the last column is time / target.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from molgen.core.state import State
from molgen.generators.backbones import DEFAULT_STEPS, BackboneGenerator
from molgen.structures.backbone_geometry import idealize

TARGET_SECONDS = 10.0


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="backbones")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = BackboneGenerator.from_pretrained(args.model, device=args.device)
    n = args.length
    pos = torch.randn(3 * n, 3, device=gen.device)
    batch = torch.zeros(3 * n, dtype=torch.long, device=gen.device)

    @torch.no_grad()
    def one_eval():
        gen.net(State(pos, pos.new_zeros(3 * n, 0), batch, 1), pos.new_zeros(1))

    raw = gen.sample([n], steps=args.steps, seed=0, refine=False)[0]
    rows = [
        ("one denoiser evaluation", best_of(one_eval, 10)),
        (
            f"sampling loop ({args.steps} steps, raw)",
            best_of(lambda: gen.sample([n], steps=args.steps, seed=0, refine=False)),
        ),
        ("refinement (idealize)", best_of(lambda: idealize(raw.coords[:, :3]))),
        ("sample() one design, refined", best_of(lambda: gen.sample([n], steps=args.steps, seed=0))),
        (
            "sample() per design, batch of 8",
            best_of(lambda: gen.sample([n] * 8, steps=args.steps, seed=0), 1) / 8,
        ),
    ]
    print(
        f"backbone length {n}, {args.steps} steps, {args.threads} thread(s), model {args.model}, "
        f"{_device_name(gen.device)}\n"
    )
    print("| stage | seconds | / 10 s target |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {seconds / TARGET_SECONDS:.3f} |")
    assert np.isfinite(raw.coords).all()


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


if __name__ == "__main__":
    main()
