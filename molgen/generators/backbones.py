"""BackboneGenerator: the sampling loop from a trained backbone denoiser to Backbone objects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from molgen.datasets.graph import batch_vector
from molgen.diffusion.samplers import sample
from molgen.diffusion.sde import State
from molgen.diffusion.targets import predict_x0
from molgen.generators.common import PretrainedGenerator, check_sampling_args, device_generator, sample_finite
from molgen.models.backbone_denoiser import ATOMS_PER_RESIDUE
from molgen.runtime import make_generator
from molgen.structures.backbone import Backbone, ideal_oxygens
from molgen.structures.backbone_geometry import idealize


class BackboneGenerator(PretrainedGenerator):
    """Samples protein backbones (N, CA, C, O) from a trained backbone model.

    >>> gen = BackboneGenerator.from_pretrained("backbones")     # doctest: +SKIP
    >>> designs = gen.sample(lengths=[80, 100], seed=0)           # doctest: +SKIP
    >>> designs[0].to_pdb("design_0.pdb")                         # doctest: +SKIP
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
        steps: int = 100,
        sampler: str = "dpm2m",
        seed: int | None = None,
        batch_size: int = 16,
        refine: bool = True,
        progress: bool = False,
    ) -> list[Backbone]:
        """One backbone per entry of ``lengths`` (an int means one backbone of that length).

        Args:
            steps: denoiser evaluations per backbone.
            sampler: one of ``ancestral``, ``ddim``, ``dpm2m``.
            seed: makes the output reproducible (same seed, lengths and batch_size).
            refine: polish bond lengths and angles with :func:`idealize` (a restrained
                minimisation that moves atoms by tenths of an Angstrom); ``False`` returns the
                network's raw output.

        Each backbone is poly-glycine chain A numbered from 1; ``metadata`` holds ``index``,
        ``seed``, ``steps``, ``sampler``, ``model`` and ``refined``.
        """
        return [
            b
            for batch in self.iter_batches(lengths, steps, sampler, seed, batch_size, refine, progress)
            for b in batch
        ]

    def iter_batches(
        self,
        lengths: int | Sequence[int],
        steps: int = 100,
        sampler: str = "dpm2m",
        seed: int | None = None,
        batch_size: int = 16,
        refine: bool = True,
        progress: bool = False,
    ) -> Iterator[list[Backbone]]:
        """Like :meth:`sample` but yields backbones batch by batch."""
        sizes = self.check_lengths(lengths)
        check_sampling_args(steps, sampler, batch_size)
        gen = make_generator(seed, "cpu")
        bar = tqdm(total=len(sizes), disable=not progress, desc="backbones", unit="design")
        for done in range(0, len(sizes), batch_size):
            chunk = sizes[done : done + batch_size]
            coords, _ = sample_finite(
                lambda s: self._sample_batch(s, steps, sampler, gen), chunk, done, "backbones"
            )
            out = []
            for i, xyz in enumerate(coords):
                if refine:
                    xyz = idealize(xyz)
                o = ideal_oxygens(xyz[:, 0], xyz[:, 1], xyz[:, 2])
                meta = {
                    "index": done + i,
                    "seed": seed,
                    "steps": steps,
                    "sampler": sampler,
                    "model": self.name,
                    "refined": refine,
                }
                out.append(Backbone(np.concatenate([xyz, o[:, None]], axis=1), metadata=meta))
            bar.update(len(chunk))
            yield out
        bar.close()

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
        self, sizes: np.ndarray, steps: int, sampler: str, gen: torch.Generator
    ) -> tuple[list[np.ndarray], list[None]]:
        """Raw N, CA, C coordinates ``[L, 3, 3]`` (Angstrom) for chains of ``sizes`` residues."""
        counts = torch.as_tensor(sizes, dtype=torch.long) * ATOMS_PER_RESIDUE
        batch = batch_vector(counts)
        shape = State(torch.zeros(len(batch), 3), torch.zeros(len(batch), 0), batch, len(counts))
        z = self.sde.prior(shape, gen)
        z = State(z.pos.to(self.device), z.feat.to(self.device), batch.to(self.device), len(counts))

        previous: list[torch.Tensor | None] = [None]  # the last x0 estimate, for self-conditioning

        def denoise(state: State, t: float) -> State:
            tt = torch.full((state.num_graphs,), t, device=self.device)
            x0 = predict_x0(self.net, self.sde, state, tt, type_scale=1.0, self_cond=previous[0])[0]
            if self.config.denoiser.self_condition:
                previous[0] = x0.pos
            return x0

        x0 = sample(denoise, self.sde, z, steps, sampler, generator=device_generator(gen, self.device))
        pos = (x0.pos.double() * self.stats.coord_scale).cpu().numpy().reshape(-1, ATOMS_PER_RESIDUE, 3)
        return np.split(pos, np.cumsum(sizes)[:-1]), [None] * len(sizes)


def draw_lengths(spec: str | int, num_samples: int, seed: int | None) -> list[int]:
    """``num_samples`` chain lengths from ``"80"`` (all 80) or ``"60-100"`` (uniform, inclusive)."""
    text = str(spec).strip()
    try:
        lo, _, hi = text.partition("-")
        lo, hi = int(lo), int(hi or lo)
    except ValueError:
        raise ValueError(f"invalid length {text!r}: expected N or MIN-MAX, e.g. 80 or 60-100") from None
    if lo > hi:
        raise ValueError(f"invalid length {text!r}: MIN is larger than MAX")
    if num_samples < 1:
        raise ValueError(f"number of samples must be >= 1, got {num_samples}")
    return np.random.default_rng(seed).integers(lo, hi + 1, size=num_samples).tolist()
