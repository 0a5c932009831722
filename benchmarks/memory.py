"""Peak memory of sampling and scoring as the number of molecules grows (prints a markdown table).

    python benchmarks/memory.py [--model qm9-heavy] [--sizes 1000 10000 100000] [--batch-size 500]
        [--steps 2] [--device cpu]

Each row runs ``molgen sample molecules -n N`` and then ``molgen benchmark molecules`` on the
written SDF, each in a fresh process, and reports that process's peak resident memory (the
kernel's ``ru_maxrss``) and wall time. Sampling writes the SDF batch by batch and scoring reads it
record by record, so the peaks should stay flat as N grows. Memory does not depend on the number
of denoiser steps, so the default of 2 keeps the 100,000-molecule row affordable on a CPU.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_run(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of ``python -m molgen.cli ARGS`` in a fresh process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: progress bars never block the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "molgen.cli", *args], stdout=subprocess.DEVNULL, stderr=log
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise SystemExit(f"molgen {' '.join(args)} failed: {log.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qm9-heavy")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    print(f"model `{args.model}`, batch {args.batch_size}, {args.steps} steps, device {args.device}")
    print()
    print(
        "| molecules | sample: peak RSS | sample: wall | SDF size | benchmark: peak RSS | benchmark: wall |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            sdf = Path(tmp) / f"m{n}.sdf"
            sample = [
                "sample",
                "molecules",
                "--model",
                args.model,
                "-n",
                str(n),
                "-o",
                str(sdf),
                "--seed",
                "0",
            ]
            sample += [
                "--steps",
                str(args.steps),
                "--batch-size",
                str(args.batch_size),
                "--device",
                args.device,
            ]
            rss_s, wall_s = peak_run(sample)
            rss_b, wall_b = peak_run(["benchmark", "molecules", str(sdf), "--bonds", "coordinates"])
            print(
                f"| {n:,} | {rss_s:.0f} MiB | {wall_s:.0f} s | {sdf.stat().st_size / 2**20:.0f} MiB | "
                f"{rss_b:.0f} MiB | {wall_b:.0f} s |",
                flush=True,
            )


if __name__ == "__main__":
    main()
