"""MoleculeGenerator: molecule requests in, RDKit molecules out (the loop itself: generators/base.py)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem

from molgen.config import BOND_STATES
from molgen.core.graph import batch_vector, full_pairs
from molgen.core.state import State
from molgen.diffusion.inpainting import RigidParts
from molgen.generators.base import BatchInputs, PretrainedGenerator, Sampled, SamplingOptions
from molgen.models.molecule_conditions import FragmentCondition, MoleculeConditions
from molgen.models.pretrained import bundled_configs
from molgen.runtime import make_generator, resolve_seed
from molgen.structures.bond_lengths import bond_orders
from molgen.structures.molecule import Molecule
from molgen.structures.vocab import AtomVocab, type_token

logger = logging.getLogger("molgen")

NumAtoms = int | range | Sequence[int] | None
Properties = dict[str, float | Sequence[float]]

# Sampling defaults (None arguments of MoleculeGenerator.sample). Around a fixed fragment that the
# model was not trained to read, 20 ancestral steps x 10 RePaint resamplings gave about four times as
# many valid samples as the general defaults (benzene 19 -> 74 %, pyridine 11 -> 44 %;
# docs/benchmarks.md, "Fragment inpainting"); a model trained with fragments keeps its general defaults.
DEFAULT_SAMPLING = {"steps": 50, "sampler": "dpm2m", "resample": 1, "time_power": 1.0}
# the uniform grid unless a model names its own for fragments (config.json's sampling
# "fragment_time_power"; the unconditional "time_power" does not carry over)
FRAGMENT_SAMPLING = {"steps": 20, "sampler": "ancestral", "resample": 10, "time_power": 1.0}
DEFAULT_BATCH_SIZE = 256


@dataclass
class Fragment:
    """A fixed part of every sampled molecule, in model units.

    Attributes:
        symbols: elements of the fixed atoms (``[k]``; heavy atoms only for implicit-H models).
        pos: ``[k, 3]`` centred coordinates in model units.
        feat: ``[k, num_types]`` clean type features (one-hot x type_scale).
        orders: ``[k, k]`` bond orders among the fixed atoms from the fragment's file (None:
            the file has no bonds).
        pair: ``[k (k - 1) / 2, S]`` clean pair features of the fixed atoms' pairs, in
            :func:`~molgen.core.graph.full_pairs` order (models with bonds), or None.
    """

    symbols: list[str]
    pos: torch.Tensor
    feat: torch.Tensor
    orders: np.ndarray | None = None
    pair: torch.Tensor | None = None

    def bonds_within(self, symbols: list[str], pos: np.ndarray) -> np.ndarray | None:
        """``[num_bonds, 3]`` ``(i, j, order)`` bonds of a heavy-atom sample (``symbols``, ``pos``
        ``[n, 3]`` in Angstrom) whose first ``k`` atoms are this fragment: the fragment's own bonds
        among those, EDM's distance rule for every other pair (the rule alone would misread e.g.
        aromatic rings of the fragment). None when the fragment has no bonds."""
        if self.orders is None:
            return None
        orders = bond_orders(symbols, pos)
        k = len(self.symbols)
        orders[:k, :k] = self.orders
        i, j = np.nonzero(np.triu(orders))
        return np.stack([i, j, orders[i, j]], -1)

    def rigid(self, sizes: np.ndarray) -> RigidParts:
        """The fragment as the first ``k`` atoms of each of a batch's molecules (``sizes``
        ``[G]`` atoms per molecule)."""
        k, g = len(self.symbols), len(sizes)
        first = np.cumsum(sizes) - sizes
        atoms = torch.as_tensor(first[:, None] + np.arange(k), device=self.pos.device)
        feat = self.feat.expand(g, k, self.feat.shape[1])
        if self.pair is None:
            return RigidParts(atoms, self.pos.expand(g, k, 3), feat)
        # the fragment's pairs are the first k (k - 1) / 2 pair rows of each molecule
        pair_counts = sizes * (sizes - 1) // 2
        rows = (np.cumsum(pair_counts) - pair_counts)[:, None] + np.arange(len(self.pair))
        pair_rows = torch.as_tensor(rows, device=self.pos.device)
        pair = self.pair.expand(g, *self.pair.shape)
        return RigidParts(atoms, self.pos.expand(g, k, 3), feat, pair_rows, pair)

    def condition(self, sizes: np.ndarray) -> FragmentCondition:
        """The fragment as a fragment-conditioned model reads it, in a batch of molecules of
        ``sizes`` ``[G]`` atoms whose first ``k`` atoms are the fragment (models with bonds)."""
        part = self.rigid(sizes)
        counts = torch.as_tensor(sizes, device=self.pos.device)
        pair_index = full_pairs(counts)
        atoms, rows = part.atoms.reshape(-1), part.pair_rows.reshape(-1)

        def placed(num_rows: int, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
            flat = values.flatten(0, 1)
            return flat.new_zeros(num_rows, flat.shape[1]).index_copy(0, index, flat)

        n = int(counts.sum())
        pos, feat = placed(n, atoms, part.pos), placed(n, atoms, part.feat)
        pair = placed(pair_index.shape[1], rows, part.pair)
        fixed = torch.zeros(n, dtype=torch.bool, device=self.pos.device).index_fill(0, atoms, True)
        clean = State(pos, feat, batch_vector(counts), len(sizes), pair, pair_index)
        return FragmentCondition.of(clean, fixed)


class MoleculeGenerator(PretrainedGenerator):
    """Samples 3D molecules from a trained molecule model.

    >>> gen = MoleculeGenerator.from_pretrained("qm9")          # doctest: +SKIP
    >>> mols = gen.sample(100, steps=50, seed=0)                 # doctest: +SKIP
    """

    KIND = "molecules"
    DEFAULT_MODEL = "qm9-heavy-bonds"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.symbols = list(self.config.vocab)
        vocab = AtomVocab(self.config.vocab)
        self.elements, self.charges = vocab.elements, vocab.charges

    # -------------------------------------------------------------- sampling
    def sample(self, num_molecules: int, **options) -> list[Chem.Mol]:
        """Sample ``num_molecules`` molecules as RDKit Mols with one 3D conformer each.

        Keyword-only options (all optional):
            num_atoms: None draws sizes from the training histogram (for a property request,
                from the training molecules with values of the first requested property
                near the target, as EDM does); an int fixes
                every size; a ``range`` draws from the training histogram within it; a sequence
                gives one size per molecule. For a model with implicit hydrogens
                (``config.hydrogens``) these count heavy atoms; RDKit adds the hydrogens
                (:meth:`molgen.structures.Molecule.to_rdkit_adding_hydrogens`).
            properties: target values of a property-conditioned model (``config.properties``),
                e.g. ``{"alpha": 80.0}``, in the units of ``molgen.datasets.qm9.PROPERTY_UNITS``.
            guidance: classifier-free guidance weight (1: plain conditional sampling; > 1 pushes
                harder towards the targets).
            fixed: a fragment every molecule must contain: its atoms keep their elements and
                their geometry up to a rigid motion; the model generates the other atoms
                around it. Hydrogens of the fragment are dropped for implicit-hydrogen models.
                A model with bonds keeps the fragment's bonds (from its file, Kekulé) fixed while
                generating all others; an implicit-hydrogen model without bonds keeps them and
                reads the others off distances.
            steps: denoiser evaluations per molecule (with guidance each is one pass over twice the batch);
                None: the model's default (config.json's ``sampling``, else 50), or 20 when
                inpainting (``fixed`` given to a model not trained with fragments,
                ``config.fragments`` false).
            sampler: one of ``ancestral``, ``ancestral-mean``, ``ddim``, ``dpm2m``
                (see :func:`molgen.diffusion.samplers.sample`); None: the model's default
                (config.json's ``sampling``, else ``dpm2m``), or ``ancestral`` when inpainting.
            resample: RePaint resampling (:func:`molgen.diffusion.samplers.sample`): each step
                taken ``resample`` times so the generated atoms settle around a fixed fragment
                (``ancestral`` sampler only; ``steps * resample`` evaluations); None: 1, or 10
                when inpainting with the ``ancestral`` sampler.
            time_power: the sampler's time grid ``t_i = (1 - i / steps) ** time_power``; None: the
                model's default (config.json's ``sampling``, else 1), or when inpainting its
                ``fragment_time_power`` (else 1).
            seed: makes the output reproducible (same seed, same batch_size, same molecules).
            batch_size: molecules per batch (default ``DEFAULT_BATCH_SIZE``).
            progress: show a progress bar.

        Each Mol carries the properties ``index``, ``seed``, ``model``, ``steps``, ``sampler``,
        ``time_power``, ``molgen_version``, for a model with bonds ``bonds_vs_geometry`` (atom
        pairs where its bonds and EDM's distance rule disagree), ``valid`` (see
        :meth:`molgen.structures.Molecule.to_rdkit`) and ``smiles``; with
        ``properties`` also ``target_<name>`` and ``guidance``; with ``fixed`` also ``resample``
        and ``fixed_atoms`` (the first ``fixed_atoms`` atoms of the heavy-atom list are the fragment).
        """
        return [m for batch in self.iter_batches(num_molecules, **options) for m in batch]

    def iter_batches(
        self,
        num_molecules: int,
        *,
        num_atoms: NumAtoms = None,
        properties: Properties | None = None,
        guidance: float = 1.0,
        fixed: Molecule | None = None,
        steps: int | None = None,
        sampler: str | None = None,
        resample: int | None = None,
        time_power: float | None = None,
        seed: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool = False,
        first_batch: int = 0,
    ) -> Iterator[list[Chem.Mol]]:
        """Like :meth:`sample` (same options) but yields molecules batch by batch (memory stays
        flat), from batch ``first_batch`` on (a resumed run: batch ``b`` depends only on the
        request, the seed and ``b``). The request is checked before the first batch is asked for."""
        if num_molecules < 1:
            raise ValueError(f"number of molecules must be >= 1, got {num_molecules}")
        steps, sampler, resample, time_power = sampling_settings(
            fixed is not None and not self.config.fragments,
            steps,
            sampler,
            resample,
            time_power,
            self.sampling,
        )
        seed = resolve_seed(seed)
        options = SamplingOptions(
            steps,
            sampler,
            batch_size,
            seed=seed,
            guidance=guidance,
            resample=resample,
            time_power=time_power,
            progress=progress,
        )
        cond = self.conditions(properties, num_molecules)
        if guidance != 1.0 and not properties:
            raise ValueError("guidance needs property targets (properties={...} / --property NAME=VALUE)")
        targets = {k: _per_molecule(k, v, num_molecules) for k, v in (properties or {}).items()}
        fragment = self.fragment(fixed) if fixed is not None else None
        minimum = len(fragment.symbols) if fragment else 1
        gen = make_generator(seed, "cpu")
        if targets and num_atoms is None:  # p(num_atoms | first property), as EDM does
            name, values = next(iter(targets.items()))
            hists = [self.stats.properties[name].size_hist(v) for v in values]
            hists = [h if max(h) >= minimum else self.stats.num_atoms_hist for h in hists]  # fragment
            sizes = np.concatenate([self._sizes(1, None, gen, h, minimum) for h in hists])
        else:
            sizes = self._sizes(num_molecules, num_atoms, gen, self.stats.num_atoms_hist, minimum)

        def batch_inputs(indices: np.ndarray) -> BatchInputs:
            rows = torch.as_tensor(np.asarray(indices))
            part = None if cond is None else MoleculeConditions(cond.values[rows], cond.given[rows])
            rigid = [] if fragment is None else [fragment.rigid(sizes[indices])]
            if fragment is not None and self.config.fragments:
                part = part or MoleculeConditions.none(len(rows), len(self.config.properties))
                part = dataclasses.replace(part, fragment=fragment.condition(sizes[indices]))
            return BatchInputs(sizes[indices], len(self.symbols), part, rigid, self.config.num_pair_states)

        samples = self.iter_samples(np.arange(num_molecules), batch_inputs, options, "molecules", first_batch)
        return self._molecules(samples, options, targets, fragment)

    def _molecules(
        self,
        samples: Iterator,
        options: SamplingOptions,
        targets: dict[str, np.ndarray],
        fragment: Fragment | None,
    ) -> Iterator[list[Chem.Mol]]:
        """RDKit molecules with their SD tags, batch by batch, from :meth:`iter_samples`."""
        for done, _, batch in samples:
            mols = []
            for i, sampled in enumerate(batch):
                props = options.metadata(done + i, self.name)
                if targets:
                    props.update({f"target_{k}": float(v[done + i]) for k, v in targets.items()})
                    props["guidance"] = float(options.guidance)
                if fragment is not None:
                    props["resample"] = options.resample
                    props["fixed_atoms"] = len(fragment.symbols)
                mols.append(self._molecule(sampled, props, fragment))
            yield mols

    def _molecule(self, sampled: Sampled, props: dict, fragment: Fragment | None) -> Chem.Mol:
        """One sample as an RDKit Mol: with the generated bonds (models with bonds; the SD tag
        ``bonds_vs_geometry`` counts the atom pairs where they and the coordinates disagree, see
        :func:`bond_disagreements`), else with bonds from the geometry."""
        symbols = [self.elements[t] for t in sampled.types]
        charges = np.array([self.charges[t] for t in sampled.types])
        bonds = sampled.pairs
        if bonds is not None:
            props["bonds_vs_geometry"] = bond_disagreements(symbols, sampled.pos, bonds)
        elif fragment is not None and self.config.hydrogens == "implicit":
            bonds = fragment.bonds_within(symbols, sampled.pos)
        molecule = Molecule(symbols, sampled.pos, bonds, props, charges if charges.any() else None)
        if self.config.hydrogens == "implicit":
            return molecule.to_rdkit_adding_hydrogens()
        return molecule.to_rdkit()

    # ------------------------------------------------------------ conditions
    def conditions(self, properties: Properties | None, num_molecules: int = 1) -> MoleculeConditions | None:
        """The conditioning of a property request for ``num_molecules`` molecules (None for a
        model without properties). A property's value is one number for every molecule or a
        sequence of one per molecule; a ValueError names what is wrong with the request."""
        known = list(self.config.properties)
        if properties and not known:
            takers = [
                f"{n} ({', '.join(c.properties)})"
                for n, c in bundled_configs("molecules").items()
                if c.properties
            ]
            raise ValueError(
                f"model {self.name!r} is not property-conditioned; it cannot take {sorted(properties)}. "
                f"Bundled models that take properties: {'; '.join(takers) or 'none'}"
            )
        if not known:
            return None
        values, given = torch.zeros(num_molecules, len(known)), torch.zeros(num_molecules, len(known))
        for name, value in (properties or {}).items():
            if name not in known:
                raise ValueError(f"unknown property {name!r}; model {self.name!r} knows {known}")
            value = _per_molecule(name, value, num_molecules)
            stats = self.stats.properties[name]
            lo, hi = stats.bin_edges[0], stats.bin_edges[-1]
            outside = (value < lo) | (value > hi)
            if outside.any():
                logger.warning(
                    "%s = %g lies outside the training range [%g, %g]; samples may not reach it",
                    name,
                    value[outside][0],
                    lo,
                    hi,
                )
            i = known.index(name)
            values[:, i], given[:, i] = torch.from_numpy((value - stats.mean) / stats.std).float(), 1.0
        return MoleculeConditions(values, given)

    def fragment(self, fixed: Molecule) -> Fragment:
        """Check a fragment against the model and put it into model units."""
        keep = [i for i, s in enumerate(fixed.symbols) if s != "H" or self.config.hydrogens == "explicit"]
        if not keep:
            raise ValueError("the fragment has no atoms this model generates")
        symbols = [fixed.symbols[i] for i in keep]
        charged = fixed.charges is not None and any(self.charges)  # element-only vocabularies ignore charges
        charges = [int(fixed.charges[i]) for i in keep] if charged else [0] * len(keep)
        tokens = [type_token(s, q) for s, q in zip(symbols, charges)]
        unknown = sorted(set(tokens) - set(self.symbols))
        if unknown:
            raise ValueError(
                f"fragment atom types {unknown} are not in the model's vocabulary {self.symbols}"
            )
        pos = torch.as_tensor(fixed.pos[keep], dtype=torch.float32)
        pos = (pos - pos.mean(0)) / self.stats.coord_scale
        types = torch.tensor([self.symbols.index(t) for t in tokens])
        scale = self.config.sde.type_scale
        feat = torch.nn.functional.one_hot(types, len(self.symbols)).float() * scale
        orders = None
        if fixed.bonds is not None and len(fixed.bonds):
            index = {old: new for new, old in enumerate(keep)}
            orders = np.zeros((len(keep), len(keep)), dtype=np.int64)
            for i, j, order in fixed.bonds.tolist():
                if i in index and j in index:
                    orders[index[i], index[j]] = orders[index[j], index[i]] = order
        pair = None
        if self.config.bonds:
            if orders is None or (orders > len(BOND_STATES) - 1).any():
                raise ValueError(
                    "a model with bonds needs the fragment's bonds in Kekulé form (an SDF bond block)"
                )
            i, j = full_pairs(torch.tensor([len(keep)]))
            states = torch.as_tensor(orders[i.numpy(), j.numpy()])
            pair = torch.nn.functional.one_hot(states, len(BOND_STATES)).float() * self.config.sde.pair_scale
            pair = pair.to(self.device)
        return Fragment(symbols, pos.to(self.device), feat.to(self.device), orders, pair)

    # -------------------------------------------------------------- internals
    @staticmethod
    def _sizes(
        n: int, num_atoms: NumAtoms, gen: torch.Generator, hist: dict[int, int], minimum: int = 1
    ) -> np.ndarray:
        """``[n]`` molecule sizes (see :meth:`sample`); ``minimum``: the fragment's atom count."""
        if num_atoms is None or isinstance(num_atoms, range):
            allowed = num_atoms if num_atoms is not None else range(minimum, max(hist) + 1)
            values = [v for v in sorted(hist) if v in allowed and v >= minimum]
            probs = [float(hist[v]) for v in values]
            if not values:  # a range the training data never saw: uniform within it
                values = [v for v in allowed if v >= minimum]
                probs = [1.0] * len(values)
            if not values:
                raise ValueError(f"no molecule size in {num_atoms} can hold the fragment's {minimum} atoms")
            draws = torch.multinomial(
                torch.tensor(probs, dtype=torch.float64), n, replacement=True, generator=gen
            )
            return np.asarray(values)[draws.numpy()]
        if isinstance(num_atoms, (int, np.integer)):
            sizes = np.full(n, int(num_atoms))
        else:
            sizes = np.asarray(list(num_atoms), dtype=np.int64)
            if len(sizes) != n:
                raise ValueError(f"num_atoms has {len(sizes)} entries for {n} molecules")
        if (sizes < 1).any():
            raise ValueError("num_atoms must be >= 1")
        if (sizes < minimum).any():
            raise ValueError(f"num_atoms {int(sizes.min())} is smaller than the fragment ({minimum} atoms)")
        return sizes


