"""Training of the backbone denoiser on protein chains (the loop lives in :mod:`molgen.training.loop`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from molgen.config import BackboneModelConfig, BackboneTrainConfig
from molgen.core.graph import batch_vector, remove_mean
from molgen.core.state import State
from molgen.generators.backbones import BackboneGenerator
from molgen.io.tables import read_rows, write_rows
from molgen.models.backbone_conditions import BackboneConditions
from molgen.models.backbone_denoiser import ATOMS_PER_RESIDUE
from molgen.models.pretrained import DataStats
from molgen.structures.backbone import Backbone
from molgen.structures.secondary_structure import (
    BRIDGED,
    SS_CLASSES,
    SS_UNSPECIFIED,
    bridge_partners,
    secondary_structure,
    strand_elements,
    strand_pairing,
)
from molgen.training.loop import DiffusionTrainer
from molgen.training.losses import SELF_CONDITION_PROBABILITY, TrainingBatch, backbone_loss, stratified_times
from molgen.training.validation import (
    MID_VALIDATION_NOISE,
    VALIDATION_NOISE,
    hbond_retention,
    one_step_estimates,
    ss_retention,
    topology_designs,
)

BACKBONE_COORD_SCALE = 10.0  # Angstrom per model unit
LOW_NOISE_TIME = 0.25  # the low-noise share of a batch (low_noise_fraction) draws t from [0, 0.25)


MOTIF_SEGMENTS = (1, 4)  # random training motifs: this many contiguous segments ...
MOTIF_SEGMENT_LENGTH = (1, 20)  # ... of this many residues each (each at most a quarter of the chain)
MULTI_MOTIF_PROBABILITY = 0.25  # ... and on this share of chains each segment is its own motif group


VALIDATION_MIN_STRAND = 0.25  # validation chains are strand-rich: at least this share in DSSP strands


def split_validation(
    chains: Sequence[Backbone], count: int, lengths: tuple[int, int], seed: int
) -> tuple[list[Backbone], list[Backbone]]:
    """(validation, training): ``count`` strand-rich chains within ``lengths``, one per sequence
    cluster (``metadata["cluster"]``; a chain without one is its own cluster), drawn with
    ``seed``; every chain of their clusters leaves the training set."""
    if count == 0:
        return [], list(chains)
    rng = np.random.default_rng([seed, 7])
    clusters = [c.metadata.get("cluster", -1 - i) for i, c in enumerate(chains)]
    chosen, taken = [], set()
    for i in rng.permutation(len(chains)):
        chain = chains[i]
        if clusters[i] in taken or not lengths[0] <= len(chain) <= lengths[1]:
            continue
        if secondary_structure(chain).count("E") >= VALIDATION_MIN_STRAND * len(chain):
            chosen.append(chain)
            taken.add(clusters[i])
            if len(chosen) == count:
                break
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} strand-rich chains for validation_chains={count}")
    return chosen, [c for c, k in zip(chains, clusters) if k not in taken]


MIN_CROP_SEGMENT = 3  # spatial crops drop pieces shorter than this (a residue needs both neighbours)


class CroppedBatch(NamedTuple):
    """A training batch of cropped chains: ``pos`` ``[3 R, 3]`` (centred, model units), ``batch``
    ``[3 R]``, DSSP class ``ss`` ``[R]`` and strand ``element`` ``[R]`` (None without DSSP), and
    each residue's ``number`` in its full chain and that chain's length, ``[R]`` each, and its
    ``row`` in the encoded set."""

    pos: torch.Tensor
    batch: torch.Tensor
    ss: torch.Tensor | None
    element: np.ndarray | None
    number: torch.Tensor
    chain_length: torch.Tensor
    row: np.ndarray


def _long_pieces(rows: np.ndarray) -> np.ndarray:
    """``rows`` (sorted residue numbers) without its runs of consecutive numbers shorter than
    ``MIN_CROP_SEGMENT``."""
    run = np.cumsum(np.concatenate([[1], np.diff(rows) != 1]))
    sizes = np.bincount(run)
    return rows[sizes[run] >= MIN_CROP_SEGMENT]


class EncodedBackbones:
    """N, CA, C coordinates of every training chain, back to back, in Angstrom, and (when
    ``with_ss``) their DSSP secondary-structure classes and strand pairing: the strand element of
    every residue (numbered across all chains; -1 outside strands), ``pairing`` ``[K, 3]``
    (element a, element b, kind) of the elements that pair, and ``bridges``, the sorted keys
    ``i * N + j`` of the residue pairs ``i < j`` (rows of the ``N`` residues) that DSSP bridges."""

    def __init__(
        self, chains: Sequence[Backbone], min_length: int, coord_scale: float, with_ss: bool = False
    ) -> None:
        kept = [c for c in chains if len(c) >= min_length]
        if not kept:
            raise ValueError(f"no training chain has >= {min_length} residues")
        self.lengths = np.array([len(c) for c in kept])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.coords = np.concatenate([c.coords[:, :ATOMS_PER_RESIDUE] for c in kept]).astype(np.float32)
        self.coord_scale = coord_scale
        self.ss = self.element = None
        pairing: dict[tuple[int, int], int] = {}
        bridges = [np.zeros(0, dtype=np.int64)]
        if with_ss:
            strings = [secondary_structure(c) for c in kept]
            lookup = np.frombuffer(SS_CLASSES.encode(), dtype=np.uint8)
            codes = np.frombuffer("".join(strings).encode(), dtype=np.uint8)
            match = codes[:, None] == lookup[None, :]
            if not match.any(axis=1).all():
                raise ValueError(f"DSSP returned letters outside {SS_CLASSES}")
            self.ss = np.argmax(match, axis=1)
            elements, first = [], 0
            for n, (chain, ss) in enumerate(zip(kept, strings)):
                local = strand_elements(ss)
                elements.append(np.where(local >= 0, local + first, -1))
                bridged = bridge_partners(chain)
                found = strand_pairing(chain, ss, bridged)
                pairing |= {(a + first, b + first): k for (a, b), k in found.items()}
                first += int(local.max(initial=-1)) + 1
                rows = bridged[0] + self.offsets[n]
                bridges.append(rows[:, 0] * self.offsets[-1] + rows[:, 1])
            self.element = np.concatenate(elements)
        self.bridges = np.sort(np.concatenate(bridges))
        # [K, 3] (element a, element b, kind) of every pairing
        self.pairing = np.array([(a, b, k) for (a, b), k in pairing.items()], dtype=np.int64).reshape(-1, 3)

    def __len__(self) -> int:
        return len(self.lengths)

    def strand_fraction(self) -> np.ndarray:
        """``[chains]`` share of each chain's residues in DSSP strands (needs ``with_ss``)."""
        strand = (self.ss == SS_CLASSES.index("E")).astype(np.float64)
        return np.add.reduceat(strand, self.offsets[:-1]) / self.lengths

    def batch(
        self, indices: np.ndarray, starts: np.ndarray, crop: int, spatial: np.ndarray | None = None
    ) -> CroppedBatch:
        """Chains ``indices``, each cut to ``crop`` residues: a contiguous window starting at
        ``starts`` (fractions in [0, 1) of the possible window starts), or where ``spatial`` is
        set the ``crop`` residues nearest (CA) to the residue at fraction ``starts`` of the chain,
        in chain order, without the pieces shorter than ``MIN_CROP_SEGMENT`` residues."""
        crops = []
        for k, (i, u) in enumerate(zip(indices, starts)):
            length = self.lengths[i]
            n = min(length, crop)
            if spatial is not None and spatial[k] and length > crop:
                ca = self.coords[self.offsets[i] : self.offsets[i + 1], 1]
                centre = ca[int(u * length)]
                crops.append(_long_pieces(np.sort(np.argsort(((ca - centre) ** 2).sum(-1))[:n])))
            else:
                first = int(u * (length - n + 1))
                crops.append(np.arange(first, first + n))
        rows = np.concatenate([self.offsets[i] + c for i, c in zip(indices, crops)])
        batch = batch_vector(torch.tensor([len(c) * ATOMS_PER_RESIDUE for c in crops]))
        pos = torch.from_numpy(self.coords[rows].reshape(-1, 3)) / self.coord_scale
        return CroppedBatch(
            pos=remove_mean(pos, batch, len(crops)),
            batch=batch,
            ss=None if self.ss is None else torch.from_numpy(self.ss[rows]),
            element=None if self.element is None else self.element[rows],
            number=torch.from_numpy(np.concatenate(crops)),
            chain_length=torch.from_numpy(np.repeat(self.lengths[indices], [len(c) for c in crops])),
            row=rows,
        )

    def pairs_of(
        self, element: np.ndarray, chains: np.ndarray, row: np.ndarray, registers: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The block adjacency of a batch's residues (``element`` ``[R]`` strand elements, -1 none;
        ``row`` ``[R]`` their rows in the set) for the chains ``chains`` (bool ``[R]``, residues
        whose pairing is given): ``[2, Q]`` residue pairs ``i < j`` whose elements pair, and their
        kinds ``[Q]``, + ``BRIDGED`` for the pairs DSSP bridges where ``registers`` (bool ``[R]``)
        is set."""
        given = np.flatnonzero(chains & (element >= 0))
        elements, local = np.unique(element[given], return_inverse=True)
        table = np.zeros((len(elements), len(elements)), dtype=np.int64)  # kinds among these elements
        a, b, kind = self.pairing.T
        present = np.isin(a, elements) & np.isin(b, elements)
        i, j = np.searchsorted(elements, a[present]), np.searchsorted(elements, b[present])
        table[i, j] = table[j, i] = kind[present]
        i, j = np.triu_indices(len(given), 1)
        kind = table[local[i], local[j]]
        keep = kind > 0
        pairs = np.stack([given[i][keep], given[j][keep]])
        kind = kind[keep]
        if registers is not None:
            keys = row[pairs].min(0) * self.offsets[-1] + row[pairs].max(0)
            kind = kind + BRIDGED * (registers[pairs[0]] & np.isin(keys, self.bridges))
        return torch.from_numpy(pairs).long(), torch.from_numpy(kind)


def random_conditions(
    x0: State,
    ss: torch.Tensor,
    config: BackboneTrainConfig,
    gen: torch.Generator,
    pairing: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> BackboneConditions:
    """Conditioning for training (the dropout that lets one model sample with or without it).

    Per chain, each independently with ``config.ss_probability``: its DSSP classes on a random
    share (50-100 %) of its residues; its helix and strand fractions. With
    ``config.motif_probability``: a motif of 1-4 random segments (they may overlap) whose clean
    coordinates are given; for a share ``MULTI_MOTIF_PROBABILITY`` of chains every segment is a
    motif group of its own (placed independently).

    Args:
        x0: the clean batch (``3 R`` atoms N, CA, C).
        ss: ``[R]`` DSSP class of every residue.
    """
    rbatch = x0.batch[::ATOMS_PER_RESIDUE]
    graphs = x0.num_graphs
    share = 0.5 + 0.5 * torch.rand(graphs, generator=gen)
    ss_given = (torch.rand(graphs, generator=gen) < config.ss_probability)[rbatch]
    ss_given &= torch.rand(len(rbatch), generator=gen) < share[rbatch]
    counts = torch.bincount(rbatch, minlength=graphs).clamp(min=1)
    fraction = torch.stack(
        [torch.zeros(graphs).index_add_(0, rbatch, (ss == k).float()) / counts for k in (0, 1)], -1
    )
    motif = torch.zeros(len(rbatch), dtype=torch.bool)
    group = torch.zeros(len(rbatch), dtype=torch.long)
    with_motif = torch.rand(graphs, generator=gen) < config.motif_probability
    segments = torch.randint(MOTIF_SEGMENTS[0], MOTIF_SEGMENTS[1] + 1, (graphs,), generator=gen)
    grouped = torch.rand(graphs, generator=gen) < MULTI_MOTIF_PROBABILITY
    starts = torch.cumsum(counts, 0) - counts
    for g in torch.nonzero(with_motif).flatten().tolist():
        n = int(counts[g])
        longest = max(MOTIF_SEGMENT_LENGTH[0], min(MOTIF_SEGMENT_LENGTH[1], n // 4))
        for k in range(int(segments[g])):
            size = int(torch.randint(MOTIF_SEGMENT_LENGTH[0], longest + 1, (), generator=gen))
            first = int(torch.randint(0, max(1, n - size + 1), (), generator=gen))
            motif[starts[g] + first : starts[g] + first + size] = True
            group[starts[g] + first : starts[g] + first + size] = k if grouped[g] else 0
    return BackboneConditions(
        ss=torch.where(ss_given, ss, SS_UNSPECIFIED),
        ss_fraction=fraction.to(x0.pos.dtype),
        ss_fraction_given=torch.rand(graphs, generator=gen) < config.ss_probability,
        motif=motif,
        motif_xyz=x0.pos.reshape(-1, ATOMS_PER_RESIDUE, 3),
        motif_group=group,
        pair_index=pairing[0] if pairing is not None else torch.zeros(2, 0, dtype=torch.long),
        pair_kind=pairing[1] if pairing is not None else torch.zeros(0, dtype=torch.long),
    )


class BackboneTrainer(DiffusionTrainer):
    """Trains a :class:`~molgen.models.backbone_denoiser.BackboneDenoiser` on protein chains."""

    KIND = "backbones"
    TRAIN_CONFIG = BackboneTrainConfig
    LOSS_FIELDS = ("loss_pos", "loss_geometry", "loss_pair", "loss_distogram", "loss_hbond")
    RATE_FIELD = "chains_per_s"

    def make_stats(self, data: Sequence[Backbone], model_config: BackboneModelConfig) -> DataStats:
        lengths = np.array([len(c) for c in data if len(c) >= model_config.min_length])
        values, counts = np.unique(lengths, return_counts=True)
        return DataStats({int(v): int(c) for v, c in zip(values, counts)}, BACKBONE_COORD_SCALE)

    def encode(self, data: Sequence[Backbone]) -> EncodedBackbones:
        """The training chains, after the validation chains and their clusters are set aside."""
        if self.config.spatial_crop_fraction and not self.model_config.denoiser.conditioning:
            raise ValueError(
                "spatial_crop_fraction needs model.denoiser.conditioning (it carries the numbering)"
            )
        if self.config.validation_designs and not self.model_config.denoiser.pairing:
            raise ValueError("validation_designs needs model.denoiser.pairing (designs read the topologies)")
        lo, hi = self.model_config.min_length, self.model_config.max_length
        self.validation, data = split_validation(
            data, self.config.validation_chains, (lo, hi), self.config.seed
        )
        with_ss = self.model_config.denoiser.conditioning or self.config.strand_oversampling > 0
        return EncodedBackbones(data, lo, self.stats.coord_scale, with_ss=with_ss)

    def validate(self) -> None:
        """One-step strand and helix retention of the validation chains (EMA weights) from
        ``VALIDATION_NOISE`` (and the non-local hydrogen bonds kept), plus strand kept from
        ``MID_VALIDATION_NOISE``, and with ``validation_designs`` what designs sampled from the
        topologies of that many validation chains make of them (:func:`topology_designs`),
        appended to ``validation.csv``; the best model so far (mean of strand and helix recall
        from ``VALIDATION_NOISE``) in ``best/``."""
        if not self.validation:
            return
        was_training = self.ema.training
        self.ema.eval()

        def estimates(noise: float) -> list[tuple[Backbone, Backbone]]:
            return one_step_estimates(
                self.ema,
                self.sde,
                self.validation,
                noise,
                self.stats.coord_scale,
                self.model_config.denoiser.self_condition,
            )

        low = estimates(VALIDATION_NOISE)
        scores = ss_retention(low)
        scores["nonlocal_hbonds_kept"] = hbond_retention(low)["nonlocal_hbonds_kept"]
        mid = ss_retention(estimates(MID_VALIDATION_NOISE))
        scores[f"strand_kept_{MID_VALIDATION_NOISE}A"] = mid["strand_kept"]
        if self.config.validation_designs:
            sampling = self.prior.get("sampling") or {}
            generator = BackboneGenerator(
                self.model_config, self.ema, self.stats, device=self.device, sampling=sampling
            )
            scores |= topology_designs(generator, self.validation[: self.config.validation_designs])
        self.ema.train(was_training)
        path = self.out / "validation.csv"
        history = read_rows(path)
        score = (scores["strand_recall"] + scores["helix_recall"]) / 2
        row = {"step": self.step, "chains_seen": self.step * self.config.batch_size, **scores, "score": score}
        write_rows([*history, row], path)
        if all(score > float(r["score"]) for r in history):
            self.export(self.out / "best")

    def global_batch(self, step: int) -> np.ndarray:
        """Uniform epochs, or with ``strand_oversampling`` a weighted draw per step (without
        replacement within the batch; strand-rich chains more often)."""
        boost = self.config.strand_oversampling
        if boost == 0:
            return super().global_batch(step)
        weights = 1.0 + boost * self.encoded.strand_fraction()
        rng = np.random.default_rng([self.config.seed, step])
        return rng.choice(len(weights), self.config.batch_size, replace=False, p=weights / weights.sum())

    def local_inputs(self, step: int) -> TrainingBatch:
        """This rank's share of the global batch of ``step``."""
        b = self.config.batch_size
        gen = self.step_generator(step)
        starts = torch.rand(b, generator=gen, dtype=torch.float64).numpy()
        spatial = None
        if self.config.spatial_crop_fraction:  # only such runs draw this: other runs are unchanged
            spatial = (torch.rand(b, generator=gen) < self.config.spatial_crop_fraction).numpy()
        cropped = self.encoded.batch(self.global_batch(step), starts, self.config.crop_length, spatial)
        pos, batch, ss, element = cropped.pos, cropped.batch, cropped.ss, cropped.element
        t = stratified_times(b, gen)
        low = torch.randperm(b, generator=gen) < round(self.config.low_noise_fraction * b)
        t = torch.where(low, LOW_NOISE_TIME * t, t)
        x0 = State(pos, pos.new_zeros(len(pos), 0), batch, b)
        noise = self.sde.noise_like(x0, gen)
        self_condition = self.model_config.denoiser.self_condition and bool(
            torch.rand((), generator=gen) < SELF_CONDITION_PROBABILITY
        )
        lo, hi = self.rank_slice()
        cond = None
        if self.model_config.denoiser.conditioning:
            pairing = None
            rbatch = batch[::ATOMS_PER_RESIDUE]
            if self.model_config.denoiser.pairing:  # only pairing models draw this: other runs are unchanged
                chosen = torch.rand(b, generator=gen) < self.config.pairing_probability
                registers = None
                if self.model_config.denoiser.registers:  # only register models draw this
                    registers = torch.rand(b, generator=gen) < self.config.register_probability
                    registers = registers[rbatch].numpy()
                pairing = self.encoded.pairs_of(element, chosen[rbatch].numpy(), cropped.row, registers)
            cond = random_conditions(x0, ss, self.config, gen, pairing)
            cond = dataclasses.replace(cond, residue_number=cropped.number, chain_length=cropped.chain_length)
            cond = cond.graphs(lo, hi, rbatch).to(self.device)
        return self.local_batch(x0, t, noise, cond=cond, self_condition=self_condition)

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        weights = (cfg.min_snr_gamma, cfg.geometry_loss_weight, self.stats.coord_scale, cfg.geometry_span)
        extra = (cfg.pair_loss_weight, cfg.pair_loss_cutoff, cfg.distogram_loss_weight, cfg.hbond_loss_weight)
        loss, parts = backbone_loss(
            self.model, self.sde, self.local_inputs(step), *weights, *extra, hbond_max_time=cfg.hbond_max_time
        )
        return loss, {name: float(v) for name, v in zip(self.LOSS_FIELDS, parts)}
