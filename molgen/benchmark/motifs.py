"""The RFdiffusion motif-scaffolding benchmark (24 single-motif problems, molgen/data/motif_benchmark/;
multi-motif problems mark each segment's group with a letter at the end of its INPUT line).

Protocol. RFdiffusion (Watson et al. 2023) counts a design as a success when AlphaFold2, given
a ProteinMPNN sequence for it, refolds it with motif RMSD < 1 Angstrom (and scaffold pLDDT/PAE
cut-offs). No structure predictor runs offline here, so this benchmark is much weaker: per
problem, ``num_designs`` backbones from the problem's contig and total-length bounds; a design
*succeeds* when its motif RMSD (N, CA, C after superposition) is < 1 Angstrom and it passes
geometry (no chain break, >= 95 % of residues within bond and angle tolerance). The motif is
imposed during sampling, so the RMSD criterion mostly checks that refinement kept it; the
geometry test checks that the scaffold joins the motif segments. A *strict* success is also
clash-free. A problem is *solved* when at least one design succeeds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from molgen.generators.backbones import BackboneGenerator
from molgen.generators.conditioners import Length, Motif
from molgen.io.pdb import write_pdb
from molgen.runtime import bundled_data
from molgen.structures.backbone_quality import score_backbone

BUNDLED_PROBLEMS = bundled_data("motif_benchmark")
SUCCESS_RMSD = 1.0  # Angstrom
GEOMETRY_PASS = 0.95  # share of residues within tolerance


@dataclass(frozen=True)
class MotifProblem:
    """One benchmark problem: the motif file, its contig and total-length bounds."""

    name: str
    path: Path
    contig: str
    length_range: tuple[int, int]

    @classmethod
    def from_pdb(cls, path: str | os.PathLike) -> MotifProblem:
        """Read the ``REMARK 999`` spec (Genie2's format, see data/README.md)."""
        path = Path(path)
        segments, low, high, name = [], None, None, path.stem
        for line in path.read_text().splitlines():
            if not line.startswith("REMARK 999"):
                continue
            words = line[10:].split()
            if words[:1] == ["NAME"] and len(words) > 1:
                name = words[1]
            elif words[:1] == ["INPUT"] and len(words) >= 4 and words[1].isalpha():
                group = f"@{words[4]}" if len(words) > 4 else ""  # Genie2's motif-group letter
                segments.append(f"{words[1]}{words[2]}-{words[3]}{group}")
            elif words[:1] == ["INPUT"] and len(words) >= 3:
                segments.append(f"{words[1]}-{words[2]}")
            elif words[:2] == ["MINIMUM", "TOTAL"]:
                low = int(words[-1])
            elif words[:2] == ["MAXIMUM", "TOTAL"]:
                high = int(words[-1])
        if not segments or low is None or high is None:
            raise ValueError(f"{path}: no complete REMARK 999 problem spec")
        return cls(name, path, "/".join(segments), (low, high))

    def motif(self) -> Motif:
        """The motif conditioner (reads the motif residues; an error names what is missing)."""
        try:
            return Motif.from_contig(self.path, self.contig)
        except ValueError as err:
            raise ValueError(f"motif problem {self.name}: {err}") from None


def load_problems(
    folder: str | os.PathLike = BUNDLED_PROBLEMS, names: list[str] | None = None
) -> list[MotifProblem]:
    """All problems of a folder (default: the bundled 24), or those named (case-insensitive)."""
    if not Path(folder).is_dir():
        raise ValueError(f"motif problem folder {folder} does not exist")
    problems = [MotifProblem.from_pdb(p) for p in sorted(Path(folder).glob("*.pdb"))]
    if not problems:
        raise ValueError(f"no motif problems (*.pdb with REMARK 999) in {folder}")
    if names:
        wanted = {n.lower() for n in names}
        unknown = wanted - {p.name.lower() for p in problems}
        if unknown:
            raise ValueError(
                f"unknown motif problem(s) {sorted(unknown)}; known: {[p.name for p in problems]}"
            )
        problems = [p for p in problems if p.name.lower() in wanted]
    return problems


def run_problem(
    gen: BackboneGenerator,
    problem: MotifProblem,
    num_designs: int,
    steps: int,
    sampler: str,
    seed: int | None,
    out_dir: Path | None = None,
) -> dict:
    """Design ``num_designs`` scaffolds for one problem and score them (one row of the table)."""
    lo, hi = gen.length_range
    bounds = (max(lo, problem.length_range[0]), min(hi, problem.length_range[1]))
    row = {
        "problem": problem.name,
        "contig": problem.contig,
        "lengths": f"{problem.length_range[0]}-{problem.length_range[1]}",
    }
    if bounds[0] > bounds[1]:
        return row | {"designs": 0, "note": f"total length outside the model's range {lo}-{hi}"}
    start = time.perf_counter()
    conditioners = [Length(f"{bounds[0]}-{bounds[1]}"), problem.motif()]
    designs = gen.design(num_designs, conditioners, steps=steps, sampler=sampler, seed=seed)
    seconds = time.perf_counter() - start
    rmsd = np.array([d.metadata["motif_rmsd"] for d in designs])
    scores = [score_backbone(d) for d in designs]
    geometry = np.array([s["chain_breaks"] == 0 and s["geometry_ok"] >= GEOMETRY_PASS for s in scores])
    clash_free = np.array([s["clashes"] == 0 for s in scores])
    success = (rmsd < SUCCESS_RMSD) & geometry
    if out_dir is not None:
        for i, d in enumerate(designs):
            write_pdb(d, out_dir / f"{problem.name}_{i:02d}.pdb")
    return row | {
        "designs": len(designs),
        "solved": int(success.any()),
        "solved_strict": int((success & clash_free).any()),
        "success_rate": float(success.mean()),
        "motif_rmsd_max": float(rmsd.max()),
        "geometry_pass": float(geometry.mean()),
        "clash_free": float(clash_free.mean()),
        "seconds_per_design": seconds / len(designs),
    }


def summary(rows: list[dict], num_designs: int, model: str) -> str:
    """One line: problems solved, with a clash-free design, and the protocol."""
    solved = sum(r.get("solved", 0) for r in rows)
    strict = sum(r.get("solved_strict", 0) for r in rows)
    return (
        f"solved {solved}/{len(rows)} problems, {strict} with a clash-free design "
        f"({num_designs} designs each, model {model}; protocol: molgen/benchmark/motifs.py)"
    )
