"""BackboneGenerator: the sampling loop from a trained backbone denoiser to Backbone objects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from molgen.core.graph import batch_vector, remove_mean
from molgen.core.state import State
from molgen.diffusion.samplers import sample
from molgen.diffusion.targets import predict_x0
from molgen.generators.common import PretrainedGenerator, check_sampling_args, device_generator, sample_finite
from molgen.generators.conditioners import Conditioner, DesignPlan, compose
from molgen.models.backbone_conditions import BackboneConditions
from molgen.models.backbone_denoiser import ATOMS_PER_RESIDUE
from molgen.runtime import make_generator
from molgen.structures.backbone import Backbone, ideal_oxygens
from molgen.structures.backbone_geometry import idealize
from molgen.structures.secondary_structure import SS_UNSPECIFIED, ss_indices
from molgen.structures.superpose import rmsd_after_superposition, superpose

# Defaults chosen by measurement (docs/benchmarks.md): zero-temperature ancestral steps give
# far more secondary structure and fewer clashes than the deterministic ODE samplers here.
DEFAULT_SAMPLER = "ancestral-mean"
DEFAULT_STEPS = 200


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
    def sample(
        self,
        lengths: int | Sequence[int],
        steps: int = DEFAULT_STEPS,
        sampler: str = DEFAULT_SAMPLER,
        seed: int | None = None,
        batch_size: int = 16,
        refine: bool = True,
        progress: bool = False,
    ) -> list[Backbone]:
        """One backbone per entry of ``lengths`` (an int means one backbone of that length).

        Args:
            steps: denoiser evaluations per backbone.
            sampler: one of ``ancestral``, ``ancestral-mean``, ``ddim``, ``dpm2m``
                (see :func:`molgen.diffusion.samplers.sample`).
            seed: makes the output reproducible (same seed, lengths and batch_size).
            refine: polish bond lengths and angles with :func:`idealize` (a restrained
                minimisation that moves atoms by tenths of an Angstrom); ``False`` returns the
                network's raw output.

        Each backbone is poly-glycine chain A numbered from 1; ``metadata`` holds ``index``,
        ``seed``, ``steps``, ``sampler``, ``model`` and ``refined``.
        """
        plans = [DesignPlan(self.length_range, length=int(n)) for n in self.check_lengths(lengths)]
        batches = self.iter_designs(
            plans,
            steps=steps,
            sampler=sampler,
            seed=seed,
            batch_size=batch_size,
            refine=refine,
            progress=progress,
        )
        return [b for batch in batches for b in batch]

    def design(
        self,
        num_samples: int,
        conditioners: Sequence[Conditioner] = (),
        guidance: float = 1.0,
        steps: int = DEFAULT_STEPS,
        sampler: str = DEFAULT_SAMPLER,
        seed: int | None = None,
        batch_size: int = 16,
        refine: bool = True,
        progress: bool = False,
    ) -> list[Backbone]:
        """``num_samples`` designs that satisfy ``conditioners`` (see
        :mod:`molgen.generators.conditioners`: Length, SecondaryStructure, Motif, composable).

        Args:
            guidance: classifier-free guidance weight on the secondary-structure conditions
                (1 = plain conditional sampling; > 1 obeys them more strictly; costs a second
                denoiser evaluation per step).

        Motif residues keep their residue types, have B-factor 1 (0 elsewhere) and are placed
        by the model (the motif moves as a rigid body). ``metadata`` adds ``contig``,
        ``motif_labels`` (input residue per motif position), ``motif_index`` (0-based output
        positions), ``motif_rmsd`` (Angstrom, N, CA, C of the design vs the input motif after
        superposition; O is placed from them; the motif is imposed, so this only shows that the
        design kept it); with secondary-structure conditions ``ss_requested``,
        ``ss_fraction_requested`` and ``guidance``.
        """
        plans = self.plan_designs(num_samples, conditioners, seed)
        return [
            b
            for batch in self.iter_designs(
                plans, guidance, steps, sampler, seed, batch_size, refine, progress
            )
            for b in batch
        ]

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
        if conditional and not self.config.denoiser.conditioning:
            raise ValueError(
                f"model {self.name!r} was trained without conditioning; "
                "it cannot take a motif or secondary structure"
            )

    def iter_designs(
        self,
        plans: Sequence[DesignPlan],
        guidance: float = 1.0,
        steps: int = DEFAULT_STEPS,
        sampler: str = DEFAULT_SAMPLER,
        seed: int | None = None,
        batch_size: int = 16,
        refine: bool = True,
        progress: bool = False,
    ) -> Iterator[list[Backbone]]:
        """Sample ``plans`` (from :meth:`plan_designs`) batch by batch."""
        check_sampling_args(steps, sampler, batch_size)
        self._check_conditional(plans)
        if not guidance >= 0:
            raise ValueError(f"guidance must be >= 0, got {guidance}")
        gen = make_generator(seed, "cpu")
        bar = tqdm(total=len(plans), disable=not progress, desc="backbones", unit="design")
        for done in range(0, len(plans), batch_size):
            chunk = np.empty(len(plans[done : done + batch_size]), dtype=object)
            chunk[:] = list(plans[done : done + batch_size])
            coords, _ = sample_finite(
                lambda p: self._sample_batch(p, steps, sampler, guidance, gen), chunk, done, "backbones"
            )
            out = []
            for i, (plan, xyz) in enumerate(zip(chunk, coords)):
                if refine:
                    motif = np.zeros(len(xyz), dtype=bool)
                    motif[plan.motif_index] = True
                    xyz = idealize(xyz, fixed=motif)
                o = ideal_oxygens(xyz[:, 0], xyz[:, 1], xyz[:, 2])
                meta = {
                    "index": done + i,
                    "seed": seed,
                    "steps": steps,
                    "sampler": sampler,
                    "model": self.name,
                    "refined": refine,
                }
                out.append(self._finish(np.concatenate([xyz, o[:, None]], axis=1), plan, meta, guidance))
            bar.update(len(chunk))
            yield out
        bar.close()

    @staticmethod
    def _finish(coords: np.ndarray, plan: DesignPlan, meta: dict, guidance: float) -> Backbone:
        """The design as a Backbone with the plan's motif types, B-factors and metadata."""
        sequence = np.array(["G"] * len(coords))
        b_factors = np.zeros(len(coords))
        if plan.ss is not None or plan.ss_fraction is not None:
            meta |= {"ss_requested": plan.ss, "ss_fraction_requested": plan.ss_fraction, "guidance": guidance}
        if len(plan.motif_index):
            sequence[plan.motif_index] = list(plan.motif_sequence)
            b_factors[plan.motif_index] = 1.0
            meta |= {
                "contig": plan.contig,
                "motif_labels": list(plan.motif_labels),
                "motif_index": plan.motif_index.tolist(),
                "motif_rmsd": rmsd_after_superposition(coords[plan.motif_index, :3], plan.motif_xyz[:, :3]),
            }
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

    @torch.no_grad()
    def _sample_batch(
        self, plans: np.ndarray, steps: int, sampler: str, guidance: float, gen: torch.Generator
    ) -> tuple[list[np.ndarray], list[None]]:
        """Raw N, CA, C coordinates ``[L, 3, 3]`` (Angstrom) for ``plans`` (and no extras)."""
        sizes = np.array([p.length for p in plans])
        counts = torch.as_tensor(sizes, dtype=torch.long) * ATOMS_PER_RESIDUE
        batch = batch_vector(counts)
        shape = State(torch.zeros(len(batch), 3), torch.zeros(len(batch), 0), batch, len(counts))
        z = self.sde.prior(shape, gen)
        z = State(z.pos.to(self.device), z.feat.to(self.device), batch.to(self.device), len(counts))
        conditions = self._conditions(plans) if self.config.denoiser.conditioning else None
        reference = None
        if conditions is not None and guidance != 1.0 and conditions.has_secondary_structure:
            reference = conditions.without_secondary_structure()
        motif = MotifImposer(plans, self.stats.coord_scale, self.device)

        previous: list[torch.Tensor | None] = [None]  # the last x0 estimate, for self-conditioning

        def predict(state: State, tt: torch.Tensor, cond: BackboneConditions | None) -> torch.Tensor:
            extra = {} if cond is None else {"conditions": cond}
            return predict_x0(
                self.runner, self.sde, state, tt, type_scale=1.0, self_cond=previous[0], **extra
            )[0].pos

        def denoise(state: State, t: float) -> State:
            tt = torch.full((state.num_graphs,), t, device=self.device)
            pos = predict(state, tt, conditions)
            if reference is not None:
                free = predict(state, tt, reference)
                pos = free + guidance * (pos - free)
            pos = remove_mean(motif.impose(pos), state.batch, state.num_graphs)
            if self.config.denoiser.self_condition:
                previous[0] = pos
            return state.replace(pos, state.feat)

        x0 = sample(denoise, self.sde, z, steps, sampler, generator=device_generator(gen, self.device))
        pos = (x0.pos.double() * self.stats.coord_scale).cpu().numpy().reshape(-1, ATOMS_PER_RESIDUE, 3)
        return np.split(pos, np.cumsum(sizes)[:-1]), [None] * len(sizes)

    def _conditions(self, plans: Sequence[DesignPlan]) -> BackboneConditions:
        """The network's conditioning inputs for a batch of plans."""
        ss, motif, motif_xyz = [], [], []
        for plan in plans:
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
        fraction = [p.ss_fraction or (0.0, 0.0) for p in plans]
        return BackboneConditions(
            ss=torch.cat(ss),
            ss_fraction=torch.tensor(fraction),
            ss_fraction_given=torch.tensor([p.ss_fraction is not None for p in plans]),
            motif=torch.cat(motif),
            motif_xyz=torch.cat(motif_xyz),
        ).to(self.device, torch.get_default_dtype())


