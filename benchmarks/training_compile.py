"""Training with the network's layers compiled (torch.compile) vs eager: step time and gradient
fidelity (prints a markdown table).

    python benchmarks/training_compile.py [--kinds backbones molecules] [--precision bf16]
        [--steps 8] [--rounds 5] [--threads 1]

For each model kind, two trainers of its bundled model's last CPU stage (the recipes of
benchmarks/training_precision.py), identical but for `train.compile`:

- step time: blocks of ``--steps`` full training steps (forward, backward, AdamW, EMA), eager and
  compiled alternating for ``--rounds`` rounds in one process, so both see the same machine load;
  the ratio of the medians is the comparison. Compilation itself (the first steps) is reported
  apart.
- gradient fidelity: on the same batches (same noise draws), the cosine between the eager and the
  compiled gradient of all parameters, and the relative loss difference.

Train with it by `molgen train ... --compile`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from training_precision import KINDS, gradient, make_trainer, step_seconds

from molgen.models.layers import compile_layers


def measure(kind: str, precision: str, steps: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        eager = make_trainer(kind, f"{folder}/eager", precision)
        compiled = make_trainer(kind, f"{folder}/compiled", precision)
        compile_layers(compiled.net)
        compile_layers(compiled.ema)
        start = time.perf_counter()
        cosines, loss_diff = [], []
        for step in (1000, 2000, 3000):  # the first calls also compile
            loss_e, g_e = gradient(eager, step, precision)
            loss_c, g_c = gradient(compiled, step, precision)
            cosines.append(float(torch.cosine_similarity(g_e, g_c, dim=0)))
            loss_diff.append(abs(loss_c - loss_e) / abs(loss_e))
        step_seconds(compiled, precision, 2)
        first = time.perf_counter() - start
        step_seconds(eager, precision, 2)
        times = {"eager": [], "compiled": []}
        for _ in range(rounds):
            times["eager"].append(step_seconds(eager, precision, steps))
            times["compiled"].append(step_seconds(compiled, precision, steps))
    slow, fast = (statistics.median(times[k]) for k in ("eager", "compiled"))
    return {
        "eager": slow,
        "compiled": fast,
        "speed-up": slow / fast,
        "first": first,
        "cos": min(cosines),
        "loss_diff": max(loss_diff),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), {args.precision}; ratios only: the machine is shared")
    print()
    print(
        "| model kind | s/step eager | s/step compiled | speed-up | first 3 gradients + 2 steps, "
        "compiling (s) | gradient cosine eager vs compiled (min of 3 batches) | loss difference (max) |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind in args.kinds:
        m = measure(kind, args.precision, args.steps, args.rounds)
        print(
            f"| {kind} | {m['eager']:.3f} | {m['compiled']:.3f} | {m['speed-up']:.2f}x | "
            f"{m['first']:.0f} | {m['cos']:.6f} | {m['loss_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