def bond_disagreements(symbols: list[str], pos: np.ndarray, bonds: np.ndarray) -> int:
    """Atom pairs bonded by the generated bonds (``bonds`` ``[m, 3]`` ``(i, j, order)``) but not
    by EDM's distance rule on the coordinates, or the other way round (0: the bonds and the
    geometry agree on which atoms are bonded; orders are not compared, since a Kekulé structure
    alternates where aromatic geometry does not)."""
    generated = np.zeros((len(symbols), len(symbols)), dtype=bool)
    generated[bonds[:, 0], bonds[:, 1]] = True
    return int((np.triu(bond_orders(symbols, pos) > 0, 1) != generated).sum())


def sampling_settings(
    inpainting: bool,
    steps: int | None,
    sampler: str | None,
    resample: int | None,
    time_power: float | None = None,
    model_defaults: dict | None = None,
) -> tuple[int, str, int, float]:
    """``(steps, sampler, resample, time_power)`` with each None replaced by its default:
    ``DEFAULT_SAMPLING`` updated by the model's own ``model_defaults`` (config.json's
    ``sampling``), or, for ``inpainting`` (a fixed fragment that the model was not trained to
    read), ``FRAGMENT_SAMPLING`` with the model's ``fragment_time_power`` if it names one
    (resampling only with the ancestral sampler)."""
    model_defaults = model_defaults or {}
    if inpainting:
        power = model_defaults.get("fragment_time_power", FRAGMENT_SAMPLING["time_power"])
        defaults = FRAGMENT_SAMPLING | {"time_power": power}
    else:
        defaults = DEFAULT_SAMPLING | model_defaults
    sampler = defaults["sampler"] if sampler is None else sampler
    if resample is None:
        resample = defaults["resample"] if sampler == "ancestral" else 1
    steps = defaults["steps"] if steps is None else steps
    return steps, sampler, resample, float(defaults["time_power"] if time_power is None else time_power)


