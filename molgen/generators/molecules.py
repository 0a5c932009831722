"""MoleculeGenerator: the sampling loop from a trained denoiser to RDKit molecules."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from rdkit import Chem
from tqdm.auto import tqdm

from molgen.datasets.graph import batch_vector
from molgen.diffusion.samplers import sample
from molgen.diffusion.sde import State
from molgen.diffusion.targets import predict_x0
from molgen.generators.common import PretrainedGenerator, check_sampling_args, device_generator, sample_finite
from molgen.runtime import make_generator
from molgen.structures.molecule import Molecule

logger = logging.getLogger("molgen")

NumAtoms = int | Sequence[int] | None


class MoleculeGenerator(PretrainedGenerator):
    """Samples 3D molecules from a trained molecule model.

    >>> gen = MoleculeGenerator.from_pretrained("qm9")          # doctest: +SKIP
    >>> mols = gen.sample(100, steps=50, seed=0)                 # doctest: +SKIP
    """

    KIND = "molecules"
    DEFAULT_MODEL = "qm9"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.symbols = list(self.config.vocab)

    # -------------------------------------------------------------- sampling
    def sample(
        self,
        num_molecules: int,
        num_atoms: NumAtoms = None,
        steps: int = 50,
        sampler: str = "dpm2m",
        seed: int | None = None,
        batch_size: int = 256,
        progress: bool = False,
    ) -> list[Chem.Mol]:
        """Sample ``num_molecules`` molecules as RDKit Mols with one 3D conformer each.

        Args:
            num_atoms: None draws sizes from the training histogram; an int fixes every size;
                a sequence gives one size per molecule. For a model with implicit hydrogens
                (``config.hydrogens``) these count heavy atoms; RDKit adds the hydrogens
                (:meth:`molgen.structures.Molecule.to_rdkit_adding_hydrogens`).
            steps: denoiser evaluations per molecule.
            sampler: one of ``ancestral``, ``ancestral-mean``, ``ddim``, ``dpm2m``
                (see :func:`molgen.diffusion.samplers.sample`).
            seed: makes the output reproducible (same seed, same batch_size, same molecules).

        Each Mol carries the properties ``index``, ``seed``, ``model``, ``steps``, ``sampler``,
        ``valid`` (see :meth:`molgen.structures.Molecule.to_rdkit`) and ``smiles``.
        """
        return [
            m
            for batch in self.iter_batches(
                num_molecules, num_atoms, steps, sampler, seed, batch_size, progress
            )
            for m in batch
        ]

    def iter_batches(
        self,
        num_molecules: int,
        num_atoms: NumAtoms = None,
        steps: int = 50,
        sampler: str = "dpm2m",
        seed: int | None = None,
        batch_size: int = 256,
        progress: bool = False,
    ) -> Iterator[list[Chem.Mol]]:
        """Like :meth:`sample` but yields molecules batch by batch (memory stays flat)."""
        self._check_args(num_molecules, steps, sampler, batch_size)
        gen = make_generator(seed, "cpu")
        sizes = self._sizes(num_molecules, num_atoms, gen)
        bar = tqdm(total=num_molecules, disable=not progress, desc="molecules", unit="mol")
        done = 0
        while done < num_molecules:
            chunk = sizes[done : done + batch_size]
            pos, types = sample_finite(
                lambda sizes: self._sample_batch(sizes, steps, sampler, gen), chunk, done, "molecules"
            )
            mols = []
            for i, (p, ty) in enumerate(zip(pos, types)):
                props = {
                    "index": done + i,
                    "seed": "" if seed is None else seed,
                    "model": self.name,
                    "steps": steps,
                    "sampler": sampler,
                }
                molecule = Molecule([self.symbols[t] for t in ty], p, props=props)
                implicit = self.config.hydrogens == "implicit"
                mols.append(molecule.to_rdkit_adding_hydrogens() if implicit else molecule.to_rdkit())
            done += len(chunk)
            bar.update(len(chunk))
            yield mols
        bar.close()

    @torch.no_grad()
    def _sample_batch(
        self, sizes: np.ndarray, steps: int, sampler: str, gen: torch.Generator
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        counts = torch.as_tensor(sizes, dtype=torch.long)
        batch = batch_vector(counts)
        shape = State(
            torch.zeros(len(batch), 3), torch.zeros(len(batch), len(self.symbols)), batch, len(counts)
        )
        z = self.sde.prior(shape, gen)
        z = State(z.pos.to(self.device), z.feat.to(self.device), batch.to(self.device), len(counts))
        type_scale = self.config.sde.type_scale

        def denoise(state: State, t: float) -> State:
            tt = torch.full((state.num_graphs,), t, device=self.device)
            return predict_x0(self.net, self.sde, state, tt, type_scale)[0]

        x0 = sample(denoise, self.sde, z, steps, sampler, generator=device_generator(gen, self.device))
        pos = (x0.pos.double() * self.stats.coord_scale).cpu().numpy()
        types = x0.feat.argmax(-1).cpu().numpy()
        splits = np.cumsum(sizes)[:-1]
        return np.split(pos, splits), np.split(types, splits)

    def _sizes(self, n: int, num_atoms: NumAtoms, gen: torch.Generator) -> np.ndarray:
        if num_atoms is None:
            values = np.array(sorted(self.stats.num_atoms_hist))
            probs = torch.tensor([self.stats.num_atoms_hist[v] for v in values], dtype=torch.float64)
            return values[torch.multinomial(probs, n, replacement=True, generator=gen).numpy()]
        if isinstance(num_atoms, (int, np.integer)):
            sizes = np.full(n, int(num_atoms))
        else:
            sizes = np.asarray(list(num_atoms), dtype=np.int64)
            if len(sizes) != n:
                raise ValueError(f"num_atoms has {len(sizes)} entries for {n} molecules")
        if (sizes < 1).any():
            raise ValueError("num_atoms must be >= 1")
        return sizes

    @staticmethod
    def _check_args(n: int, steps: int, sampler: str, batch_size: int) -> None:
        if n < 1:
            raise ValueError(f"number of molecules must be >= 1, got {n}")
        check_sampling_args(steps, sampler, batch_size)
