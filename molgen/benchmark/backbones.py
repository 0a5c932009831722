"""Backbone benchmark: geometry, clashes, breaks, compactness, secondary structure, TM-scores.

Per-design measures (geometry, chain breaks, clashes, radius of gyration, DSSP, helix
handedness) are defined in :mod:`molgen.structures.backbone_quality`. Here (per design unless
said otherwise):

- a design is clash-free with no clash.
- radius of gyration (CA atoms) is compared with the training set's power law
  ``Rg = a L^b`` (fitted in log space); ``rg_ratio`` = Rg / (a L^b).
- a design "has strands" with >= 3 E residues, and a sheet when two strands pair (a DSSP ladder
  of at least two consecutive bridges).
- diversity: mean pairwise TM-score among designs (TM-align via tmtools, normalised by the
  shorter chain); lower is more diverse.
- novelty: per design, the highest TM-score (normalised by the design) against reference chains
  of similar length (within 20 %, at most ``novelty_reference`` of them, evenly spread over the
  length-sorted candidates); lower is more novel. A subset search, so a lower bound on the
  true maximum.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from molgen.datasets.backbones import STRUCTURE_SUFFIXES
from molgen.io.pdb import read_backbone
from molgen.structures.backbone import Backbone
from molgen.structures.backbone_quality import radius_of_gyration, score_backbone
from molgen.structures.secondary_structure import secondary_structure

logger = logging.getLogger("molgen")

STRAND_MIN_RESIDUES = 3


def fit_rg_power_law(backbones: Sequence[Backbone]) -> tuple[float, float]:
    """(a, b) of ``Rg = a L^b`` by least squares in log space."""
    lengths = np.log([len(b) for b in backbones])
    rg = np.log([radius_of_gyration(b) for b in backbones])
    b, log_a = np.polyfit(lengths, rg, 1)
    return float(np.exp(log_a)), float(b)


TM_MISSING = (
    "TM-scores (diversity, novelty) need the optional tmtools package (GPL-3.0, so not a required "
    "dependency): pip install 'molgen[bench]'"
)


def has_tm_align() -> bool:
    """Whether TM-align (the optional tmtools package) is installed."""
    return importlib.util.find_spec("tmtools") is not None


def tm_score(a: Backbone, b: Backbone) -> tuple[float, float]:
    """TM-align scores (normalised by ``a``, normalised by ``b``) on CA atoms."""
    if not has_tm_align():
        raise ModuleNotFoundError(TM_MISSING)
    import tmtools

    result = tmtools.tm_align(a.ca, b.ca, "G" * len(a), "G" * len(b))
    return float(result.tm_norm_chain1), float(result.tm_norm_chain2)


def pairwise_tm(designs: Sequence[Backbone], progress: bool = False) -> np.ndarray:
    """TM-scores of all design pairs, each normalised by the shorter chain ``[P]``."""
    pairs = list(itertools.combinations(range(len(designs)), 2))
    scores = []
    for i, j in tqdm(pairs, disable=not progress, desc="pairwise TM-align", unit="pair"):
        s_i, s_j = tm_score(designs[i], designs[j])
        scores.append(s_i if len(designs[i]) <= len(designs[j]) else s_j)
    return np.array(scores)


def novelty(
    designs: Sequence[Backbone], reference: Sequence[Backbone], max_reference: int, progress: bool = False
) -> np.ndarray:
    """Per design, the best TM-score (normalised by the design) against similar-length references."""
    ref_sorted = sorted(reference, key=len)
    ref_lengths = np.array([len(r) for r in ref_sorted])
    best = []
    for design in tqdm(designs, disable=not progress, desc="novelty TM-align", unit="design"):
        n = len(design)
        lo, hi = np.searchsorted(ref_lengths, [0.8 * n, 1.2 * n + 1e-9])
        candidates = np.arange(lo, hi)
        if len(candidates) > max_reference:
            candidates = candidates[np.linspace(0, len(candidates) - 1, max_reference).astype(int)]
        best.append(max((tm_score(design, ref_sorted[k])[0] for k in candidates), default=np.nan))
    return np.array(best)


@dataclass
class BackboneReference:
    """What the training set says designs should look like."""

    helix: float
    strand: float
    rg_law: tuple[float, float]
    chains: list[Backbone] = field(repr=False)

    @classmethod
    def from_backbones(cls, chains: Sequence[Backbone]) -> BackboneReference:
        ss = "".join(secondary_structure(c) for c in chains)
        return cls(ss.count("H") / len(ss), ss.count("E") / len(ss), fit_rg_power_law(chains), list(chains))


@dataclass
class BackboneBenchmark:
    """Per-design rows and the summary metrics."""

    rows: list[dict]
    metrics: dict[str, float]


def read_designs(folder: str | os.PathLike) -> tuple[list[Path], list[Backbone]]:
    """The PDB/mmCIF files of a folder (sorted) and their backbones; a ValueError when the folder
    is missing or holds no structure file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in STRUCTURE_SUFFIXES)
    if not files:
        raise ValueError(f"no PDB/mmCIF files in {folder}")
    return files, [read_backbone(p) for p in files]


