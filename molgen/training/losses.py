"""Every training loss in one place: the shared pieces (stratified times, per-graph means,
min-SNR weights, the self-conditioning pass) and the two domain losses built from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from molgen.config import SDEConfig, TrainConfig
from molgen.core.denoiser import Conditioning, Denoiser
from molgen.core.graph import full_pairs
from molgen.core.state import State
from molgen.diffusion.sde import VPSDE
from molgen.diffusion.targets import predict_x0
from molgen.models.backbone_denoiser import ATOMS_PER_RESIDUE
from molgen.models.pair_track import distogram_bins
from molgen.structures.backbone_geometry import carbonyl_oxygens


@dataclass
class TrainingBatch:
    """One rank's share of a training step, on its device.

    Attributes:
        x0: the clean graphs (``pos`` ``[N, 3]``, ``feat`` ``[N, F]``).
        t: ``[G]`` diffusion times.
        noise: the Gaussian noise of ``z_t = alpha x0 + sigma noise`` (same shapes as ``x0``).
        cond: the conditioning the network sees (after dropout), or None.
        types: ``[N]`` type indices (molecules: the cross-entropy targets), or None.
        bond_orders: ``[P]`` pair-state targets of the pairs of ``x0`` (models with bonds), or None.
        self_condition: whether this step trains with a first estimate.
        distortion: ``[N, 3]`` extra noise on the coordinates the network reads, or None.
    """

    x0: State
    t: torch.Tensor
    noise: State
    cond: Conditioning | None = None
    types: torch.Tensor | None = None
    bond_orders: torch.Tensor | None = None
    self_condition: bool = False
    distortion: torch.Tensor | None = None


#: Share of training steps that first estimate x0 and then train on it (self-conditioning models;
#: the others train without, as at the first sampling step).
SELF_CONDITION_PROBABILITY = 0.5


def stratified_times(num: int, gen: torch.Generator) -> torch.Tensor:
    """``[num]`` diffusion times in [0, 1), one per stratum of width ``1/num`` after a shared
    random offset (lower-variance loss estimates than independent draws)."""
    return (torch.rand((), generator=gen) + torch.arange(num) / num) % 1.0


def graph_mean(values: torch.Tensor, index: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean of per-item ``values`` ``[M, ...]`` over the items of each graph (``index`` ``[M]``
    graph of every item) -> ``[num_graphs, ...]`` (0 for a graph without items)."""
    total = values.new_zeros(num_graphs, *values.shape[1:]).index_add_(0, index, values)
    counts = torch.bincount(index, minlength=num_graphs).clamp(min=1)
    return total / counts.reshape(-1, *([1] * (values.dim() - 1)))


