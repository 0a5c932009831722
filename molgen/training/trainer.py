"""Training of the molecule denoiser (the loop itself lives in :mod:`molgen.training.loop`)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
from torch.nn import functional as F

from molgen.config import BaseTrainConfig, ModelConfig, TrainConfig
from molgen.core.graph import full_pairs, pair_of_edge, remove_mean
from molgen.core.state import State
from molgen.datasets.packed import PackedMolecules
from molgen.models.molecule_conditions import FragmentCondition, MoleculeConditions
from molgen.models.molecule_denoiser import narrow_conditions
from molgen.models.pretrained import DataStats, PropertyStats
from molgen.structures.vocab import AtomVocab, type_token
from molgen.training.fragments import random_fragments
from molgen.training.loop import DiffusionTrainer, export_checkpoint, read_checkpoint
from molgen.training.losses import SELF_CONDITION_PROBABILITY, TrainingBatch, molecule_loss, stratified_times

__all__ = ["MoleculeTrainer", "export_checkpoint", "read_checkpoint"]

logger = logging.getLogger("molgen")


MAX_CHARGE = 8  # formal charges of training atoms lie in [-MAX_CHARGE, MAX_CHARGE]


class EncodedMolecules:
    """Training tensors: centred, scaled coordinates and type indices of every atom, the
    normalised values of the conditioning properties of every molecule and, with ``bonds``, the
    bond orders of every molecule (Kekulé, from the data)."""

    def __init__(
        self,
        data: PackedMolecules,
        vocab: AtomVocab,
        coord_scale: float,
        properties: dict[str, PropertyStats] | None = None,
        bonds: bool = False,
    ) -> None:
        if bonds:
            data = usable_for_bonds(data)
        lookup = np.full((256, 2 * MAX_CHARGE + 1), -1, dtype=np.int64)
        for i, (z, q) in enumerate(zip(vocab.atomic_numbers, vocab.charges)):
            lookup[z, q + MAX_CHARGE] = i
        # a vocabulary of elements only (no charged type) types atoms by element
        charges = data_charges(data) if any(vocab.charges) else np.zeros(len(data.atomic_numbers), np.int64)
        types = lookup[data.atomic_numbers, charges + MAX_CHARGE]
        if (types < 0).any():
            bad = sorted(
                {
                    type_token(AtomVocab.symbol_of(int(z)), int(q))
                    for z, q in zip(data.atomic_numbers[types < 0], charges[types < 0])
                }
            )
            raise ValueError(
                f"atom types {bad} of the training data are not in the model's vocabulary "
                f"{list(vocab.symbols)}: add them to model.vocab in the config, or leave model.vocab "
                "out to take the atom types from the data"
            )
        self.data = data
        self.types = torch.from_numpy(types)
        self.pos = torch.from_numpy(centred_positions(data) / coord_scale).float()
        # [num_molecules, num_properties] normalised conditioning values
        columns = [(property_values(data, k) - p.mean) / p.std for k, p in (properties or {}).items()]
        self.properties = torch.from_numpy(
            np.stack(columns, -1) if columns else np.zeros((len(data), 0))
        ).float()

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pos ``[N, 3]``, types ``[N]``, batch ``[N]``) for the molecules ``indices``."""
        rows, batch = self.data.atom_rows(indices)
        rows = torch.from_numpy(rows)
        return self.pos[rows], self.types[rows], torch.from_numpy(batch)

    def bond_orders(self, indices: np.ndarray) -> torch.Tensor:
        """``[P]`` bond order (0 = no bond) of every atom pair of the batch of ``indices``, in
        :func:`~molgen.core.graph.full_pairs` order."""
        bonds = self.data.bonds[self.data.bond_rows(indices)]
        molecule = np.repeat(np.arange(len(indices)), np.diff(self.data.bond_offsets)[indices])
        sizes = self.data.num_atoms[indices]
        # atom rows of the data -> node indices of the batch -> pair rows
        first = (np.cumsum(sizes) - sizes)[molecule, None]
        nodes = torch.from_numpy(bonds[:, :2] - self.data.offsets[indices][molecule, None] + first)
        orders = torch.zeros(int((sizes * (sizes - 1) // 2).sum()), dtype=torch.long)
        orders[pair_of_edge(nodes[:, 0], nodes[:, 1], torch.from_numpy(sizes))] = torch.from_numpy(
            bonds[:, 2]
        )
        return orders


def data_charges(data: PackedMolecules) -> np.ndarray:
    """``[total_atoms]`` int64 formal charges (zeros when the data has none); ValueError beyond
    ``MAX_CHARGE``."""
    if data.charges is None:
        return np.zeros(len(data.atomic_numbers), dtype=np.int64)
    charges = data.charges.astype(np.int64)
    if np.abs(charges).max(initial=0) > MAX_CHARGE:
        raise ValueError(f"formal charges beyond +-{MAX_CHARGE} in the training data")
    return charges


def usable_for_bonds(data: PackedMolecules) -> PackedMolecules:
    """The molecules of ``data`` with known bonds (those flagged ``bonds_ok = 0`` dropped); a
    clear error when the data has no bonds at all."""
    if data.bonds is None:
        raise ValueError(
            "the model generates bonds (model.bonds) but the training data has none: use QM9, an "
            "SDF with bonds or SMILES"
        )
    if "bonds_ok" in data.props and not data.props["bonds_ok"].all():
        keep = np.flatnonzero(data.props["bonds_ok"] > 0)
        logger.info("%d of %d molecules without perceived bonds left out", len(data) - len(keep), len(data))
        data = data.subset(keep)
    return data


def model_atoms(data: PackedMolecules, config: ModelConfig) -> PackedMolecules:
    """The atoms a model of ``config`` sees: all of them, or the heavy atoms for implicit hydrogens."""
    return data.without_hydrogens() if config.hydrogens == "implicit" else data


def property_values(data: PackedMolecules, name: str) -> np.ndarray:
    """``[num_molecules]`` values of property ``name``; a clear error if the data lacks it or
    if they cannot be normalised (not finite, or all the same)."""
    if name not in data.props:
        raise ValueError(f"the training data has no property {name!r} (it has {sorted(data.props)})")
    values = data.props[name].astype(np.float64)
    if not np.isfinite(values).all() or values.std() == 0:
        raise ValueError(f"property {name!r} must be finite and not constant over the training data")
    return values


def condition_mask(num: int, num_properties: int, dropout: float, gen: torch.Generator) -> torch.Tensor:
    """``[num, num_properties]`` 0/1 flags of the properties each training molecule is given.

    A share ``dropout`` gets none (the unconditional model of classifier-free guidance); half
    of the rest get exactly one property, the other half a random non-empty subset (each
    property with probability 1/2; an empty draw falls back to the one property).
    """
    u = torch.rand(num, 1, generator=gen)
    one = torch.nn.functional.one_hot(
        torch.randint(num_properties, (num,), generator=gen), num_properties
    ).bool()
    subset = torch.rand(num, num_properties, generator=gen) < 0.5
    subset |= one & ~subset.any(1, keepdim=True)
    mask = torch.where(u < dropout + (1 - dropout) / 2, one, subset)
    return (mask & (u >= dropout)).float()


def centred_positions(data: PackedMolecules) -> np.ndarray:
    """``[total_atoms, 3]`` coordinates with each molecule's centre subtracted."""
    counts = data.num_atoms
    sums = np.add.reduceat(data.pos.astype(np.float64), data.offsets[:-1], axis=0)
    return data.pos - np.repeat(sums / counts[:, None], counts, axis=0)


class MoleculeTrainer(DiffusionTrainer):
    """Trains a :class:`~molgen.models.molecule_denoiser.MoleculeDenoiser` on a packed molecule set."""

    KIND = "molecules"
    TRAIN_CONFIG = TrainConfig
    LOSS_FIELDS = ("loss_pos", "loss_type", "loss_bond")
    RATE_FIELD = "mol_per_s"

    def complete_config(
        self, data: PackedMolecules, model_config: ModelConfig, source: ModelConfig | None = None
    ) -> ModelConfig:
        """Without a vocabulary in the config: that of the initial model (``source``), else the
        atom types of the training data (those the model sees: heavy atoms only for implicit
        hydrogens), in order of atomic number and charge."""
        if model_config.vocab:
            return model_config
        if source is not None and source.vocab:
            return dataclasses.replace(model_config, vocab=source.vocab)
        atoms = model_atoms(data, model_config)
        kinds = np.unique(np.stack([atoms.atomic_numbers.astype(np.int64), data_charges(atoms)], 1), axis=0)
        vocab = tuple(type_token(AtomVocab.symbol_of(int(z)), int(q)) for z, q in kinds)
        return dataclasses.replace(model_config, vocab=vocab)

    def make_stats(self, data: PackedMolecules, model_config: ModelConfig) -> DataStats:
        data = model_atoms(data, model_config)
        props = {k: property_values(data, k) for k in model_config.properties}
        return DataStats.from_dataset(data.num_atoms, centred_positions(data), props)

    def adapt_initial(
        self, source: ModelConfig, target: ModelConfig, state: dict, stats: DataStats
    ) -> tuple[dict, DataStats]:
        """``--init-from`` a property-conditioned denoiser with a config that keeps a subset of its
        properties (e.g. a single-property fine-tune): narrow its input layer and statistics."""
        old, new = list(source.properties), list(target.properties)
        if old == new or not set(new) <= set(old):
            return state, stats  # anything else: the load's or encode's own checks apply
        state = narrow_conditions(state, old, new, source.num_types)
        return state, dataclasses.replace(stats, properties={k: stats.properties[k] for k in new})

    def encode(self, data: PackedMolecules) -> EncodedMolecules:
        self.vocab = AtomVocab(self.model_config.vocab)
        missing = [k for k in self.model_config.properties if k not in self.stats.properties]
        if missing:  # --init-from a model without them: its input layer cannot take them either
            raise ValueError(
                f"the initial model was not trained with the properties {missing}; train a "
                "property-conditioned model from scratch (or from a model with the same properties)"
            )
        properties = {k: self.stats.properties[k] for k in self.model_config.properties}
        return EncodedMolecules(
            model_atoms(data, self.model_config),
            self.vocab,
            self.stats.coord_scale,
            properties,
            getattr(self.model_config, "bonds", False),  # a regressor reads no bonds
        )

    def local_inputs(self, step: int) -> TrainingBatch:
        """This rank's share of the global batch of ``step``."""
        b = self.config.batch_size
        indices = self.global_batch(step)
        pos, types, batch = self.encoded.batch(indices)
        gen = self.step_generator(step)
        t = stratified_times(b, gen)
        type_scale = self.model_config.sde.type_scale
        x0 = State(pos, F.one_hot(types, len(self.vocab)).float() * type_scale, batch, b)
        orders = None
        if self.model_config.bonds:
            pair_index = full_pairs(torch.bincount(batch, minlength=b))
            orders = self.encoded.bond_orders(indices)
            pair = (
                F.one_hot(orders, self.model_config.num_pair_states).float()
                * self.model_config.sde.pair_scale
            )
            x0 = State(x0.pos, x0.feat, batch, b, pair, pair_index)
        noise = self.sde.noise_like(x0, gen)
        lo, hi = self.rank_slice()
        cond = None
        if self.model_config.properties:
            values = self.encoded.properties[torch.from_numpy(indices)]
            mask = condition_mask(b, values.shape[1], self.config.condition_dropout, gen)
            cond = MoleculeConditions(values[lo:hi], mask[lo:hi]).to(self.device)
        local = (batch >= lo) & (batch < hi)
        local_orders = None
        if orders is not None:
            local_orders = orders[(x0.pair_batch >= lo) & (x0.pair_batch < hi)].to(self.device)
        # drawn after everything else, so a run without them sees the same batches as before
        distortion = None
        if self.config.distortion > 0:
            distortion = self.config.distortion * remove_mean(torch.randn(pos.shape, generator=gen), batch, b)
            distortion = distortion[local].to(self.device)
        self_condition = self.model_config.denoiser.self_condition and bool(
            torch.rand((), generator=gen) < SELF_CONDITION_PROBABILITY
        )
        if self.model_config.fragments:
            counts = torch.bincount(batch, minlength=b)
            fixed = random_fragments(orders, x0.pair_index, counts, self.config.fragment_probability, gen)
            fragment = FragmentCondition.of(x0.graphs(lo, hi), fixed[local]).to(self.device)
            if cond is None:
                cond = MoleculeConditions.none(hi - lo, 0, self.device)
            cond = dataclasses.replace(cond, fragment=fragment)
        return self.local_batch(
            x0,
            t,
            noise,
            cond=cond,
            types=types[local].to(self.device),
            bond_orders=local_orders,
            self_condition=self_condition,
            distortion=distortion,
        )

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        batch = self.local_inputs(step)
        loss, parts = molecule_loss(self.model, self.sde, batch, self.model_config.sde, self.config)
        return loss, {name: float(v) for name, v in zip(self.LOSS_FIELDS, parts)}


class RegressorTrainer(MoleculeTrainer):
    """Trains a :class:`~molgen.models.property_regressor.PropertyRegressor` (L1 loss on the
    normalised properties, clean coordinates) on a packed molecule set with properties."""

    KIND = "regressor"
    TRAIN_CONFIG = BaseTrainConfig  # no type loss, no condition dropout
    LOSS_FIELDS = ("mae",)
    adapt_initial = DiffusionTrainer.adapt_initial  # its properties are outputs: nothing to narrow

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean absolute error over this rank's molecules and all properties (normalised units)."""
        indices = self.global_batch(step)
        pos, types, batch = self.encoded.batch(indices)
        target = self.encoded.properties[torch.from_numpy(indices)]
        lo, hi = self.rank_slice()
        atoms = (batch >= lo) & (batch < hi)
        feat = F.one_hot(types[atoms], len(self.vocab)).float()
        pred = self.model(
            pos[atoms].to(self.device), feat.to(self.device), (batch[atoms] - lo).to(self.device), hi - lo
        )
        loss = (pred - target[lo:hi].to(self.device)).abs().mean()
        return loss, {"mae": float(loss.detach())}
