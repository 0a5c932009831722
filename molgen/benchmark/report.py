"""Benchmark output: a markdown table, JSON and per-molecule CSV (written atomically)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, fields

from molgen.benchmark.molecules import MoleculeScore
from molgen.runtime import atomic_path

LABELS = {
    "atom_stability": "atom stability (EDM)",
    "molecule_stability": "molecule stability (EDM)",
    "validity": "validity (whole molecule)",
    "validity_largest_fragment": "validity (largest fragment, EDM)",
    "connected_validity": "connected validity",
    "uniqueness": "uniqueness (of valid)",
    "novelty": "novelty (of unique)",
}


def markdown_table(metrics: dict[str, dict]) -> str:
    lines = ["| metric | value | numerator / denominator |", "|---|---|---|"]
    for key, m in metrics.items():
        lines.append(
            f"| {LABELS.get(key, key)} | {100 * m['value']:.2f} % | {m['numerator']} / {m['denominator']} |"
        )
    return "\n".join(lines)


def write_json(metrics: dict[str, dict], path: str | os.PathLike, extra: dict | None = None) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"metrics": metrics, **(extra or {})}, indent=2) + "\n")


def write_csv(scores: list[MoleculeScore], path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(MoleculeScore)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in scores)
