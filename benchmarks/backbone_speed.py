"""CPU time per generated protein backbone (prints a markdown table).

    python benchmarks/backbone_speed.py [--model backbones] [--length 100] [--steps 100] [--threads 1]
        [--device cpu] [--compile]

Rows: one denoiser evaluation; the whole sampling loop (``steps`` evaluations); the restrained
refinement; ``BackboneGenerator.sample`` end to end for one design and per design in a batch of 8.
Issue 21's targets on 2 CPU threads: <= 5 s per 100-residue backbone and <= 20 s per 256-residue
one; at those lengths the third column is time / target. With ``--compile`` the same rows again
with the denoiser's layers under ``torch.compile`` (``molgen sample backbones --compile``).
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


def timings(gen: BackboneGenerator, n: int, steps: int) -> list[tuple[str, float]]:
    """Seconds of each stage for designs of ``n`` residues (the first, untimed call warms up)."""
    pos = torch.randn(3 * n, 3, device=gen.device)
    batch = torch.zeros(3 * n, dtype=torch.long, device=gen.device)

    @torch.no_grad()
    def one_eval():
        gen.net(State(pos, pos.new_zeros(3 * n, 0), batch, 1), pos.new_zeros(1))

    raw = gen.sample([n], steps=steps, seed=0, refine=False)[0]
    assert np.isfinite(raw.coords).all()
    return [
        ("one denoiser evaluation", best_of(one_eval, 10)),
        (
            f"sampling loop ({steps} steps, raw)",
            best_of(lambda: gen.sample([n], steps=steps, seed=0, refine=False)),
        ),
        ("refinement (idealize)", best_of(lambda: idealize(raw.coords[:, :3]))),
        ("sample() one design, refined", best_of(lambda: gen.sample([n], steps=steps, seed=0))),
        ("sample() per design, batch of 8", best_of(lambda: gen.sample([n] * 8, steps=steps, seed=0), 1) / 8),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="backbones")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--compile", action="store_true", help="also time the layers under torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = BackboneGenerator.from_pretrained(args.model, device=args.device)
    n = args.length
    rows = timings(gen, n, args.steps)
    compiled = None
    if args.compile:  # the warm-up call compiles, outside the timings
        compiled = timings(
            BackboneGenerator.from_pretrained(args.model, device=args.device, compile=True), n, args.steps
        )
    print(
        f"backbone length {n}, {args.steps} steps, {args.threads} thread(s), model {args.model}, "
        f"{_device_name(gen.device)}\n"
    )
    target = TARGET_SECONDS.get(n)
    extra = " compiled seconds | speed-up |" if compiled else ""
    print(f"| stage | seconds | / {target or '-'} s target |{extra}")
    print("|---|---|---|" + ("---|---|" if compiled else ""))
    for number, (name, seconds) in enumerate(rows):
        line = f"| {name} | {seconds:.3f} | {f'{seconds / target:.3f}' if target else '-'} |"
        if compiled:
            fast = compiled[number][1]
            line += f" {fast:.3f} | {seconds / fast:.2f}x |"
        print(line)


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


if __name__ == "__main__":
    main()