def min_snr_weight(sde: VPSDE, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """``[G]`` coordinate-loss weights ``min(1 + SNR, gamma)``: unit weight on the network output
    at high noise (the v-loss), capped at low noise (min-SNR-gamma, Hang et al. 2023)."""
    return (1 + sde.snr(t)).clamp(max=gamma)


def self_conditioned(predict: Callable[[State | None], tuple], self_condition: bool) -> tuple:
    """``predict(previous_estimate)`` as trained: with ``self_condition`` the network first
    estimates x0 without help (no gradient) and is then trained on the same input given that
    estimate (Chen et al. 2022)."""
    previous = None
    if self_condition:
        with torch.no_grad():
            previous = predict(None)[0]
    return predict(previous)


def molecule_loss(
    net: Denoiser, sde: VPSDE, batch: TrainingBatch, scales: SDEConfig, config: TrainConfig
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """x0 loss on coordinates plus ``config.type_loss_weight`` x cross-entropy on types plus
    (models with bonds) ``config.bond_loss_weight`` x cross-entropy on the pair states, each a
    per-graph mean (over atoms, over atom pairs), averaged over graphs.

    Time weights (``config.loss_weighting``): ``"min_snr"`` weights the coordinate term by
    ``min(1 + SNR, min_snr_gamma)``; ``"clamped_snr"`` every term by ``clamp(SNR, 0.05, 1.5)``.
    ``batch.distortion`` is added to the noisy coordinates the network reads (not to the target);
    ``scales`` gives the type and pair feature scales.

    Returns:
        total, and its (coordinate, type, bond) parts (the bond part 0 without bonds), scalars.
    """
    x0, t = batch.x0, batch.t
    z = sde.add_noise(x0, t, batch.noise)
    if batch.distortion is not None:
        z = z.replace(z.pos + batch.distortion, z.feat)
    pred, out = self_conditioned(
        lambda prev: predict_x0(net, sde, z, t, scales.type_scale, batch.cond, prev, scales.pair_scale),
        batch.self_condition,
    )
    node_terms = torch.stack(
        [(pred.pos - x0.pos).square().sum(-1), F.cross_entropy(out.logits, batch.types, reduction="none")], -1
    )
    per_graph = graph_mean(node_terms, x0.batch, x0.num_graphs)
    if batch.bond_orders is not None:
        pair_ce = F.cross_entropy(out.pair_logits, batch.bond_orders, reduction="none")
        per_graph = torch.cat([per_graph, graph_mean(pair_ce, x0.pair_batch, x0.num_graphs)[:, None]], 1)
    else:
        per_graph = torch.cat([per_graph, per_graph.new_zeros(len(per_graph), 1)], 1)
    if config.loss_weighting == "clamped_snr":
        weights = sde.snr(t).clamp(0.05, 1.5)[:, None].expand(-1, 3)
    else:
        ones = torch.ones_like(t)
        weights = torch.stack([min_snr_weight(sde, t, config.min_snr_gamma), ones, ones], 1)
    loss_pos, loss_type, loss_bond = (weights * per_graph).mean(0)
    total = loss_pos + config.type_loss_weight * loss_type + config.bond_loss_weight * loss_bond
    return total, (loss_pos.detach(), loss_type.detach(), loss_bond.detach())


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
    xyz = pos.reshape(-1, ATOMS_PER_RESIDUE, 3)
    rbatch = batch[::ATOMS_PER_RESIDUE]
    num = len(xyz) - span + 1
    inside = rbatch[:num] == rbatch[span - 1 :]
    window = torch.cat([xyz[k : k + num] for k in range(span)], dim=1)[inside]  # [W, 3 span, 3]
    i, j = torch.triu_indices(ATOMS_PER_RESIDUE * span, ATOMS_PER_RESIDUE * span, offset=1)
    return (window[:, i] - window[:, j]).norm(dim=-1), rbatch[:num][inside]


def close_pairs(pos: torch.Tensor, batch: torch.Tensor, cutoff: float) -> torch.Tensor:
    """``[2, P]`` residue pairs ``i < j`` of one chain whose CA atoms (``pos`` ``[3 R, 3]``, N, CA, C
    per residue) are closer than ``cutoff`` (same units), at any sequence separation."""
    ca = pos.reshape(-1, ATOMS_PER_RESIDUE, 3)[:, 1]
    rbatch = batch[::ATOMS_PER_RESIDUE]
    close = (torch.cdist(ca, ca) < cutoff) & (rbatch[:, None] == rbatch[None, :])
    return torch.triu(close, diagonal=1).nonzero().T


def pair_atom_distances(pos: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """``[P, 9]`` distances between the N, CA, C atoms of residue ``i`` and those of residue ``j``
    for every pair ``(i, j)`` of ``pairs`` ``[2, P]``."""
    xyz = pos.reshape(-1, ATOMS_PER_RESIDUE, 3)
    a, b = xyz[pairs[0]], xyz[pairs[1]]
    return (a[:, :, None] - b[:, None]).norm(dim=-1).reshape(len(a), -1)


DSSP_COUPLING = 0.084 * 332.0  # kcal/mol x Angstrom: q1 q2 f of DSSP's energy (Kabsch & Sander 1983)
HBOND_RANGE = (-3.0, 1.0)  # kcal/mol: energies are compared within this window
PEPTIDE_BOND_MAX = 2.0  # Angstrom: a longer C(i)-N(i+1) distance in the real chain is a gap (crops)


def hbond_energies(pos: torch.Tensor, donors: torch.Tensor, acceptors: torch.Tensor) -> torch.Tensor:
    """``[P]`` DSSP electrostatic energies (kcal/mol) of the N-H of residue ``donors[p]`` to the
    C=O of residue ``acceptors[p]``; ``pos`` ``[3 R, 3]`` N, CA, C per residue in Angstrom.

    The carbonyl O of residue ``k`` lies in the peptide plane of ``k`` and ``k + 1``
    (:func:`~molgen.structures.backbone_geometry.carbonyl_oxygens`) and the amide H of ``k``
    1.01 Angstrom from N along the bisector of C(k-1)->N and CA->N (pydssp's placement, so that
    the benchmark's DSSP reads the same bonds): donors need a previous and acceptors a next
    residue, which the caller checks.
    """
    xyz = pos.reshape(-1, ATOMS_PER_RESIDUE, 3)
    n, ca, c = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    o = carbonyl_oxygens(ca, c, torch.roll(n, -1, dims=0))  # wraps at the end: such acceptors are masked
    h = n + 1.01 * F.normalize(
        F.normalize(n - torch.roll(c, 1, dims=0), dim=-1) + F.normalize(n - ca, dim=-1), dim=-1
    )
    d, a = donors, acceptors
    inverse = (
        1 / (o[a] - n[d]).norm(dim=-1).clamp(min=0.5)
        + 1 / (c[a] - h[d]).norm(dim=-1).clamp(min=0.5)
        - 1 / (o[a] - h[d]).norm(dim=-1).clamp(min=0.5)
        - 1 / (c[a] - n[d]).norm(dim=-1).clamp(min=0.5)
    )
    return DSSP_COUPLING * inverse


def hbond_loss(
    pred: torch.Tensor, true: torch.Tensor, batch: torch.Tensor, pairs: torch.Tensor, num_graphs: int
) -> torch.Tensor:
    """``[G]`` per chain: squared error of the backbone hydrogen-bond energies of ``pred`` against
    those of ``true`` (``[3 R, 3]`` N, CA, C in Angstrom) over both directions of the residue
    ``pairs`` ``[2, P]``, on the pairs that hydrogen-bond (below -0.5 kcal/mol) in either,
    each energy clipped to :data:`HBOND_RANGE`; divided by the chain's real hydrogen bonds among them."""
    rbatch = batch[::ATOMS_PER_RESIDUE]
    xyz = true.reshape(-1, ATOMS_PER_RESIDUE, 3)
    linked = (xyz[:-1, 2] - xyz[1:, 0]).norm(dim=-1) < PEPTIDE_BOND_MAX
    linked = linked & (rbatch[:-1] == rbatch[1:])  # residue k bonded to k + 1 in the real chain
    has_next = torch.cat([linked, linked.new_zeros(1)])
    has_prev = torch.cat([linked.new_zeros(1), linked])
    donors, acceptors = torch.cat([pairs, pairs.flip(0)], 1)
    keep = has_prev[donors] & has_next[acceptors]
    donors, acceptors = donors[keep], acceptors[keep]
    e_pred = hbond_energies(pred.float(), donors, acceptors)
    e_true = hbond_energies(true.float(), donors, acceptors)
    bonded = (e_true < -0.5) | (e_pred < -0.5)
    error = (e_pred.clamp(*HBOND_RANGE) - e_true.clamp(*HBOND_RANGE)).square() * bonded
    graph = rbatch[donors]
    total = torch.zeros(num_graphs, device=pred.device).index_add(0, graph, error)
    count = torch.zeros(num_graphs, device=pred.device).index_add(0, graph, (e_true < -0.5).float())
    return total / count.clamp(min=1)


def backbone_loss(
    net: Denoiser,
    sde: VPSDE,
    batch: TrainingBatch,
    min_snr_gamma: float,
    geometry_weight: float,
    coord_scale: float,
    geometry_span: int = 4,
    pair_weight: float = 0.0,
    pair_cutoff: float = 10.0,
    distogram_weight: float = 0.0,
    hbond_weight: float = 0.0,
    hbond_max_time: float = 1.0,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Min-SNR-weighted x0 loss on all atoms plus a local-geometry loss plus (``pair_weight``) a
    non-local pair loss plus (``distogram_weight``, models with a pair track) a distogram loss
    plus (``hbond_weight``) a backbone hydrogen-bond loss.

    The geometry term is the squared error (Angstrom^2) of the distances among the atoms of
    every ``geometry_span`` consecutive residues in the x0 prediction; the pair term that of the
    N, CA, C distances of every residue pair whose real CA atoms are closer than ``pair_cutoff``
    Angstrom, at any sequence separation (strand partners, packed helices). Both are weighted by
    ``alpha_t^2`` so that they matter where the prediction can be precise (low noise). The
    distogram term is the cross-entropy of the network's CA distance bins of every residue pair
    against the real distances (per-chain mean, all noise levels). The hydrogen-bond term
    (:func:`hbond_loss`, kcal^2/mol^2) compares DSSP energies over the same close pairs, weighted
    by ``alpha_t^2`` on the chains with ``t < hbond_max_time``: it asks for the N-H...O=C
    geometry DSSP reads strands from.

    Returns:
        total, and its (coordinate, geometry, pair, distogram, hydrogen-bond) parts (0 where
        unused), scalars.
    """
    x0, t = batch.x0, batch.t
    z = sde.add_noise(x0, t, batch.noise)
    pred, out = self_conditioned(
        lambda prev: predict_x0(net, sde, z, t, 1.0, batch.cond, prev), batch.self_condition
    )
    graphs = x0.num_graphs
    per_graph = graph_mean((pred.pos - x0.pos).square().sum(-1), x0.batch, graphs)
    loss_pos = (min_snr_weight(sde, t, min_snr_gamma) * per_graph).mean()

    d_pred, pair_graph = local_distances(pred.pos, x0.batch, geometry_span)
    d_true, _ = local_distances(x0.pos, x0.batch, geometry_span)
    geo = graph_mean(((d_pred - d_true) * coord_scale).square().mean(-1), pair_graph, graphs)
    alpha, _ = sde.alpha_sigma(t)
    loss_geo = (alpha.square() * geo).mean()
    zero = torch.zeros((), device=loss_pos.device)
    loss_pair = loss_distogram = loss_hbond = zero
    if pair_weight > 0 or hbond_weight > 0:
        pairs = close_pairs(x0.pos, x0.batch, pair_cutoff / coord_scale)
    if pair_weight > 0:
        error = (pair_atom_distances(pred.pos, pairs) - pair_atom_distances(x0.pos, pairs)) * coord_scale
        pair_graph = x0.batch[::ATOMS_PER_RESIDUE][pairs[0]]
        loss_pair = (alpha.square() * graph_mean(error.square().mean(-1), pair_graph, graphs)).mean()
    if distogram_weight > 0:
        if out.pair_logits is None:
            raise ValueError("distogram_loss_weight needs a model with a pair track (denoiser.pair_channels)")
        rbatch = x0.batch[::ATOMS_PER_RESIDUE]
        i, j = full_pairs(torch.bincount(rbatch, minlength=graphs))
        ca = x0.pos.reshape(-1, ATOMS_PER_RESIDUE, 3)[:, 1]
        target = distogram_bins((ca[i] - ca[j]).norm(dim=-1))
        entropy = F.cross_entropy(out.pair_logits, target, reduction="none")
        loss_distogram = graph_mean(entropy, rbatch[i], graphs).mean()
    if hbond_weight > 0:
        hb = hbond_loss(pred.pos * coord_scale, x0.pos * coord_scale, x0.batch, pairs, graphs)
        loss_hbond = (alpha.square() * (t < hbond_max_time) * hb).mean()
    total = loss_pos + geometry_weight * loss_geo + pair_weight * loss_pair
    total = total + distogram_weight * loss_distogram + hbond_weight * loss_hbond
    parts = (loss_pos, loss_geo, loss_pair, loss_distogram, loss_hbond)
    return total, tuple(p.detach() for p in parts)
