"""E(3)-equivariant graph denoiser over atoms (an EGNN with per-node projections).

Scalars (type features, noise level, conditions) stay invariant; the coordinate output is
equivariant to rotations, reflections and translations and permutation-equivariant over
atoms. Edge work is kept small: ``W [h_i, h_j]`` is split into two node projections that are
gathered per edge, so the only per-edge matrix product is one ``edge_hidden``-square layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.utils import scatter

from molgen.config import ModelConfig
from molgen.core.denoiser import Denoiser, DenoiserOutput
from molgen.core.graph import full_edges, pair_of_edge, remove_mean
from molgen.core.state import State
from molgen.models.layers import FourierTime, GaussianRBF, scatter_mean
from molgen.models.molecule_conditions import MoleculeConditions

TIME_FEATURES = 16  # Fourier features of the noise level in the input layer


class EGNNLayer(nn.Module):
    """One message-passing layer updating features ``h``, coordinates ``pos`` and, with
    ``edge_track``, a per-edge state ``e`` (the pair channel: its messages read ``e`` and are
    added to it)."""

    def __init__(
        self, hidden: int, edge_hidden: int, num_rbf: int, rbf_max: float, edge_track: bool = False
    ) -> None:
        super().__init__()
        self.rbf = GaussianRBF(num_rbf, rbf_max)
        self.proj_src = nn.Linear(hidden, edge_hidden)
        self.proj_dst = nn.Linear(hidden, edge_hidden, bias=False)
        self.proj_rbf = nn.Linear(num_rbf, edge_hidden, bias=False)
        self.proj_edge = None
        if edge_track:  # zero at first: a model grown from one without bonds starts as that model
            self.proj_edge = nn.Linear(edge_hidden, edge_hidden, bias=False)
            nn.init.zeros_(self.proj_edge.weight)
        self.edge_out = nn.Linear(edge_hidden, edge_hidden)
        self.coord_gate = nn.Linear(edge_hidden, 1)
        nn.init.zeros_(self.coord_gate.weight)
        nn.init.zeros_(self.coord_gate.bias)
        self.node_norm = nn.LayerNorm(hidden)
        self.node_mlp = nn.Sequential(
            nn.Linear(hidden + edge_hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )

    def forward(
        self,
        h: torch.Tensor,
        pos: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        inv_count: torch.Tensor,
        e: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """h ``[N, hidden]``, pos ``[N, 3]``, src/dst ``[E]``, inv_count ``[N, 1]``, e
        ``[E, edge_hidden]`` (edge-track layers only) -> updated (h, pos, e)."""
        rel = pos[dst] - pos[src]
        dist = torch.sqrt((rel * rel).sum(-1) + 1e-8)
        m = self.proj_src(h)[src] + self.proj_dst(h)[dst] + self.proj_rbf(self.rbf(dist))
        if self.proj_edge is not None:
            m = m + self.proj_edge(e)
        m = F.silu(self.edge_out(F.silu(m)))
        h = h + self.node_mlp(torch.cat([self.node_norm(h), scatter_mean(m, dst, inv_count)], -1))
        shift = rel * (self.coord_gate(m) / (dist[:, None] + 1.0))
        return h, pos + scatter_mean(shift, dst, inv_count), None if e is None else e + m


def run_layers(
    layers: nn.ModuleList,
    h: torch.Tensor,
    pos: torch.Tensor,
    batch: torch.Tensor,
    num_graphs: int,
    pair: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Run EGNN ``layers`` over fully connected molecules: h ``[N, hidden]``, pos ``[N, 3]``,
    batch ``[N]`` (nodes stored graph by graph), for edge-track layers ``pair``
    ``[P, edge_hidden]`` initial pair states (rows of :func:`~molgen.core.graph.full_pairs`)
    -> updated (h, pos, pair states ``[P, edge_hidden]`` summed over both directions, or None)."""
    counts = torch.bincount(batch, minlength=num_graphs)
    src, dst = full_edges(counts)
    inv_count = (1.0 / (counts - 1).clamp(min=1).to(pos.dtype))[batch, None]
    edge_pair = e = None
    if pair is not None:
        edge_pair = pair_of_edge(src, dst, counts)
        e = pair[edge_pair]
    for layer in layers:
        h, pos, e = layer(h, pos, src, dst, inv_count, e)
    if e is None:
        return h, pos, None
    return h, pos, scatter(e, edge_pair, 0, len(pair), reduce="sum")


