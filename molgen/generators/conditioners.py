"""Conditioners: what a backbone design must satisfy, composed before sampling.

Every conditioner has one method, ``plan(DesignPlan, rng) -> DesignPlan``: it reads the plan
built so far and returns it with its own requirement added (or raises ValueError naming the
two requirements that cannot both hold). :func:`compose` applies a list of conditioners to a
fresh plan per design, those that bound the length first, then those that fix it, then those
that draw it (a motif's contig), so the order of the list does not matter. The generator turns
the finished plan into the network's conditioning inputs.

>>> wanted = [Length("60-100"), SecondaryStructure(fraction=(0.4, 0.2))]
>>> plan = compose(wanted, (40, 128), rng)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from molgen.datasets.backbones import BUNDLED_SET_NAME, load_backbone_set
from molgen.generators.contig import Segment, format_contig, parse_contig, sample_lengths
from molgen.io.pdb import read_chains
from molgen.structures.backbone import Backbone
from molgen.structures.secondary_structure import (
    ANTIPARALLEL,
    PARALLEL,
    bridge_partners,
    secondary_structure,
    ss_indices,
    strand_elements,
    strand_pairing,
)


@dataclass(frozen=True, eq=False)
class DesignPlan:
    """The requirements of one design.

    Attributes:
        length_range: allowed number of residues (inclusive).
        length: the number of residues once fixed.
        length_source: which requirement fixed it (for error messages).
        ss: secondary structure per residue (``H``, ``E``, ``L``; ``-`` free), or None.
        ss_fraction: requested (helix, strand) fractions, or None.
        strand_pairs: which strand elements of ``ss`` pair: ``((a, b, kind), ...)`` with element
            numbers from 0 (``E1`` is 0) and kind ``ANTIPARALLEL`` or ``PARALLEL``.
        motif_index: ``[M]`` positions (0-based) of motif residues in the design.
        motif_xyz: ``[M, 4, 3]`` their N, CA, C, O in Angstrom (as in the motif file).
        motif_labels: input residue of every motif position, e.g. ``"A163"``.
        motif_sequence: one-letter residue types of the motif residues.
        motif_group: ``[M]`` motif group (0, 1, ...) of every motif position; each group is a
            rigid body placed independently of the others.
        contig: the contig as sampled (designed segments with their drawn lengths).
        strand_bridges: residue pairs ``(i, j)``, ``i < j``, of two pairing strands that are to
            be bridged (the register; read by models trained with registers, others pair the
            strands as blocks).
        template: the structure whose topology ``ss`` and ``strand_pairs`` were taken from.
    """

    length_range: tuple[int, int]
    length: int | None = None
    length_source: str = ""
    ss: str | None = None
    ss_fraction: tuple[float, float] | None = None
    strand_pairs: tuple[tuple[int, int, int], ...] = ()
    motif_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    motif_xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 3)))
    motif_labels: tuple[str, ...] = ()
    motif_sequence: str = ""
    motif_group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    contig: str | None = None
    strand_bridges: tuple[tuple[int, int], ...] = ()
    template: str | None = None

    def with_length(self, length: int, what: str) -> DesignPlan:
        """Fix the length to ``length`` because of ``what``; an error if it is outside the
        allowed range or another requirement fixed a different one."""
        lo, hi = self.length_range
        if self.length is not None and self.length != length:
            raise ValueError(f"{what} needs {length} residues but {self.length_source} needs {self.length}")
        if not lo <= length <= hi:
            raise ValueError(f"{what} needs {length} residues, outside the allowed {lo}-{hi}")
        return replace(self, length=length, length_source=what)


class Conditioner(Protocol):
    STAGE: int  # 0 bounds the length, 1 may fix it, 2 may draw it (compose runs them in this order)

    def plan(self, plan: DesignPlan, rng: np.random.Generator) -> DesignPlan: ...


def compose(
    conditioners: Sequence[Conditioner], length_range: tuple[int, int], rng: np.random.Generator
) -> DesignPlan:
    """A finished plan: every conditioner by ``STAGE`` (stable), then a uniform length if none
    was fixed."""
    plan = DesignPlan(length_range)
    for conditioner in sorted(conditioners, key=lambda c: c.STAGE):
        plan = conditioner.plan(plan, rng)
    if plan.length is None:
        lo, hi = plan.length_range
        plan = replace(plan, length=int(rng.integers(lo, hi + 1)))
    return plan


def parse_range(spec: str | int, what: str = "length") -> tuple[int, int]:
    """``"80"`` -> (80, 80); ``"60-100"`` -> (60, 100); a clear error otherwise."""
    text = str(spec).strip()
    try:
        low, dash, high = text.partition("-")
        lo, hi = int(low), int(high if dash else low)
    except ValueError:
        raise ValueError(f"invalid {what} {text!r}: expected N or MIN-MAX, e.g. 80 or 60-100") from None
    if hi < lo:
        raise ValueError(f"invalid {what} {text!r}: MIN is larger than MAX")
    return lo, hi


def parse_ss_fraction(text: str) -> tuple[float, float]:
    """``"helix=0.3,strand=0.4"`` -> (0.3, 0.4); a class left out counts as 0."""
    values = {"helix": 0.0, "strand": 0.0}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if key.strip() not in values:
            raise ValueError(f"secondary-structure fraction {part!r}: use helix=F and/or strand=F")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"secondary-structure fraction {part!r}: {value!r} is not a number") from None
    return values["helix"], values["strand"]


@dataclass(frozen=True)
class Length:
    """Total number of residues: ``"80"`` or ``"60-100"`` (narrows the allowed range)."""

    spec: str | int
    STAGE = 0

    def plan(self, plan: DesignPlan, rng: np.random.Generator) -> DesignPlan:
        lo, hi = parse_range(self.spec)
        model_lo, model_hi = plan.length_range
        if hi < model_lo or lo > model_hi:
            raise ValueError(f"length {self.spec} is outside this model's range {model_lo}-{model_hi}")
        plan = replace(plan, length_range=(max(lo, model_lo), min(hi, model_hi)))
        if plan.length is not None:
            return plan.with_length(plan.length, plan.length_source)
        return plan


def parse_pairs(text: str) -> tuple[tuple[int, int, int], ...]:
    """Strand pairing: ``"E1:E2,E2:E3:parallel"`` -> ``((0, 1, ANTIPARALLEL), (1, 2, PARALLEL))``.
    ``Ek`` is the k-th run of E in the secondary-structure string (from the N terminus); a pair
    is antiparallel unless it ends in ``:parallel`` (``:antiparallel`` may be written)."""
    kinds = {"antiparallel": ANTIPARALLEL, "parallel": PARALLEL}
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"[Ee](\d+)\s*:\s*[Ee](\d+)(?:\s*:\s*(antiparallel|parallel))?", part)
        if match is None or int(match[1]) == int(match[2]) or min(int(match[1]), int(match[2])) < 1:
            raise ValueError(
                f"strand pair {part!r}: expected Ea:Eb with two different strands numbered from 1, "
                "optionally :parallel, e.g. E1:E2 or E1:E3:parallel"
            )
        a, b = sorted((int(match[1]) - 1, int(match[2]) - 1))
        out.append((a, b, kinds[match[3] or "antiparallel"]))
    if not out:
        raise ValueError("--pairs is empty; e.g. E1:E2,E2:E3")
    return tuple(out)


def format_pairs(pairs: Sequence[tuple[int, int, int]]) -> str:
    """The inverse of :func:`parse_pairs` (``"E1:E2,E2:E3:parallel"``)."""
    return ",".join(f"E{a + 1}:E{b + 1}" + (":parallel" if k == PARALLEL else "") for a, b, k in pairs)


@dataclass(frozen=True)
class SecondaryStructure:
    """Secondary structure per residue (``"LLHHHHEEEE--"``, one letter per residue: H, E, L,
    ``-``/``X`` free) and/or overall (helix, strand) fractions, and which strands of the string
    pair (``pairs``: :func:`parse_pairs`; needs a model trained with pairing)."""

    ss: str | None = None
    fraction: tuple[float, float] | None = None
    pairs: tuple[tuple[int, int, int], ...] = ()
    STAGE = 1

    def __post_init__(self) -> None:
        if self.ss is None and self.fraction is None:
            raise ValueError("SecondaryStructure needs a string, fractions or both")
        if self.ss is not None:
            if not self.ss:
                raise ValueError("the secondary-structure string is empty")
            ss_indices(self.ss.upper())  # checks the letters
        if self.pairs:
            if self.ss is None:
                raise ValueError(
                    "strand pairs need a secondary-structure string (--ss) to number the strands"
                )
            strands = int(strand_elements(self.ss.upper()).max(initial=-1)) + 1
            for a, b, _ in self.pairs:
                if b >= strands:
                    raise ValueError(f"strand pair E{a + 1}:E{b + 1}: the string has {strands} strand(s)")

        if self.fraction is not None:
            helix, strand = self.fraction
            if not (helix >= 0 and strand >= 0 and helix + strand <= 1):  # NaN fails too
                raise ValueError(
                    f"helix and strand fractions must be >= 0 and sum to <= 1, got {helix}, {strand}"
                )

    def plan(self, plan: DesignPlan, rng: np.random.Generator) -> DesignPlan:
        plan = replace(plan, ss_fraction=self.fraction if self.fraction is not None else plan.ss_fraction)
        if self.ss is None:
            return plan
        plan = plan.with_length(len(self.ss), f"the secondary-structure string ({len(self.ss)} letters)")
        return replace(plan, ss=self.ss.upper().replace("X", "-"), strand_pairs=self.pairs)


@dataclass(frozen=True)
class Topology:
    """The topology of a template chain (RFdiffusion's scaffold-guided mode): its DSSP string
    and strand pairing, every loop's length changed per design by up to ``jitter`` residues (a
    loop between two elements keeps at least one residue), then loops lengthened or shortened one
    residue at a time, at random, until the length fits the allowed range. ``bridges``: the
    template's bridged residue pairs within strands (``(i, j)``, ``i < j``), moved with their
    strands."""

    ss: str
    pairs: tuple[tuple[int, int, int], ...]
    source: str
    jitter: int = 2
    bridges: tuple[tuple[int, int], ...] = ()
    STAGE = 1

    @classmethod
    def from_backbone(cls, backbone: Backbone, source: str, jitter: int = 2) -> Topology:
        """The topology DSSP finds in ``backbone`` (``source`` names it in plans and errors)."""
        ss = secondary_structure(backbone)
        bridged = bridge_partners(backbone)
        pairs = tuple((a, b, k) for (a, b), k in sorted(strand_pairing(backbone, ss, bridged).items()))
        strand = np.array(list(ss)) == "E"
        bridges = tuple((int(i), int(j)) for i, j in bridged[0] if strand[i] and strand[j])
        return cls(ss, pairs, source, jitter, bridges)

    @classmethod
    def from_structure(cls, path: str | os.PathLike, jitter: int = 2) -> Topology:
        """The first chain of a PDB/mmCIF file; a clear error when it has none."""
        chains = read_chains(path)
        if not chains:
            raise ValueError(f"{path}: no protein chain with N, CA, C, O")
        return cls.from_backbone(chains[0], str(Path(path).name), jitter)

    def plan(self, plan: DesignPlan, rng: np.random.Generator) -> DesignPlan:
        runs = ["".join(g) for _, g in itertools.groupby(self.ss)]
        loops = [k for k, run in enumerate(runs) if run[0] == "L"]
        shortest = {k: int(0 < k < len(runs) - 1) for k in loops}  # terminal loops may vanish
        sizes = [len(run) for run in runs]
        for k in loops:
            sizes[k] = max(shortest[k], sizes[k] + int(rng.integers(-self.jitter, self.jitter + 1)))
        lo, hi = plan.length_range
        while sum(sizes) < lo and loops:
            sizes[loops[rng.integers(len(loops))]] += 1
        while sum(sizes) > hi:
            room = [k for k in loops if sizes[k] > shortest[k]]
            if not room:
                raise ValueError(
                    f"the topology of {self.source} needs at least {sum(sizes)} residues, "
                    f"outside the allowed {lo}-{hi}"
                )
            sizes[room[rng.integers(len(room))]] -= 1
        ss = "".join(run[0] * n for run, n in zip(runs, sizes))
        plan = plan.with_length(
            len(ss), f"the topology of {self.source} ({len(ss)} residues after loop jitter)"
        )
        old_start = np.repeat(np.cumsum([0] + [len(r) for r in runs[:-1]]), [len(r) for r in runs])
        shift = np.repeat(np.cumsum([0] + sizes[:-1]), [len(r) for r in runs]) - old_start
        bridges = tuple((i + int(shift[i]), j + int(shift[j])) for i, j in self.bridges)
        return replace(plan, ss=ss, strand_pairs=self.pairs, strand_bridges=bridges, template=self.source)


@dataclass(frozen=True, eq=False)
class TopologySet:
    """Per design, the :class:`Topology` of a chain drawn at random from a set (e.g. the bundled
    training chains) among those whose length fits the allowed range (or, when fewer than
    ``NEAREST`` fit, the ``NEAREST`` closest in length): designs with the secondary-structure
    make-up and strand pairings of real chains, drawn from the set's topologies and then from the
    network given each one."""

    chains: tuple[Backbone, ...]
    source: str
    jitter: int = 2
    STAGE = 1
    NEAREST = 20

    def __post_init__(self) -> None:
        if not self.chains:
            raise ValueError(f"{self.source}: no chains to take topologies from")

    def plan(self, plan: DesignPlan, rng: np.random.Generator) -> DesignPlan:
        lo, hi = plan.length_range
        lengths = np.array([len(c) for c in self.chains])
        distance = np.maximum(lo - lengths, 0) + np.maximum(lengths - hi, 0)
        candidates = np.flatnonzero(distance == 0)
        if len(candidates) < self.NEAREST:
            candidates = np.argsort(distance, kind="stable")[: self.NEAREST]
        chain = self.chains[int(rng.choice(candidates))]
        name = f"{self.source} chain {chain.metadata['id']}"
        return Topology.from_backbone(chain, name, self.jitter).plan(plan, rng)


def topology_from(source: str | os.PathLike, jitter: int = 2) -> Topology | TopologySet:
    """``--ss-from``: a structure file gives its first chain's :class:`Topology`; a set of chains
    (``pdb-chains``, the bundled training set; a ``.npz``; a folder of structures) gives a
    :class:`TopologySet`."""
    path = Path(source)
    if str(source) == BUNDLED_SET_NAME or path.is_dir() or path.suffix == ".npz":
        return TopologySet(tuple(load_backbone_set(source)), path.name, jitter)
    return Topology.from_structure(path, jitter)


@dataclass(frozen=True, eq=False)
class Motif:
    """Motif scaffolding from a contig string and the structure file holding the motif (motif
    groups, each placed independently: ``@label`` in the contig, see :mod:`molgen.generators.contig`)."""

    segments: tuple[Segment, ...]
    residues: dict  # (chain, residue number) -> (xyz [4, 3], one-letter type)
    source: str
    STAGE = 2

    @classmethod
    def from_contig(cls, structure: str | os.PathLike, contig: str) -> Motif:
        """Read the motif residues a contig names; an error names any that are missing."""
        segments = parse_contig(contig)
        chains = {c.chain: c for c in read_chains(structure)}
        residues = {}
        for s in (s for s in segments if s.is_motif):
            if s.chain not in chains:
                raise ValueError(
                    f"contig segment {s.text!r}: {structure} has no chain {s.chain} "
                    f"(chains: {sorted(chains)})"
                )
            chain = chains[s.chain]
            where = {int(n): i for i, n in enumerate(chain.residue_numbers)}
            missing = [n for n in range(s.first, s.last + 1) if n not in where]
            if missing:
                raise ValueError(
                    f"contig segment {s.text!r}: residue(s) {s.chain}{missing[0]}"
                    f"{'...' if len(missing) > 1 else ''} not in {structure} (or without N, CA, C, O)"
                )
            for n in range(s.first, s.last + 1):
                residues[s.chain, n] = (chain.coords[where[n]], chain.sequence[where[n]])
        return cls(tuple(segments), residues, str(Path(structure).name))

    def plan(self, plan: DesignPlan, rng: np.random.Generator) -> DesignPlan:
        if len(plan.motif_index):
            raise ValueError("only one motif per design")
        bounds = (plan.length, plan.length) if plan.length is not None else plan.length_range
        lengths = sample_lengths(list(self.segments), bounds, rng)
        index, keys, groups = [], [], []
        labels = list(dict.fromkeys(s.group for s in self.segments if s.is_motif))  # in order of appearance
        start = 0
        for s, n in zip(self.segments, lengths):
            if s.is_motif:
                index.extend(range(start, start + n))
                keys.extend((s.chain, k) for k in range(s.first, s.last + 1))
                groups.extend([labels.index(s.group)] * n)
            start += n
        plan = plan.with_length(sum(lengths), f"contig {format_contig(list(self.segments), lengths)}")
        return replace(
            plan,
            motif_index=np.array(index, dtype=np.int64),
            motif_xyz=np.stack([self.residues[k][0] for k in keys]),
            motif_labels=tuple(f"{chain}{k}" for chain, k in keys),
            motif_sequence="".join(self.residues[k][1] for k in keys),
            motif_group=np.array(groups, dtype=np.int64),
            contig=format_contig(list(self.segments), lengths),
        )
