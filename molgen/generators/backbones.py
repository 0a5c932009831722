"""BackboneGenerator: design plans in, Backbone objects out (the loop itself: generators/base.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from molgen.diffusion.inpainting import group_rigid
from molgen.generators.base import BatchInputs, PretrainedGenerator, SamplingOptions
from molgen.generators.conditioners import Conditioner, DesignPlan, compose, format_pairs
from molgen.models.backbone_conditions import BackboneConditions
from molgen.models.backbone_denoiser import ATOMS_PER_RESIDUE
from molgen.models.pretrained import bundled_configs
from molgen.runtime import resolve_seed
from molgen.structures.backbone import Backbone, with_ideal_oxygens
from molgen.structures.backbone_geometry import idealize
from molgen.structures.backbone_quality import score_backbone
from molgen.structures.secondary_structure import (
    BRIDGED,
    SS_UNSPECIFIED,
    bridge_partners,
    ss_agreement,
    ss_indices,
    strand_elements,
)
from molgen.structures.superpose import rmsd_after_superposition

# Defaults chosen by measurement (docs/benchmarks.md): zero-temperature ancestral steps give
# far more secondary structure and fewer clashes than the deterministic ODE samplers here; 100
# steps score as 200 do (unconditional, secondary-structure requests, motifs) at half the time.
DEFAULT_SAMPLER = "ancestral-mean"
DEFAULT_STEPS = 100
DEFAULT_BATCH_SIZE = 16


class BackboneGenerator(PretrainedGenerator):
    """Samples protein backbones (N, CA, C, O) from a trained backbone model.

    >>> gen = BackboneGenerator.from_pretrained("backbones")     # doctest: +SKIP
    >>> designs = gen.sample(lengths=[80, 100], seed=0)           # doctest: +SKIP
    >>> from molgen.io.pdb import write_pdb
    >>> write_pdb(designs[0], "design_0.pdb")                     # doctest: +SKIP
    """

    KIND = "backbones"
    DEFAULT_MODEL = "backbones"

    @property
    def length_range(self) -> tuple[int, int]:
        """Shortest and longest chain this model may be asked for."""
        return self.config.min_length, self.config.max_length

    # -------------------------------------------------------------- sampling
    def sample(self, lengths: int | Sequence[int], **options) -> list[Backbone]:
        """One backbone per entry of ``lengths`` (an int means one backbone of that length).

        Keyword-only options: those of :meth:`iter_designs` except ``guidance`` (there is
        nothing to guide towards: use :meth:`design` with a SecondaryStructure conditioner).

        Each backbone is poly-glycine chain A numbered from 1; ``metadata`` holds ``index``,
        ``seed``, ``model``, ``steps``, ``sampler``, ``time_power``, ``molgen_version`` and
        ``refined``.
        """
        if "guidance" in options:
            raise TypeError("sample() takes no guidance (nothing to guide towards); use design()")
        plans = [DesignPlan(self.length_range, length=int(n)) for n in self.check_lengths(lengths)]
        return [b for batch in self.iter_designs(plans, **options) for b in batch]

    def design(self, num_samples: int, conditioners: Sequence[Conditioner] = (), **options) -> list[Backbone]:
        """``num_samples`` designs that satisfy ``conditioners`` (see
        :mod:`molgen.generators.conditioners`: Length, SecondaryStructure, Motif, composable).

        Keyword-only options: those of :meth:`iter_designs` (``seed`` also draws the plans).

        Motif residues keep their residue types, have B-factor 1 (0 elsewhere) and are placed
        by the model (each motif group moves as a rigid body; one group unless the contig
        labels them). ``metadata`` adds ``contig``, ``motif_labels`` (input residue per motif
        position), ``motif_index`` (0-based output positions), ``motif_rmsd`` (Angstrom, N, CA,
        C of the design vs the input motif after superposition, the largest over motif groups;
        O is placed from them; the motif is imposed, so this only shows that the design kept
        it), ``motif_groups`` (group per motif position, with several groups); with
        secondary-structure conditions ``ss_requested``, ``ss_fraction_requested``, ``guidance``
        and, with a strand pairing, ``pairs_requested`` (``(a, b, kind)`` per pair of elements).
        """
        plans = self.plan_designs(num_samples, conditioners, options.get("seed"))
        return [b for batch in self.iter_designs(plans, **options) for b in batch]

    def plan_designs(
        self, num_samples: int, conditioners: Sequence[Conditioner] = (), seed: int | None = None
    ) -> list[DesignPlan]:
        """One plan per design (lengths, motif layout, secondary structure), or a ValueError
        naming the first requirement that cannot hold."""
        if num_samples < 1:
            raise ValueError(f"number of samples must be >= 1, got {num_samples}")
        rng = np.random.default_rng(seed)
        plans = [compose(conditioners, self.length_range, rng) for _ in range(num_samples)]
        self._check_conditional(plans)
        return plans

    def _check_conditional(self, plans: Sequence[DesignPlan]) -> None:
        """ValueError if plans ask for conditions this model was not trained to read."""
        conditional = any(p.ss is not None or p.ss_fraction is not None or len(p.motif_index) for p in plans)
        bundled = bundled_configs("backbones")
        if conditional and not self.config.denoiser.conditioning:
            takers = [n for n, c in bundled.items() if c.denoiser.conditioning]
            raise ValueError(
                f"model {self.name!r} was trained without conditioning; it cannot take a motif or "
                f"secondary structure. Bundled models that can: {', '.join(takers) or 'none'}"
            )
        if any(p.strand_pairs for p in plans) and not self.config.denoiser.pairing:
            takers = [n for n, c in bundled.items() if c.denoiser.pairing]
            raise ValueError(
                f"model {self.name!r} was trained without strand pairing; it cannot take --pairs or "
                f"a template's pairing. Bundled models that can: {', '.join(takers) or 'none yet'} "
                "(train one with model.denoiser.pairing: examples/backbones_pair_train.yaml)"
            )

    def iter_designs(
        self,
        plans: Sequence[DesignPlan],
        *,
        guidance: float = 1.0,
        steps: int = DEFAULT_STEPS,
        sampler: str = DEFAULT_SAMPLER,
        seed: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        refine: bool = True,
        progress: bool = False,
        first_batch: int = 0,
        time_power: float | None = None,
    ) -> Iterator[list[Backbone]]:
        """Sample ``plans`` (from :meth:`plan_designs`) batch by batch (the request is checked
        before the first batch is asked for).

        Args:
            guidance: classifier-free guidance weight on the secondary-structure conditions
                (1 = plain conditional sampling; > 1 obeys them more strictly; each step then
                runs the denoiser once over twice the batch).
            steps: denoiser evaluations per backbone.
            sampler: one of ``ancestral``, ``ancestral-mean``, ``ddim``, ``dpm2m``
                (see :func:`molgen.diffusion.samplers.sample`).
            seed: makes the output reproducible (same seed, plans and batch_size); None draws
                one (recorded in each design's metadata).
            first_batch: skip the batches before this one (a resumed run; batch ``b`` depends
                only on the seed, ``b`` and its plans).
            refine: polish bond lengths and angles with :func:`idealize` (a restrained
                minimisation that moves atoms by tenths of an Angstrom); ``False`` returns the
                network's raw output.
            time_power: the time grid ``t_i = (1 - i / steps) ** time_power``; None: the
                model's default (config.json ``sampling``), else 1 (uniform).
        """
        seed = resolve_seed(seed)
        if time_power is None:
            time_power = float(self.sampling.get("time_power", 1.0))
        options = SamplingOptions(
            steps, sampler, batch_size, seed=seed, guidance=guidance, progress=progress, time_power=time_power
        )
        self._check_conditional(plans)
        samples = self.iter_samples(list(plans), self._batch_inputs, options, "backbones", first_batch)
        return self._backbones(samples, options, refine)

    def _backbones(
        self, samples: Iterator, options: SamplingOptions, refine: bool
    ) -> Iterator[list[Backbone]]:
        """Refined backbones with their metadata, batch by batch, from :meth:`iter_samples`."""
        for done, chunk, samples_of_batch in samples:
            out = []
            for i, (plan, sampled) in enumerate(zip(chunk, samples_of_batch)):
                xyz = sampled.pos.reshape(-1, ATOMS_PER_RESIDUE, 3)
                if refine:
                    motif = np.zeros(len(xyz), dtype=bool)
                    motif[plan.motif_index] = True
                    xyz = idealize(xyz, fixed=motif)
                meta = options.metadata(done + i, self.name) | {"refined": refine}
                out.append(self._finish(with_ideal_oxygens(xyz), plan, meta, options.guidance))
            yield out

    def _batch_inputs(self, plans: Sequence[DesignPlan]) -> BatchInputs:
        """Sizes (3 atoms per residue), conditioning and motifs of a batch of plans."""
        lengths = np.array([p.length for p in plans])
        cond = self._conditions(plans) if self.config.denoiser.conditioning else None
        starts = np.cumsum(lengths) - lengths
        per_residue = np.arange(ATOMS_PER_RESIDUE)
        atoms, pos = [], []
        for start, p in zip(starts, plans):
            for group in np.unique(p.motif_group):  # one rigid body per motif group
                members = p.motif_group == group
                residues = start + p.motif_index[members]
                atoms.append(
                    torch.as_tensor((residues[:, None] * ATOMS_PER_RESIDUE + per_residue).reshape(-1))
                )
                xyz = p.motif_xyz[members, :ATOMS_PER_RESIDUE].reshape(-1, 3)
                pos.append(torch.as_tensor(xyz, dtype=torch.float64) / self.stats.coord_scale)
        return BatchInputs(lengths * ATOMS_PER_RESIDUE, 0, cond, group_rigid(atoms, pos))

    @staticmethod
    def _finish(coords: np.ndarray, plan: DesignPlan, meta: dict, guidance: float) -> Backbone:
        """The design as a Backbone with the plan's motif types, B-factors and metadata."""
        sequence = np.array(["G"] * len(coords))
        b_factors = np.zeros(len(coords))
        if plan.ss is not None or plan.ss_fraction is not None:
            meta |= {"ss_requested": plan.ss, "ss_fraction_requested": plan.ss_fraction, "guidance": guidance}
            if plan.strand_pairs:
                meta["pairs_requested"] = list(plan.strand_pairs)
            if plan.template is not None:
                meta["template"] = plan.template
        if len(plan.motif_index):
            sequence[plan.motif_index] = list(plan.motif_sequence)
            b_factors[plan.motif_index] = 1.0
            meta |= {
                "contig": plan.contig,
                "motif_labels": list(plan.motif_labels),
                "motif_index": plan.motif_index.tolist(),
                "motif_rmsd": max(
                    rmsd_after_superposition(coords[plan.motif_index[g], :3], plan.motif_xyz[g, :3])
                    for g in (plan.motif_group == k for k in np.unique(plan.motif_group))
                ),
            }
            if plan.motif_group.max() > 0:
                meta["motif_groups"] = plan.motif_group.tolist()
        return Backbone(coords, "".join(sequence), b_factors=b_factors, metadata=meta)

    def check_lengths(self, lengths: int | Sequence[int]) -> np.ndarray:
        """``lengths`` as an array, or a ValueError naming the model's range."""
        sizes = np.atleast_1d(np.asarray(lengths, dtype=np.int64))
        lo, hi = self.length_range
        if sizes.size == 0:
            raise ValueError("no lengths given")
        bad = sizes[(sizes < lo) | (sizes > hi)]
        if bad.size:
            raise ValueError(f"length {int(bad[0])} is outside this model's range {lo}-{hi}")
        return sizes

    def _conditions(self, plans: Sequence[DesignPlan]) -> BackboneConditions:
        """The network's conditioning inputs for a batch of plans."""
        ss, motif, motif_xyz, motif_group, pair_index, pair_kind = [], [], [], [], [], []
        start = 0
        for plan in plans:
            if plan.strand_pairs:
                element = strand_elements(plan.ss)
                bridges = (
                    [i * plan.length + j for i, j in plan.strand_bridges]
                    if self.config.denoiser.registers
                    else []
                )
                for a, b, kind in plan.strand_pairs:
                    i, j = np.meshgrid(
                        np.flatnonzero(element == a), np.flatnonzero(element == b), indexing="ij"
                    )
                    lo, hi = np.minimum(i, j).ravel(), np.maximum(i, j).ravel()
                    pair_index.append(torch.as_tensor(np.stack([lo, hi]) + start))
                    pair_kind.append(
                        torch.as_tensor(kind + BRIDGED * np.isin(lo * plan.length + hi, bridges))
                    )
            start += plan.length
            ss.append(
                ss_indices(plan.ss) if plan.ss is not None else torch.full((plan.length,), SS_UNSPECIFIED)
            )
            mask = torch.zeros(plan.length, dtype=torch.bool)
            mask[plan.motif_index] = True
            xyz = torch.zeros(plan.length, ATOMS_PER_RESIDUE, 3, dtype=torch.float64)
            xyz[plan.motif_index] = (
                torch.as_tensor(plan.motif_xyz[:, :ATOMS_PER_RESIDUE]) / self.stats.coord_scale
            )
            motif.append(mask)
            motif_xyz.append(xyz)
            group = torch.zeros(plan.length, dtype=torch.long)
            group[plan.motif_index] = torch.as_tensor(plan.motif_group)
            motif_group.append(group)
        fraction = [p.ss_fraction or (0.0, 0.0) for p in plans]
        return BackboneConditions(
            ss=torch.cat(ss),
            ss_fraction=torch.tensor(fraction),
            ss_fraction_given=torch.tensor([p.ss_fraction is not None for p in plans]),
            motif=torch.cat(motif),
            motif_xyz=torch.cat(motif_xyz),
            motif_group=torch.cat(motif_group),
            pair_index=torch.cat(pair_index, 1).long() if pair_index else torch.zeros(2, 0, dtype=torch.long),
            pair_kind=torch.cat(pair_kind).long() if pair_kind else torch.zeros(0, dtype=torch.long),
        ).to(self.device, torch.get_default_dtype())


QUICK_METRICS = ("geometry_ok", "clashes", "chain_breaks", "helix", "strand", "sheet", "rg", "ss")


def manifest_row(design: Backbone, file: str) -> dict:
    """A design's row of ``manifest.csv``: file, length, how it was sampled, its quick metrics
    (:func:`molgen.structures.backbone_quality.score_backbone`), and what it was asked for
    (contig and motif mapping ``label:position`` with the motif RMSD; secondary structure and
    its agreement with DSSP and the template it came from; guidance)."""
    meta = design.metadata
    quick = score_backbone(design)
    row = {
        "file": file,
        "length": len(design),
        "seed": "" if meta["seed"] is None else meta["seed"],
        **{k: meta[k] for k in ("steps", "sampler", "time_power", "model", "molgen_version")},
        "refined": int(meta["refined"]),
        **{k: quick[k] for k in QUICK_METRICS},
    }
    if "motif_index" in meta:
        mapping = zip(meta["motif_labels"], meta["motif_index"])
        row |= {
            "contig": meta["contig"],
            "motif_mapping": " ".join(f"{label}:{i + 1}" for label, i in mapping),
            "motif_rmsd": round(meta["motif_rmsd"], 3),
        }
    if meta.get("ss_requested") is not None:
        agreement = ss_agreement(meta["ss_requested"], quick["ss"])["all"]
        row |= {"ss_requested": meta["ss_requested"], "ss_agreement": agreement}
        if "template" in meta:
            row["template"] = meta["template"]
    if meta.get("ss_fraction_requested") is not None:
        helix, strand = meta["ss_fraction_requested"]
        row |= {"ss_fraction_requested": f"helix={helix},strand={strand}"}
    if meta.get("pairs_requested"):
        achieved = achieved_pairs(design, meta["ss_requested"], meta["pairs_requested"])
        row |= {
            "pairs_requested": format_pairs(meta["pairs_requested"]),
            "pairs_achieved": format_pairs([p for p, ok in zip(meta["pairs_requested"], achieved) if ok]),
        }
    requested = requested_fractions(meta)
    if requested is not None:
        row |= {"helix_requested": round(requested[0], 4), "strand_requested": round(requested[1], 4)}
    if "guidance" in meta:
        row |= {"guidance": meta["guidance"]}
    return row


def achieved_pairs(design: Backbone, ss: str, pairs: Sequence[tuple[int, int, int]]) -> list[bool]:
    """For each requested pairing ``(a, b, kind)`` of the strand elements of ``ss``, whether the
    design has a DSSP bridge between a residue of element ``a`` and one of element ``b``."""
    element = strand_elements(ss)
    bridges, _ = bridge_partners(design)
    found = {tuple(sorted((int(element[i]), int(element[j])))) for i, j in bridges.tolist()}
    return [(min(a, b), max(a, b)) in found for a, b, _ in pairs]


MISS_TOLERANCE = 0.20  # a design misses a secondary-structure request by more than this share of residues


def requested_fractions(meta: dict) -> tuple[float, float] | None:
    """The (helix, strand) fractions a design was asked for: its ``ss_fraction_requested``, else the
    shares of H and E in its ``ss_requested`` string (free residues count as neither); None
    without a secondary-structure request."""
    if meta.get("ss_fraction_requested") is not None:
        return tuple(map(float, meta["ss_fraction_requested"]))
    if meta.get("ss_requested") is not None:
        ss = meta["ss_requested"]
        return ss.count("H") / len(ss), ss.count("E") / len(ss)
    return None


def missed_requests(rows: Sequence[dict]) -> list[str]:
    """One line per secondary-structure class that some designs (manifest rows) missed by more
    than ``MISS_TOLERANCE``: fewer residues of the class than requested (or, for requested
    fractions, also more), with the requested and achieved shares."""
    lines = []
    for name in ("helix", "strand"):
        asked = [r for r in rows if f"{name}_requested" in r]
        missed = []
        for r in asked:
            short = r[name] < r[f"{name}_requested"] - MISS_TOLERANCE
            over = "ss_fraction_requested" in r and r[name] > r[f"{name}_requested"] + MISS_TOLERANCE
            if short or over:
                missed.append(r)
        if missed:
            wanted = sorted({r[f"{name}_requested"] for r in missed})
            got = [r[name] for r in missed]
            lines.append(
                f"{len(missed)}/{len(asked)} designs missed the requested {name} share by more than "
                f"{MISS_TOLERANCE:.0%} of residues (requested {', '.join(f'{w:.2f}' for w in wanted)}; "
                f"achieved {min(got):.2f}-{max(got):.2f}, DSSP)"
            )
    asked = [r for r in rows if r.get("pairs_requested")]
    missed = [r for r in asked if r["pairs_achieved"] != r["pairs_requested"]]
    if missed:
        lines.append(
            f"{len(missed)}/{len(asked)} designs lack a requested strand pairing (no DSSP bridge "
            "between the two elements)"
        )
    return lines