def narrow_conditions(
    state: dict[str, torch.Tensor], old: list[str], new: list[str], num_types: int
) -> dict[str, torch.Tensor]:
    """The weights ``state`` of a denoiser conditioned on the properties ``old``, cut down to a
    denoiser conditioned on ``new`` (a subset of ``old``, in any order).

    Only the input layer changes: the value and flag columns of the dropped properties go. The
    result computes what the original computes when only properties of ``new`` are given, so a
    multi-property model can be fine-tuned into a single-property one without a jump.
    """
    base = num_types + TIME_FEATURES
    keep = [old.index(name) for name in new]
    columns = [*range(base), *(base + i for i in keep), *(base + len(old) + i for i in keep)]
    return {**state, "embed.weight": state["embed.weight"][:, columns]}


class MoleculeDenoiser(Denoiser):
    """Predicts a coordinate displacement, type logits and (``config.bonds``) bond-order logits
    from a noisy molecule batch.

    Built from the whole model config: ``config.denoiser`` sizes the network, the vocabulary,
    the properties and the bonds set its input and output widths (``config.num_types``,
    ``config.num_conditions``, ``config.num_pair_states``). With bonds, every layer keeps and
    updates a state per atom pair (read from the noisy bond orders); the bond logits come from
    it and from the distances of the final coordinates. With ``config.denoiser.self_condition``
    the previous clean estimate enters too: its type features at the input, its bond orders and
    interatomic distances in the initial pair states (Chen et al. 2022); these inputs start at
    zero, so a self-conditioning model can be grown from one without. With ``config.fragments``
    a fixed fragment enters the same way (node flags and types; pair flags, bond orders and
    distances), also from zero-initialised weights.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not config.vocab:
            raise ValueError("the model config has no vocabulary (training fills it in from the data)")
        self.config = config
        net = config.denoiser
        self.time = FourierTime(TIME_FEATURES // 2)
        self.embed = nn.Linear(config.num_types + TIME_FEATURES + config.num_conditions, net.hidden)
        if net.self_condition:  # the previous estimate's type features; zero at first (growable)
            self.previous_embed = nn.Linear(config.num_types, net.hidden, bias=False)
            nn.init.zeros_(self.previous_embed.weight)
        bonds = config.num_pair_states
        self.layers = nn.ModuleList(
            EGNNLayer(net.hidden, net.edge_hidden, net.num_rbf, net.rbf_max, edge_track=bonds > 0)
            for _ in range(net.num_layers)
        )
        self.out_norm = nn.LayerNorm(net.hidden)
        self.type_head = nn.Linear(net.hidden, config.num_types)
        if bonds:
            self.pair_embed = nn.Linear(bonds, net.edge_hidden)
            self.pair_rbf = nn.Sequential(
                GaussianRBF(net.num_rbf, net.rbf_max), nn.Linear(net.num_rbf, net.edge_hidden, bias=False)
            )
            self.pair_head = nn.Sequential(
                nn.LayerNorm(net.edge_hidden),
                nn.Linear(net.edge_hidden, net.edge_hidden),
                nn.SiLU(),
                nn.Linear(net.edge_hidden, bonds),
            )
            if net.self_condition:  # the previous estimate's bond orders and distances; zero at first
                self.previous_pair = nn.Linear(bonds, net.edge_hidden, bias=False)
                self.previous_rbf = nn.Sequential(
                    GaussianRBF(net.num_rbf, net.rbf_max), nn.Linear(net.num_rbf, net.edge_hidden, bias=False)
                )
                nn.init.zeros_(self.previous_pair.weight)
                nn.init.zeros_(self.previous_rbf[1].weight)
        if config.fragments:  # a fixed fragment's flags, types, bonds and distances; zero at first
            self.fragment_embed = nn.Linear(1 + config.num_types, net.hidden, bias=False)
            self.fragment_pair = nn.Linear(1 + bonds, net.edge_hidden, bias=False)
            self.fragment_rbf = nn.Sequential(
                GaussianRBF(net.num_rbf, net.rbf_max), nn.Linear(net.num_rbf, net.edge_hidden, bias=False)
            )
            for linear in (self.fragment_embed, self.fragment_pair, self.fragment_rbf[1]):
                nn.init.zeros_(linear.weight)

    def forward(self, noisy: State, logsnr: torch.Tensor, cond=None, self_cond=None) -> DenoiserOutput:
        """See :class:`molgen.core.denoiser.Denoiser`: ``noisy.pos`` ``[N, 3]`` (normalised units),
        ``noisy.feat`` ``[N, num_types]``, with bonds ``noisy.pair`` ``[P, num_pair_states]``;
        ``cond``: :class:`~molgen.models.molecule_conditions.MoleculeConditions`, property targets
        of a property-conditioned model and a fragment of a fragment-conditioned one (None: none given);
        ``self_cond``: the previous clean estimate (models with ``self_condition``; None: none yet).

        Returns ``disp`` ``[N, 3]`` (zero mean per graph), type ``logits`` ``[N, num_types]`` and
        with bonds ``pair_logits`` ``[P, num_pair_states]``.
        """
        reads_previous = self.config.denoiser.self_condition
        if self_cond is not None and not reads_previous:
            raise ValueError("this MoleculeDenoiser does not read a self-conditioning estimate")
        fragment = None if cond is None else cond.fragment
        if fragment is not None:
            if not self.config.fragments:
                raise ValueError("this MoleculeDenoiser was not trained with fragments (model.fragments)")
            fragment = fragment.to(noisy.pos.device, noisy.pos.dtype)
        pos, batch, num_graphs = noisy.pos, noisy.batch, noisy.num_graphs
        inputs = [noisy.feat, self.time(logsnr)[batch]]
        if self.config.num_conditions:
            if cond is None:
                cond = MoleculeConditions.none(num_graphs, len(self.config.properties), pos.device)
            inputs.append(cond.network_input().to(pos.dtype)[batch])
        h = self.embed(torch.cat(inputs, -1))
        if reads_previous and self_cond is not None:
            h = h + self.previous_embed(self_cond.feat)
        if fragment is not None:
            h = h + self.fragment_embed(torch.cat([fragment.atoms[:, None], fragment.feat], -1))
        pair = None
        if self.config.num_pair_states:
            if noisy.pair is None:
                raise ValueError("this model generates bonds: the noisy state needs its pair channel")
            pair = self.pair_embed(noisy.pair)
            if reads_previous and self_cond is not None:
                i, j = noisy.pair_index
                pair = pair + self.previous_pair(self_cond.pair)
                pair = pair + self.previous_rbf((self_cond.pos[i] - self_cond.pos[j]).norm(dim=-1))
            if fragment is not None:
                pair = pair + self.fragment_pair(torch.cat([fragment.pairs[:, None], fragment.pair], -1))
                pair = pair + fragment.pairs[:, None] * self.fragment_rbf(fragment.dist)
        h, x, pair = run_layers(self.layers, h, pos, batch, num_graphs, pair)
        disp = remove_mean(x - pos, batch, num_graphs)
        logits = self.type_head(self.out_norm(h))
        if pair is None:
            return DenoiserOutput(disp, logits)
        i, j = noisy.pair_index
        dist = (x[i] - x[j]).norm(dim=-1)
        return DenoiserOutput(disp, logits, self.pair_head(pair + self.pair_rbf(dist)))