def benchmark_backbones(
    designs: Sequence[Backbone],
    reference: BackboneReference | None = None,
    novelty_reference: int = 64,
    diversity: bool = True,
    progress: bool = False,
) -> BackboneBenchmark:
    """Score designs; percentages are over designs unless named per residue."""
    if not designs:
        raise ValueError("no backbones to score")
    rows = [score_backbone(b) for b in tqdm(designs, disable=not progress, desc="scoring", unit="design")]
    residues = sum(r["length"] for r in rows)
    helices = sum(r["helices"] for r in rows)
    m = {
        "designs": len(rows),
        "geometry_ok_residues_%": 100 * sum(r["geometry_ok"] * r["length"] for r in rows) / residues,
        "without_chain_breaks_%": 100 * np.mean([r["chain_breaks"] == 0 for r in rows]),
        "clash_free_%": 100 * np.mean([r["clashes"] == 0 for r in rows]),
        "helix_%": 100 * sum(r["helix"] * r["length"] for r in rows) / residues,
        "strand_%": 100 * sum(r["strand"] * r["length"] for r in rows) / residues,
        "helix_plus_strand_%": 100 * sum((r["helix"] + r["strand"]) * r["length"] for r in rows) / residues,
        "with_strands_%": 100 * np.mean([r["strand"] * r["length"] >= STRAND_MIN_RESIDUES for r in rows]),
        "with_sheet_%": 100 * np.mean([r["sheet"] for r in rows]),
        "right_handed_helices_%": 100 * sum(r["right_handed_helices"] for r in rows) / helices
        if helices
        else float("nan"),
    }
    if reference is not None:
        a, b = reference.rg_law
        ratios = [r["rg"] / (a * r["length"] ** b) for r in rows]
        for row, ratio in zip(rows, ratios):
            row["rg_ratio"] = ratio
        m["rg_ratio_mean"] = float(np.mean(ratios))
        m["reference_helix_plus_strand_%"] = 100 * (reference.helix + reference.strand)
        m["reference_strand_%"] = 100 * reference.strand
        if novelty_reference and has_tm_align():
            best = novelty(designs, reference.chains, novelty_reference, progress)
            for row, value in zip(rows, best):
                row["novelty_tm"] = value
            m["novelty_max_tm_mean"] = float(np.nanmean(best))
    if (novelty_reference or diversity) and not has_tm_align():
        logger.warning("%s; skipped them", TM_MISSING)
    if diversity and len(designs) > 1 and has_tm_align():
        m["pairwise_tm_mean"] = float(pairwise_tm(designs, progress).mean())
    return BackboneBenchmark(rows, m)
