"""Training of the backbone denoiser on protein chains (the loop lives in :mod:`molgen.training.loop`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from molgen.config import BackboneModelConfig, BackboneTrainConfig
from molgen.core.graph import batch_vector, remove_mean
from molgen.core.state import State
from molgen.diffusion.sde import VPSDE
from molgen.diffusion.targets import predict_x0
from molgen.models.backbone_conditions import BackboneConditions
from molgen.models.backbone_denoiser import residue_index
from molgen.models.pretrained import DataStats
from molgen.structures.backbone import Backbone
from molgen.structures.secondary_structure import SS_CLASSES, SS_UNSPECIFIED, secondary_structure
from molgen.training.loop import DiffusionTrainer

BACKBONE_COORD_SCALE = 10.0  # Angstrom per model unit
ATOMS = 3  # N, CA, C are diffused; O is placed from them


MOTIF_SEGMENTS = (1, 4)  # random training motifs: this many contiguous segments ...
MOTIF_SEGMENT_LENGTH = (1, 20)  # ... of this many residues each (each at most a quarter of the chain)


class EncodedBackbones:
    """N, CA, C coordinates of every training chain, back to back, in Angstrom, and (when
    ``with_ss``) their DSSP secondary-structure classes."""

    def __init__(
        self, chains: Sequence[Backbone], min_length: int, coord_scale: float, with_ss: bool = False
    ) -> None:
        kept = [c for c in chains if len(c) >= min_length]
        if not kept:
            raise ValueError(f"no training chain has >= {min_length} residues")
        self.lengths = np.array([len(c) for c in kept])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.coords = np.concatenate([c.coords[:, :ATOMS] for c in kept]).astype(np.float32)
        self.coord_scale = coord_scale
        self.ss = None
        if with_ss:
            lookup = np.frombuffer(SS_CLASSES.encode(), dtype=np.uint8)
            codes = np.frombuffer("".join(secondary_structure(c) for c in kept).encode(), dtype=np.uint8)
            match = codes[:, None] == lookup[None, :]
            if not match.any(axis=1).all():
                raise ValueError(f"DSSP returned letters outside {SS_CLASSES}")
            self.ss = np.argmax(match, axis=1)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(
        self, indices: np.ndarray, starts: np.ndarray, crop: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Chains ``indices``, each cut to ``crop`` residues from ``starts`` (fractions in
        [0, 1) of the possible window starts): (pos ``[3 R, 3]`` centred model units, batch
        ``[3 R]``, secondary structure ``[R]`` or None)."""
        windows = []
        for i, u in zip(indices, starts):
            length = self.lengths[i]
            n = min(length, crop)
            first = self.offsets[i] + int(u * (length - n + 1))
            windows.append(np.arange(first, first + n))
        rows = np.concatenate(windows)
        batch = batch_vector(torch.tensor([len(w) * ATOMS for w in windows]))
        pos = torch.from_numpy(self.coords[rows].reshape(-1, 3)) / self.coord_scale
        ss = None if self.ss is None else torch.from_numpy(self.ss[rows])
        return remove_mean(pos, batch, len(windows)), batch, ss


