"""Training of the backbone denoiser on protein chains (the loop lives in :mod:`molgen.training.loop`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from molgen.config import BackboneModelConfig, BackboneTrainConfig
from molgen.datasets.graph import batch_vector, remove_mean
from molgen.diffusion.sde import VPSDE, State
from molgen.diffusion.targets import predict_x0
from molgen.models.pretrained import DataStats
from molgen.structures.backbone import Backbone
from molgen.training.loop import DiffusionTrainer

BACKBONE_COORD_SCALE = 10.0  # Angstrom per model unit
ATOMS = 3  # N, CA, C are diffused; O is placed from them


class EncodedBackbones:
    """N, CA, C coordinates of every training chain, back to back, in Angstrom."""

    def __init__(self, chains: Sequence[Backbone], min_length: int, coord_scale: float) -> None:
        kept = [c for c in chains if len(c) >= min_length]
        if not kept:
            raise ValueError(f"no training chain has >= {min_length} residues")
        self.lengths = np.array([len(c) for c in kept])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.coords = np.concatenate([c.coords[:, :ATOMS] for c in kept]).astype(np.float32)
        self.coord_scale = coord_scale

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: np.ndarray, starts: np.ndarray, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Chains ``indices``, each cut to ``crop`` residues from ``starts`` (fractions in
        [0, 1) of the possible window starts): (pos ``[3 R, 3]`` centred model units, batch ``[3 R]``)."""
        pieces = []
        for i, u in zip(indices, starts):
            length = self.lengths[i]
            n = min(length, crop)
            first = self.offsets[i] + int(u * (length - n + 1))
            pieces.append(self.coords[first : first + n])
        counts = torch.tensor([len(p) * ATOMS for p in pieces])
        batch = batch_vector(counts)
        pos = torch.from_numpy(np.concatenate(pieces).reshape(-1, 3)) / self.coord_scale
        return remove_mean(pos, batch, len(pieces)), batch


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
    if self_condition:
        with torch.no_grad():
            previous = predict_x0(net, sde, z, t, type_scale=1.0)[0].pos
    pred, _ = predict_x0(net, sde, z, t, type_scale=1.0, self_cond=previous)
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
        return EncodedBackbones(data, self.model_config.min_length, self.stats.coord_scale)

    def local_inputs(self, step: int) -> tuple[State, torch.Tensor, State, bool]:
        """This rank's share of the global batch: (x0, t, noise, whether to self-condition)."""
        b = self.config.batch_size
        gen = self.step_generator(step)
        starts = torch.rand(b, generator=gen, dtype=torch.float64).numpy()
        pos, batch = self.encoded.batch(self.global_batch(step), starts, self.config.crop_length)
        t = (torch.rand((), generator=gen) + torch.arange(b) / b) % 1.0  # stratified times
        x0 = State(pos, pos.new_zeros(len(pos), 0), batch, b)
        noise = self.sde.noise_like(x0, gen)
        self_condition = self.model_config.denoiser.self_condition and bool(
            torch.rand((), generator=gen) < 0.5
        )
        lo, hi = self.rank_slice()
        return self.to_local(x0), t[lo:hi].to(self.device), self.to_local(noise), self_condition

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        x0, t, noise, self_condition = self.local_inputs(step)
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
        )
        return loss, {"loss_pos": float(loss_pos), "loss_geometry": float(loss_geo)}
