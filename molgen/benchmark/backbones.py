"""Backbone benchmark: geometry, clashes, breaks, compactness, secondary structure, TM-scores.

Definitions (per design unless said otherwise):

- geometry: a residue is within tolerance when every bond length (N-CA, CA-C, C-N) is within
  0.1 A of Engh & Huber's ideal, every angle (N-CA-C, CA-C-N, C-N-CA) within 10 degrees and the
  CA-CA distance to its neighbours within 0.2 A of 3.80 A
  (:func:`molgen.structures.backbone_geometry.residues_within_tolerance`).
- chain break: consecutive CA atoms more than 4.2 A apart.
- clash: two backbone atoms of residues at least 3 apart closer than 2.0 A, or two CA atoms of
  non-consecutive residues closer than 3.0 A. A design is clash-free with no clash.
- radius of gyration (CA atoms) is compared with the training set's power law
  ``Rg = a L^b`` (fitted in log space); ``rg_ratio`` = Rg / (a L^b).
- secondary structure: DSSP (pydssp's implementation, 3 classes H / E / loop) on N, CA, C, O.
  A design "has strands" with >= 3 E residues.
- helix handedness: a helix (run of >= 4 DSSP H residues) is right-handed when its mean phi
  dihedral is negative.
- diversity: mean pairwise TM-score among designs (TM-align via tmtools, normalised by the
  shorter chain); lower is more diverse.
- novelty: per design, the highest TM-score (normalised by the design) against reference chains
  of similar length (within 20 %, at most ``novelty_reference`` of them, evenly spread over the
  length-sorted candidates); lower is more novel. A subset search, so a lower bound on the
  true maximum.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from molgen.structures.backbone import Backbone
from molgen.structures.backbone_geometry import dihedral, residues_within_tolerance

CLASH_ATOM = 2.0  # Angstrom, backbone atoms of residues >= 3 apart
CLASH_CA = 3.0  # Angstrom, CA atoms of non-consecutive residues
STRAND_MIN_RESIDUES = 3
HELIX_MIN_RESIDUES = 4


def secondary_structure(backbone: Backbone) -> str:
    """DSSP string, one of ``H``, ``E``, ``L`` per residue."""
    import pydssp

    ss = pydssp.assign(backbone.coords.astype(np.float32), out_type="c3")
    return "".join(ss).replace("-", "L")


def ss_agreement(requested: str, observed: str) -> dict[str, float]:
    """Share of the specified residues whose DSSP class matches the request: overall (``all``)
    and per requested class (``H``, ``E``, ``L``; NaN for a class not requested). ``-``/``X``
    residues are free and not counted."""
    if len(requested) != len(observed):
        raise ValueError(f"requested {len(requested)} residues, observed {len(observed)}")
    want = np.array(list(requested.upper().replace("X", "-")))
    got = np.array(list(observed))
    out = {}
    for key, mask in [("all", want != "-")] + [(c, want == c) for c in "HEL"]:
        out[key] = float((want[mask] == got[mask]).mean()) if mask.any() else float("nan")
    return out


def radius_of_gyration(backbone: Backbone) -> float:
    ca = backbone.ca
    return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean()))


def count_clashes(backbone: Backbone) -> int:
    """Number of clashing atom pairs (definitions in the module docstring)."""
    x = backbone.coords.reshape(-1, 3)
    residue = np.repeat(np.arange(len(backbone)), 4)
    sep = np.abs(residue[:, None] - residue[None, :])
    dist = np.linalg.norm(x[:, None] - x[None, :], axis=-1)
    atom = np.triu((dist < CLASH_ATOM) & (sep >= 3))
    ca = backbone.ca
    ca_dist = np.linalg.norm(ca[:, None] - ca[None, :], axis=-1)
    ca_sep = np.abs(np.arange(len(ca))[:, None] - np.arange(len(ca))[None, :])
    ca_clash = np.triu((ca_dist < CLASH_CA) & (ca_sep >= 2))
    return int(atom.sum() + ca_clash.sum())


def helix_handedness(backbone: Backbone, ss: str) -> tuple[int, int]:
    """(right-handed helices, all helices) among DSSP H runs of >= HELIX_MIN_RESIDUES."""
    c = backbone.coords
    phi = np.full(len(c), np.nan)
    phi[1:] = dihedral(c[:-1, 2], c[1:, 0], c[1:, 1], c[1:, 2])
    right = total = 0
    for letter, run in itertools.groupby(enumerate(ss), key=lambda x: x[1]):
        idx = [i for i, _ in run]
        if letter != "H" or len(idx) < HELIX_MIN_RESIDUES:
            continue
        total += 1
        right += int(np.nanmean(phi[idx]) < 0)
    return right, total


def score_backbone(backbone: Backbone) -> dict:
    """Per-design numbers (the manifest's quick metrics and the benchmark's rows)."""
    ss = secondary_structure(backbone)
    right, helices = helix_handedness(backbone, ss)
    n = len(backbone)
    return {
        "length": n,
        "geometry_ok": float(residues_within_tolerance(backbone.coords).mean()),
        "chain_breaks": len(backbone.chain_breaks()),
        "clashes": count_clashes(backbone),
        "rg": radius_of_gyration(backbone),
        "helix": ss.count("H") / n,
        "strand": ss.count("E") / n,
        "loop": ss.count("L") / n,
        "helices": helices,
        "right_handed_helices": right,
        "ss": ss,
    }


def fit_rg_power_law(backbones: Sequence[Backbone]) -> tuple[float, float]:
    """(a, b) of ``Rg = a L^b`` by least squares in log space."""
    lengths = np.log([len(b) for b in backbones])
    rg = np.log([radius_of_gyration(b) for b in backbones])
    b, log_a = np.polyfit(lengths, rg, 1)
    return float(np.exp(log_a)), float(b)


def tm_score(a: Backbone, b: Backbone) -> tuple[float, float]:
    """TM-align scores (normalised by ``a``, normalised by ``b``) on CA atoms."""
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
        if novelty_reference:
            best = novelty(designs, reference.chains, novelty_reference, progress)
            for row, value in zip(rows, best):
                row["novelty_tm"] = value
            m["novelty_max_tm_mean"] = float(np.nanmean(best))
    if diversity and len(designs) > 1:
        m["pairwise_tm_mean"] = float(pairwise_tm(designs, progress).mean())
    return BackboneBenchmark(rows, m)