def random_conditions(
    x0: State, ss: torch.Tensor, config: BackboneTrainConfig, gen: torch.Generator
) -> BackboneConditions:
    """Conditioning for training (the dropout that lets one model sample with or without it).

    Per chain, each independently with ``config.ss_probability``: its DSSP classes on a random
    share (50-100 %) of its residues; its helix and strand fractions. With
    ``config.motif_probability``: a motif of 1-4 random segments (they may overlap) whose clean
    coordinates are given.

    Args:
        x0: the clean batch (``3 R`` atoms N, CA, C).
        ss: ``[R]`` DSSP class of every residue.
    """
    rbatch = x0.batch[::ATOMS]
    graphs = x0.num_graphs
    index, length = residue_index(rbatch, graphs)
    share = 0.5 + 0.5 * torch.rand(graphs, generator=gen)
    ss_given = (torch.rand(graphs, generator=gen) < config.ss_probability)[rbatch]
    ss_given &= torch.rand(len(rbatch), generator=gen) < share[rbatch]
    counts = torch.bincount(rbatch, minlength=graphs).clamp(min=1)
    fraction = torch.stack(
        [torch.zeros(graphs).index_add_(0, rbatch, (ss == k).float()) / counts for k in (0, 1)], -1
    )
    motif = torch.zeros(len(rbatch), dtype=torch.bool)
    with_motif = torch.rand(graphs, generator=gen) < config.motif_probability
    segments = torch.randint(MOTIF_SEGMENTS[0], MOTIF_SEGMENTS[1] + 1, (graphs,), generator=gen)
    starts = torch.cumsum(counts, 0) - counts
    for g in torch.nonzero(with_motif).flatten().tolist():
        n = int(counts[g])
        longest = max(MOTIF_SEGMENT_LENGTH[0], min(MOTIF_SEGMENT_LENGTH[1], n // 4))
        for _ in range(int(segments[g])):
            size = int(torch.randint(MOTIF_SEGMENT_LENGTH[0], longest + 1, (), generator=gen))
            first = int(torch.randint(0, max(1, n - size + 1), (), generator=gen))
            motif[starts[g] + first : starts[g] + first + size] = True
    return BackboneConditions(
        ss=torch.where(ss_given, ss, SS_UNSPECIFIED),
        ss_fraction=fraction.to(x0.pos.dtype),
        ss_fraction_given=torch.rand(graphs, generator=gen) < config.ss_probability,
        motif=motif,
        motif_xyz=x0.pos.reshape(-1, ATOMS, 3),
    )


def local_distances(
    pos: torch.Tensor, batch: torch.Tensor, span: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """All distances among the N, CA, C atoms of ``span`` consecutive residues ``i .. i+span-1``
    (bond lengths and angles for span 2; also backbone dihedrals, i.e. local secondary
    structure, for span >= 4).

    Returns:
        dist: ``[W, 3 span (3 span - 1) / 2]`` for every window ``W`` inside a chain.
        window_graph: ``[W]`` chain index of every window.
    """
    xyz = pos.reshape(-1, ATOMS, 3)
    rbatch = batch[::ATOMS]
    num = len(xyz) - span + 1
    inside = rbatch[:num] == rbatch[span - 1 :]
    window = torch.cat([xyz[k : k + num] for k in range(span)], dim=1)[inside]  # [W, 3 span, 3]
    i, j = torch.triu_indices(ATOMS * span, ATOMS * span, offset=1)
    return (window[:, i] - window[:, j]).norm(dim=-1), rbatch[:num][inside]


def backbone_loss(
    net: torch.nn.Module,
    sde: VPSDE,
    x0: State,
    t: torch.Tensor,
    noise: State,
    min_snr_gamma: float,
    geometry_weight: float,
    coord_scale: float,
    self_condition: bool = False,
    geometry_span: int = 4,
    conditions: BackboneConditions | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Min-SNR-weighted x0 loss on all atoms plus a local-geometry loss.

    With ``self_condition`` the network first estimates x0 without help (no gradient) and is
    then trained on the same noisy input given that estimate (the caller flips this coin for
    half of the steps, so the network also learns to work without one, as at the first
    sampling step).

    The geometry term is the squared error (Angstrom^2) of the distances among the atoms of
    every ``geometry_span`` consecutive residues in the x0 prediction, weighted by ``alpha_t^2``
    so that it matters where the prediction can be precise (low noise).

    Returns:
        (total, coordinate part, geometry part), each a scalar.
    """
    z = sde.add_noise(x0, t, noise)
    previous = None
    extra = {} if conditions is None else {"conditions": conditions}
    if self_condition:
        with torch.no_grad():
            previous = predict_x0(net, sde, z, t, type_scale=1.0, **extra)[0].pos
    pred, _ = predict_x0(net, sde, z, t, type_scale=1.0, self_cond=previous, **extra)
    graphs = x0.num_graphs
    per_graph = torch.zeros(graphs, dtype=x0.pos.dtype, device=x0.pos.device)
    per_graph.index_add_(0, x0.batch, (pred.pos - x0.pos).square().sum(-1))
    per_graph = per_graph / torch.bincount(x0.batch, minlength=graphs).clamp(min=1)
    weight = (1 + sde.snr(t)).clamp(max=min_snr_gamma)
    loss_pos = (weight * per_graph).mean()

    d_pred, pair_graph = local_distances(pred.pos, x0.batch, geometry_span)
    d_true, _ = local_distances(x0.pos, x0.batch, geometry_span)
    geo = torch.zeros(graphs, dtype=x0.pos.dtype, device=x0.pos.device)
    geo.index_add_(0, pair_graph, ((d_pred - d_true) * coord_scale).square().mean(-1))
    geo = geo / torch.bincount(pair_graph, minlength=graphs).clamp(min=1)
    alpha, _ = sde.alpha_sigma(t)
    loss_geo = (alpha.square() * geo).mean()
    return loss_pos + geometry_weight * loss_geo, loss_pos.detach(), loss_geo.detach()


class BackboneTrainer(DiffusionTrainer):
    """Trains a :class:`~molgen.models.backbone_denoiser.BackboneDenoiser` on protein chains."""

    KIND = "backbones"
    TRAIN_CONFIG = BackboneTrainConfig
    LOSS_FIELDS = ("loss_pos", "loss_geometry")
    RATE_FIELD = "chains_per_s"

    def make_stats(self, data: Sequence[Backbone], model_config: BackboneModelConfig) -> DataStats:
        lengths = np.array([len(c) for c in data if len(c) >= model_config.min_length])
        values, counts = np.unique(lengths, return_counts=True)
        return DataStats({int(v): int(c) for v, c in zip(values, counts)}, BACKBONE_COORD_SCALE)

    def encode(self, data: Sequence[Backbone]) -> EncodedBackbones:
        conditioning = self.model_config.denoiser.conditioning
        return EncodedBackbones(
            data, self.model_config.min_length, self.stats.coord_scale, with_ss=conditioning
        )

    def local_inputs(self, step: int) -> tuple[State, torch.Tensor, State, bool, BackboneConditions | None]:
        """This rank's share of the global batch: (x0, t, noise, whether to self-condition,
        conditions or None)."""
        b = self.config.batch_size
        gen = self.step_generator(step)
        starts = torch.rand(b, generator=gen, dtype=torch.float64).numpy()
        pos, batch, ss = self.encoded.batch(self.global_batch(step), starts, self.config.crop_length)
        t = (torch.rand((), generator=gen) + torch.arange(b) / b) % 1.0  # stratified times
        low = torch.randperm(b, generator=gen) < round(self.config.low_noise_fraction * b)
        t = torch.where(low, 0.25 * t, t)
        x0 = State(pos, pos.new_zeros(len(pos), 0), batch, b)
        noise = self.sde.noise_like(x0, gen)
        self_condition = self.model_config.denoiser.self_condition and bool(
            torch.rand((), generator=gen) < 0.5
        )
        lo, hi = self.rank_slice()
        conditions = None
        if self.model_config.denoiser.conditioning:
            conditions = random_conditions(x0, ss, self.config, gen)
            residues = (batch[::ATOMS] >= lo) & (batch[::ATOMS] < hi)
            conditions = BackboneConditions(
                ss=conditions.ss[residues],
                ss_fraction=conditions.ss_fraction[lo:hi],
                ss_fraction_given=conditions.ss_fraction_given[lo:hi],
                motif=conditions.motif[residues],
                motif_xyz=conditions.motif_xyz[residues],
            ).to(self.device)
        x0, noise = self.to_local(x0), self.to_local(noise)
        return x0, t[lo:hi].to(self.device), noise, self_condition, conditions

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        x0, t, noise, self_condition, conditions = self.local_inputs(step)
        loss, loss_pos, loss_geo = backbone_loss(
            self.model,
            self.sde,
            x0,
            t,
            noise,
            self.config.min_snr_gamma,
            self.config.geometry_loss_weight,
            self.stats.coord_scale,
            self_condition,
            self.config.geometry_span,
            conditions,
        )
        return loss, {"loss_pos": float(loss_pos), "loss_geometry": float(loss_geo)}
