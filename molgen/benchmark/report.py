"""Benchmark output: a markdown table, JSON and per-molecule CSV (written atomically)."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, fields

import numpy as np

from molgen.benchmark.distributions import BOND_BINS, DistributionStats
from molgen.benchmark.molecules import BenchmarkResult, MoleculeScore
from molgen.benchmark.pictures import pyplot
from molgen.runtime import atomic_path

LABELS = {
    "atom_stability": "atom stability (EDM)",
    "molecule_stability": "molecule stability (EDM)",
    "validity": "validity (whole molecule)",
    "validity_largest_fragment": "validity (largest fragment, EDM)",
    "connected_validity": "connected validity",
    "uniqueness": "uniqueness (of valid)",
    "novelty": "novelty (of unique)",
    "strict_validity": "strict own-bond validity",
    "bonds_match_distance_rule": "own bonds = distance-rule bonds",
    "ring_systems_known": "ring systems all seen in training (of valid)",
    "posebusters_pass": "PoseBusters (mol) pass",
}


NOT_AVAILABLE = "n/a"  # a metric over zero items, or one that could not be computed


def _number(value: float, text: str) -> str:
    """``text`` (the formatted ``value``), or ``n/a`` for NaN."""
    return NOT_AVAILABLE if isinstance(value, float) and math.isnan(value) else text


def markdown_table(metrics: dict[str, dict]) -> str:
    lines = ["| metric | value | numerator / denominator |", "|---|---|---|"]
    for key, m in metrics.items():
        value = _number(m["value"], f"{100 * m['value']:.2f} %")
        lines.append(f"| {LABELS.get(key, key)} | {value} | {m['numerator']} / {m['denominator']} |")
    return "\n".join(lines)


def distance_table(distances: dict[str, float]) -> str:
    """Distances to the reference distributions (lower is better; clash_free and
    internal_diversity: higher is better)."""
    lines = ["| distribution metric | value |", "|---|---|"]
    for key, value in distances.items():
        unit = " A" if key.startswith("bond_w1") else " deg" if key.startswith("angle_w1") else ""
        lines.append(f"| {key} | {_number(value, f'{value:.4f}{unit}')} |")
    return "\n".join(lines)


def write_json(result: BenchmarkResult, path: str | os.PathLike, extra: dict | None = None) -> None:
    data = {"metrics": result.metrics, "distances": result.distances, **(extra or {})}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_plot(result: BenchmarkResult, reference: DistributionStats | None, path: str | os.PathLike) -> None:
    """Bond-length histograms of the four most common bond types, atom types and molecule
    sizes, each against the reference (needs matplotlib: ``pip install 'molgen[bench]'``)."""
    plt = pyplot()
    stats = result.stats
    source = reference if reference is not None else stats
    bond_types = sorted(source.bonds, key=lambda k: -source.bonds[k].sum())[:4]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    centres = 0.5 * (BOND_BINS[1:] + BOND_BINS[:-1])
    for ax, key in zip(axes.flat[:4], bond_types):
        for name, st, style in (("generated", stats, "-"), ("reference", reference, "--")):
            if st is not None and key in st.bonds and st.bonds[key].sum():
                ax.plot(centres, st.bonds[key] / st.bonds[key].sum(), style, label=name)
        ax.set(title=f"bond length {key}", xlabel="Angstrom", ylabel="fraction")
        ax.legend()
    for ax, attr, title in (
        (axes.flat[4], "atom_types", "atom types"),
        (axes.flat[5], "sizes", "atoms per molecule"),
    ):
        for offset, (name, st) in enumerate((("generated", stats), ("reference", reference))):
            if st is None:
                continue
            counts = getattr(st, attr)
            keys = sorted(set(getattr(stats, attr)) | set(getattr(source, attr)))
            total = sum(counts.values()) or 1
            xs = np.arange(len(keys))
            ax.bar(xs + 0.4 * offset, [counts[k] / total for k in keys], width=0.4, label=name)
            ax.set_xticks(xs + 0.2, [str(k) for k in keys], fontsize=7)
        ax.set(title=title, ylabel="fraction")
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_csv(scores: list[MoleculeScore], path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(MoleculeScore)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in scores)


def value_table(metrics: dict[str, float]) -> str:
    """Plain ``| metric | value |`` markdown table."""
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        text = _number(value, f"{value:.2f}") if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {text} |")
    return "\n".join(lines)


def rows_table(rows: list[dict]) -> str:
    """Markdown table of dicts (columns: every key in order of first appearance; floats to 3
    decimals; missing cells empty)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value) -> str:
        if isinstance(value, float):
            return _number(value, f"{value:.3f}")
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
