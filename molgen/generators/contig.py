"""RFdiffusion-style contig strings: which motif residues to keep and how much scaffold to build.

``"10-40/A163-181/10-40"`` reads N- to C-terminal: a designed segment of 10 to 40 residues,
residues 163-181 of chain A of the motif file (kept), another designed segment. ``20`` is a
designed segment of exactly 20 residues, ``A5`` a single motif residue, ``0-30`` a segment that
may be absent. Segments are separated by ``/`` (``,`` is accepted too). Designs are single
chains: RFdiffusion's chain breaks (``/0 `` followed by another chain) are not supported.

Multi-motif scaffolding (molgen's extension): ``@label`` after a motif segment puts it in a motif
group, e.g. ``"5-20/A16-35@1/10-25/B52-71@2/5-20"``. Segments of one group keep their relative
pose (one rigid body); different groups are placed independently of each other. Segments
without a label form one group together (so a contig without labels is one rigid motif); a
group may hold segments of different chains of the motif file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_MOTIF = re.compile(r"^([A-Za-z])(-?\d+)(?:-(-?\d+))?(?:@(\w+))?$")
_DESIGNED = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(frozen=True)
class Segment:
    """One contig segment: motif residues ``chain`` ``first..last`` (inclusive, PDB numbering) of
    motif group ``group`` ("" without a label), or (``chain`` None) a designed segment of
    ``first..last`` residues."""

    text: str
    chain: str | None
    first: int
    last: int
    group: str = ""

    @property
    def is_motif(self) -> bool:
        return self.chain is not None

    @property
    def length_range(self) -> tuple[int, int]:
        """Possible lengths of this segment in a design."""
        if self.is_motif:
            return self.last - self.first + 1, self.last - self.first + 1
        return self.first, self.last


def parse_contig(text: str) -> list[Segment]:
    """Segments of a contig string; an error names the first segment it cannot read."""
    parts = [p.strip() for p in str(text).replace(",", "/").split("/")]
    if not any(parts):
        raise ValueError("empty contig string")
    segments = []
    for part in parts:
        motif, designed = _MOTIF.match(part), _DESIGNED.match(part)
        if motif:
            first = int(motif.group(2))
            last = int(motif.group(3)) if motif.group(3) is not None else first
            if last < first:
                raise ValueError(f"contig segment {part!r}: residue range runs backwards")
            segments.append(Segment(part, motif.group(1), first, last, motif.group(4) or ""))
        elif designed:
            low = int(designed.group(1))
            high = int(designed.group(2)) if designed.group(2) is not None else low
            if high < low:
                raise ValueError(f"contig segment {part!r}: length range runs backwards")
            segments.append(Segment(part, None, low, high))
        elif not part:
            raise ValueError(f"contig {text!r} has an empty segment (two '/' in a row or one at an end)")
        elif " " in part:
            raise ValueError(f"contig segment {part!r}: multi-chain designs (chain breaks) are not supported")
        else:
            raise ValueError(
                f"contig segment {part!r} is neither a length range (e.g. 10-40) "
                "nor chain + residues (e.g. A163-181, or A163-181@1 in motif group 1)"
            )
    if not any(s.is_motif for s in segments):
        raise ValueError(f"contig {text!r} names no motif residues (e.g. A163-181)")
    seen: dict[tuple[str, int], str] = {}
    for s in segments:
        for number in range(s.first, s.last + 1) if s.is_motif else ():
            if (s.chain, number) in seen:
                raise ValueError(
                    f"contig segments {seen[s.chain, number]!r} and {s.text!r} overlap "
                    f"(residue {s.chain}{number})"
                )
            seen[s.chain, number] = s.text
    return segments


def total_length_range(segments: list[Segment]) -> tuple[int, int]:
    """Shortest and longest design the segments allow."""
    return sum(s.length_range[0] for s in segments), sum(s.length_range[1] for s in segments)


def sample_lengths(segments: list[Segment], bounds: tuple[int, int], rng: np.random.Generator) -> list[int]:
    """A length for every segment (motif segments: their size) with the total within ``bounds``
    (inclusive): the total is drawn uniformly among those the contig allows, then the designed
    segments, in random order, each uniformly among the lengths that still let the rest fit."""
    low, high = total_length_range(segments)
    contig = "/".join(s.text for s in segments)
    if high < bounds[0] or low > bounds[1]:
        raise ValueError(
            f"contig {contig} allows {low}-{high} residues in all, which does not meet the length "
            f"bounds {bounds[0]}-{bounds[1]}"
        )
    remaining = int(rng.integers(max(low, bounds[0]), min(high, bounds[1]) + 1))
    lengths = [s.length_range[0] for s in segments]
    left = {i: s.length_range for i, s in enumerate(segments)}
    for i in rng.permutation(len(segments)).tolist():
        a, b = left.pop(i)
        rest_low, rest_high = sum(r[0] for r in left.values()), sum(r[1] for r in left.values())
        lengths[i] = int(rng.integers(max(a, remaining - rest_high), min(b, remaining - rest_low) + 1))
        remaining -= lengths[i]
    return lengths


def format_contig(segments: list[Segment], lengths: list[int]) -> str:
    """The contig actually sampled, e.g. ``"23/A163-181/31"`` (empty designed segments left out)."""
    parts = [s.text if s.is_motif else str(n) for s, n in zip(segments, lengths) if s.is_motif or n > 0]
    return "/".join(parts)