class MotifImposer:
    """Puts each plan's motif into a batch of x0 estimates: the motif (N, CA, C) is superposed
    onto the estimate's motif residues and replaces them, so the network decides where the
    motif goes and the motif itself stays exact."""

    def __init__(self, plans: Sequence[DesignPlan], coord_scale: float, device: torch.device) -> None:
        self.slices = []  # (atom indices in the batch, motif atoms in model units)
        start = 0
        for plan in plans:
            atoms = (start + plan.motif_index[:, None]) * ATOMS_PER_RESIDUE + np.arange(ATOMS_PER_RESIDUE)
            xyz = torch.as_tensor(plan.motif_xyz[:, :ATOMS_PER_RESIDUE].reshape(-1, 3), dtype=torch.float64)
            self.slices.append(
                (torch.as_tensor(atoms.reshape(-1), device=device), xyz.to(device) / coord_scale)
            )
            start += plan.length

    def impose(self, pos: torch.Tensor) -> torch.Tensor:
        """``pos`` ``[3 R, 3]`` with every motif superposed and substituted."""
        if not any(len(atoms) for atoms, _ in self.slices):
            return pos
        pos = pos.clone()
        for atoms, motif in self.slices:
            if len(atoms):
                pos[atoms] = superpose(motif, pos[atoms].double()).to(pos.dtype)
        return pos