def _per_molecule(name: str, value: float | Sequence[float], num_molecules: int) -> np.ndarray:
    """``[num_molecules]`` float64 values of one property request; ValueError if malformed."""
    try:
        values = np.broadcast_to(np.asarray(value, dtype=np.float64), (num_molecules,)).copy()
    except (TypeError, ValueError):
        raise ValueError(f"property {name}: give one number or {num_molecules} numbers") from None
    if not np.isfinite(values).all():
        raise ValueError(f"property {name} must be finite numbers")
    return values


def parse_num_atoms(text: str | None) -> int | range | None:
    """``"15"`` -> 15, ``"15-20"`` -> range(15, 21), None -> None (the ``num_atoms`` option)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise ValueError(f"--num-atoms {text!r}: expected N or A-B, e.g. 15 or 15-20")
    lo, hi = int(match[1]), match[2]
    if lo < 1 or (hi is not None and int(hi) < lo):
        raise ValueError(f"--num-atoms {text!r}: need 1 <= A <= B")
    return lo if hi is None else range(lo, int(hi) + 1)


def parse_properties(items: Sequence[str]) -> dict[str, float]:
    """``["alpha=80", "gap=0.25"]`` -> ``{"alpha": 80.0, "gap": 0.25}`` (the ``properties`` option)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValueError(f"--property {item!r}: expected NAME=VALUE, e.g. alpha=80")
    return out
