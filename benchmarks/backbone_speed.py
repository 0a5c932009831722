"""CPU time per generated protein backbone (prints a markdown table).

    python benchmarks/backbone_speed.py [--model backbones] [--length 100] [--steps 100] [--threads 1]
        [--device cpu]

Rows: one denoiser evaluation; the whole sampling loop (``steps`` evaluations); the restrained
refinement; ``BackboneGenerator.sample`` end to end for one design and per design in a batch of 8.
Issue 21's targets on 2 CPU threads: <= 5 s per 100-residue backbone and <= 20 s per 256-residue
one; at those lengths the last column is time / target.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from molgen.core.state import State
from molgen.generators.backbones import DEFAULT_STEPS, BackboneGenerator
from molgen.structures.backbone_geometry import idealize

TARGET_SECONDS = {100: 5.0, 256: 20.0}  # per design, by length


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
    target = TARGET_SECONDS.get(n)
    print(f"| stage | seconds | / {target or '-'} s target |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {f'{seconds / target:.3f}' if target else '-'} |")
    assert np.isfinite(raw.coords).all()


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


if __name__ == "__main__":
    main()
