"""RFdiffusion-style contig strings: which motif residues to keep and how much scaffold to build.

``"10-40/A163-181/10-40"`` reads N- to C-terminal: a designed segment of 10 to 40 residues,
residues 163-181 of chain A of the motif file (kept), another designed segment. ``20`` is a
designed segment of exactly 20 residues, ``A5`` a single motif residue, ``0-30`` a segment that
may be absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_MOTIF = re.compile(r"^([A-Za-z])(-?\d+)(?:-(-?\d+))?$")
_DESIGNED = re.compile(r"^(\d+)(?:-(\d+))?$")
MAX_LAYOUT_TRIES = 1000


@dataclass(frozen=True)
class Segment:
    """One contig segment: motif residues ``chain`` ``first..last`` (inclusive, PDB numbering),
    or (``chain`` None) a designed segment of ``first..last`` residues."""

    text: str
    chain: str | None
    first: int
    last: int

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
            segments.append(Segment(part, motif.group(1), first, last))
        elif designed:
            low = int(designed.group(1))
            high = int(designed.group(2)) if designed.group(2) is not None else low
            if high < low:
                raise ValueError(f"contig segment {part!r}: length range runs backwards")
            segments.append(Segment(part, None, low, high))
        else:
            raise ValueError(
                f"contig segment {part!r} is neither a length range (e.g. 10-40) "
                "nor chain + residues (e.g. A163-181)"
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
    (inclusive); designed segments are drawn uniformly and redrawn until the total fits."""
    low, high = total_length_range(segments)
    if high < bounds[0] or low > bounds[1]:
        raise ValueError(
            f"contig allows {low}-{high} residues in all, which does not meet the length bounds "
            f"{bounds[0]}-{bounds[1]}"
        )
    for _ in range(MAX_LAYOUT_TRIES):
        lengths = [int(rng.integers(a, b + 1)) for a, b in (s.length_range for s in segments)]
        if bounds[0] <= sum(lengths) <= bounds[1]:
            return lengths
    raise ValueError(f"could not draw segment lengths with a total in {bounds[0]}-{bounds[1]}")


def format_contig(segments: list[Segment], lengths: list[int]) -> str:
    """The contig actually sampled, e.g. ``"23/A163-181/31"`` (empty designed segments left out)."""
    parts = [s.text if s.is_motif else str(n) for s, n in zip(segments, lengths) if s.is_motif or n > 0]
    return "/".join(parts)
