"""SE(3)-equivariant, chirality-aware denoiser over protein backbone residues.

A chain of ``L`` residues enters as ``3 L`` points (N, CA, C of each residue, in order). Each
residue gets a local frame from the noisy CA trace around it (:func:`trace_frames`; frames built
from a residue's own N, CA, C are nearly random at the noise levels where secondary structure
forms, and a model using them learnt local structure about 3x slower per step here). All
features are coordinates expressed in these frames (invariant under rotations and
translations), and the output displacement of every atom is a combination of its residue's
frame vectors (equivariant). Because ``e3`` is a cross product (a
pseudovector), a mirror image is *not* mapped to the mirrored output: the network can tell
right-handed from left-handed helices.

Graph: the ``num_neighbors`` nearest residues by CA distance plus the sequence neighbours
``i +- 1..sequence_window``, with clipped relative sequence positions on every edge.

Self-conditioning (optional, ``config.self_condition``): the previous clean-data estimate enters
as more frame coordinates (its atoms relative to each residue and to each neighbour), so the
network refines its own last answer instead of starting from the noisy input alone.

Conditioning (optional, ``config.conditioning``; see :mod:`molgen.models.backbone_conditions`):
secondary structure per residue and helix/strand fractions per chain enter as node embeddings;
a motif enters as a node flag plus, on edges between residues of one motif group (all such pairs
are edges), the group's internal geometry in its own residue frames, which does not depend on
where the group is placed; different groups see nothing of each other's relative pose. With
``config.pairing``, residue pairs of strand elements that are to pair are edges with an
antiparallel/parallel embedding, and with ``config.registers`` those of them that DSSP bridges
(the register, when known) get one more. All of these start at zero, so a conditioning model can be
grown from an unconditional one (it computes exactly the unconditional function until trained,
except that a motif or a pairing also adds edges between its residues), and "unspecified" is how
the model samples unconditionally.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from molgen.config import BackboneDenoiserConfig
from molgen.core.denoiser import Denoiser, DenoiserOutput
from molgen.core.graph import Padded, remove_mean
from molgen.core.state import State
from molgen.models.backbone_conditions import BackboneConditions, residue_frames
from molgen.models.layers import FourierTime, GaussianRBF, scatter_mean
from molgen.models.pair_track import PairTrack
from molgen.structures.secondary_structure import BRIDGED, SS_UNSPECIFIED

ATOMS_PER_RESIDUE = 3  # N, CA, C
TIME_FEATURES = 16  # Fourier features of the noise level (FourierTime's default 8 frequencies)
RESIDUE_COORDS = 3 * ATOMS_PER_RESIDUE  # a residue's N, CA, C in some frame: 9 numbers
FRAME_ROTATION = 9  # a 3 x 3 rotation between two residue frames
# node inputs: noise level, own atoms; edge inputs: CA distance (RBF), the neighbour's atoms and axes
NODE_INPUTS = TIME_FEATURES + RESIDUE_COORDS
# self-conditioning: the previous estimate's own atoms plus a has-estimate flag (nodes), its
# CA distance and the neighbour's atoms (edges)
PREVIOUS_NODE_INPUTS = RESIDUE_COORDS + 1
# motif edges: a both-in-motif flag, the motif's relative rotation and CA offset, and its distance
MOTIF_EDGE_FIXED_INPUTS = 1 + FRAME_ROTATION + 3
DISTANCE_SOFTENING = 0.1  # model units (1 A): neighbour atoms are scaled by 1 / (CA distance + this)
NUM_END_BUCKETS = 8  # residues this close to a chain end get their own embedding
HALF = (torch.bfloat16, torch.float16)


def frame_product(equation: str, *operands: torch.Tensor) -> torch.Tensor:
    """``torch.einsum`` over residue frames and coordinates, in float32 (float64 stays) even under
    bfloat16 autocast: these are batched 3 x 3 products, about 2.5x slower in bfloat16 on the CPU
    (``einsum`` becomes a cast plus a bfloat16 ``bmm``) and too coarse for geometry."""
    with torch.autocast(operands[0].device.type, enabled=False):
        return torch.einsum(equation, *(o.float() if o.dtype in HALF else o for o in operands))


def trace_frames(ca: torch.Tensor, index: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Right-handed frames ``[R, 3, 3]`` from the CA trace: e1 along CA(i-1) -> CA(i+1), e2 the
    component of the bisector of CA(i)->CA(i-1) and CA(i)->CA(i+1) orthogonal to it, e3 = e1 x e2.
    Chain ends take the frame of their neighbour. Much less sensitive to coordinate noise than
    frames built from the N, CA, C of one residue (atoms 1.5 A apart vs residues 3.8 A apart)."""
    inner = torch.minimum(index.clamp(min=1), (length - 2).clamp(min=1))  # ends borrow a neighbour
    centre = torch.arange(len(ca), device=ca.device) - index + inner
    after = (centre + 1).clamp(max=len(ca) - 1)
    to_next, to_prev = ca[after] - ca[centre], ca[centre - 1] - ca[centre]
    e1 = F.normalize(to_next - to_prev, dim=-1, eps=1e-6)
    bisector = to_next + to_prev
    e2 = F.normalize(bisector - (bisector * e1).sum(-1, keepdim=True) * e1, dim=-1, eps=1e-6)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=1)


def residue_index(batch: torch.Tensor, num_graphs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Position of every residue in its chain and the chain's length, both ``[R]``."""
    counts = torch.bincount(batch, minlength=num_graphs)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(len(batch), device=batch.device) - starts[batch], counts[batch]


def segment_index(batch: torch.Tensor, number: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Position of every residue in its contiguous segment and the segment's length, both ``[R]``
    (a segment: consecutive rows of one chain whose residue ``number`` rises by 1)."""
    breaks = torch.ones(len(batch), dtype=torch.bool, device=batch.device)
    breaks[1:] = (batch[1:] != batch[:-1]) | (number[1:] != number[:-1] + 1)
    segment = torch.cumsum(breaks.long(), 0) - 1
    return residue_index(segment, int(segment[-1]) + 1 if len(segment) else 0)


def neighbour_edges(
    ca: torch.Tensor,
    padded: Padded,
    index: torch.Tensor,
    k: int,
    window: int,
    extra: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges ``src -> dst`` ``[E]`` (sorted by ``dst``, then ``src``): for every residue its ``k``
    nearest residues of the same chain (CA distance, ``ca`` ``[R, 3]``), always including the
    sequence neighbours within ``window`` (``index`` ``[R]`` residue numbers), plus the pairs
    ``extra[g, dst row, src row]`` (``[G, L, L]`` bool, e.g. all motif pairs) when given."""
    cad, idx = padded.dense(ca), padded.dense(index)
    real = padded.pair_mask
    sep = (idx[:, :, None] - idx[:, None, :]).abs()
    dist = torch.cdist(cad, cad)
    dist = dist.masked_fill(real & (sep <= window), -1.0)  # sequence neighbours first
    dist = dist.masked_fill(~real | (sep == 0), float("inf"))
    k = min(k, cad.shape[1] - 1)
    if k < 1:
        empty = torch.zeros(0, dtype=torch.long, device=ca.device)
        return empty, empty
    nearest = dist.topk(k, dim=2, largest=False)
    adjacent = torch.zeros_like(real).scatter_(2, nearest.indices, torch.isfinite(nearest.values))
    if extra is not None:
        adjacent |= extra & real & (sep > 0)
    graph, dst, src = adjacent.nonzero(as_tuple=True)
    return padded.node[graph, src], padded.node[graph, dst]


def chain_distances(ca: torch.Tensor, padded: Padded) -> tuple[torch.Tensor, torch.Tensor]:
    """CA distances within each chain ``[G, L, L]``, +inf on the diagonal and padding, and
    ``other`` ``[G, L, L]`` bool marking those places (``ca`` ``[R, 3]``)."""
    cad = padded.dense(ca)
    eye = torch.eye(cad.shape[1], dtype=torch.bool, device=ca.device)
    other = ~padded.pair_mask | eye
    return torch.cdist(cad, cad).masked_fill(other, float("inf")), other


def knn_pairs(ca: torch.Tensor, padded: Padded, k: int) -> torch.Tensor:
    """``[G, L, L]`` bool ``[g, dst row, src row]``: each residue's ``k`` nearest residues of its
    chain by CA distance (``ca`` ``[R, 3]``, e.g. of the self-conditioning estimate)."""
    dist, _ = chain_distances(ca, padded)
    nearest = dist.topk(min(k, max(dist.shape[2] - 1, 1)), dim=2, largest=False)
    return torch.zeros_like(padded.pair_mask).scatter_(2, nearest.indices, torch.isfinite(nearest.values))


def long_range_pairs(ca: torch.Tensor, padded: Padded, skip: int, k: int) -> torch.Tensor:
    """``[G, L, L]`` bool ``[g, dst row, src row]``: for each residue, ``k`` residues of its chain
    at evenly spaced ranks of CA distance beyond its ``skip`` nearest (deterministic long-range
    edges that cover the whole chain sparsely)."""
    dist, other = chain_distances(ca, padded)
    order = dist.argsort(dim=2)
    available = (~other).sum(2, keepdim=True)  # same-chain residues of each row
    span = (available - skip).clamp(min=0)
    ranks = skip + ((torch.arange(k, device=ca.device) + 0.5) / k * span).long()  # [G, L, k]
    keep = ranks < available
    picked = order.gather(2, ranks.clamp(max=dist.shape[2] - 1))
    return torch.zeros_like(other).scatter_(2, picked, keep)


class ResidueLayer(nn.Module):
    """Message passing over residues: invariant node features ``h`` and (``edge_updates``) edge
    states, which add each layer's message to themselves (an edge transition)."""

    def __init__(self, hidden: int, edge_hidden: int, edge_updates: bool = False) -> None:
        super().__init__()
        self.proj_src = nn.Linear(hidden, edge_hidden)
        self.proj_dst = nn.Linear(hidden, edge_hidden, bias=False)
        self.proj_edge = nn.Linear(edge_hidden, edge_hidden, bias=False)
        self.edge_out = nn.Linear(edge_hidden, edge_hidden)
        self.node_norm = nn.LayerNorm(hidden)
        self.node_mlp = nn.Sequential(
            nn.Linear(2 * hidden + edge_hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.edge_update = None
        if edge_updates:  # zero at first: grown from a model without, it starts as that model
            self.edge_update = nn.Linear(edge_hidden, edge_hidden)
            nn.init.zeros_(self.edge_update.weight)
            nn.init.zeros_(self.edge_update.bias)

    def forward(
        self,
        h: torch.Tensor,
        edge: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        inv_count: torch.Tensor,
        chain_mean: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """h ``[R, hidden]``, edge ``[E, edge_hidden]``, inv_count ``[R, 1]``; chain_mean maps
        ``[R, F]`` to each residue's chain average. Returns the updated (h, edge)."""
        m = F.silu(self.proj_src(h)[src] + self.proj_dst(h)[dst] + self.proj_edge(edge))
        m = F.silu(self.edge_out(m))
        hn = self.node_norm(h)
        h = h + self.node_mlp(torch.cat([hn, scatter_mean(m, dst, inv_count), chain_mean(hn)], -1))
        return h, edge if self.edge_update is None else edge + self.edge_update(m)


class BackboneDenoiser(Denoiser):
    """Predicts the displacement of every N, CA, C atom of a noisy backbone batch."""

    def __init__(self, config: BackboneDenoiserConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.time = FourierTime(TIME_FEATURES // 2)
        self.rbf = GaussianRBF(c.num_rbf, c.rbf_max)
        self.end_embed = nn.Embedding(2 * NUM_END_BUCKETS, c.hidden)
        extra = 1 if c.self_condition else 0  # the previous estimate: node and edge features
        self.node_in = nn.Linear(NODE_INPUTS + extra * PREVIOUS_NODE_INPUTS, c.hidden)
        self.relpos = nn.Embedding(2 * c.max_relpos + 1, c.edge_hidden)
        edge_geometry = c.num_rbf + RESIDUE_COORDS + FRAME_ROTATION
        self.edge_in = nn.Linear(edge_geometry + extra * (c.num_rbf + RESIDUE_COORDS), c.edge_hidden)
        if c.conditioning:
            self.ss_embed = nn.Embedding(SS_UNSPECIFIED + 1, c.hidden)
            self.fraction_in = nn.Linear(3, c.hidden)
            self.motif_embed = nn.Embedding(2, c.hidden)
            self.motif_edge_in = nn.Linear(MOTIF_EDGE_FIXED_INPUTS + c.num_rbf, c.edge_hidden)
            if c.pairing:  # which strand elements pair: antiparallel / parallel, on their residue pairs
                self.pairing_embed = nn.Embedding(3, c.edge_hidden)
            for module in (self.ss_embed, self.fraction_in, self.motif_embed, self.motif_edge_in):
                for param in module.parameters():
                    nn.init.zeros_(param)  # starts as the unconditional model (warm starts)
            if c.pairing:
                nn.init.zeros_(self.pairing_embed.weight)
            if c.registers:  # the pairs of those residues that DSSP bridges (the register), per kind
                self.register_embed = nn.Embedding(3, c.edge_hidden)
                nn.init.zeros_(self.register_embed.weight)
        if c.pair_channels:  # the dense pair track; its edge read-out starts at zero (warm starts)
            self.pair_track = PairTrack(
                c.pair_channels, c.pair_blocks, c.hidden, c.max_relpos, c.num_rbf, c.rbf_max
            )
            self.pair_to_edge = nn.Linear(c.pair_channels, c.edge_hidden, bias=False)
            nn.init.zeros_(self.pair_to_edge.weight)
        self.layers = nn.ModuleList(
            ResidueLayer(c.hidden, c.edge_hidden, c.edge_updates) for _ in range(c.num_layers)
        )
        self.out_norm = nn.LayerNorm(c.hidden)
        self.head = nn.Linear(c.hidden, 3 * ATOMS_PER_RESIDUE)

    def forward(self, noisy: State, logsnr: torch.Tensor, cond=None, self_cond=None) -> DenoiserOutput:
        """See :class:`molgen.core.denoiser.Denoiser`.

        Args:
            noisy: ``pos`` ``[3 R, 3]`` noisy N, CA, C coordinates, residue by residue (model
                units); ``feat`` ``[3 R, 0]`` (backbones have no atom types); ``batch`` ``[3 R]``.
            logsnr: ``[num_graphs]`` noise level of each chain.
            cond: what to generate, covering the same ``R`` residues and chains (``ss`` ``[R]``,
                ``ss_fraction`` ``[num_graphs, 2]``, ``motif`` ``[R]``, ``motif_xyz`` ``[R, 3, 3]``;
                see BackboneConditions); only read when ``config.conditioning``; None means
                nothing specified.
            self_cond: the previous x0 estimate (``pos`` ``[3 R, 3]``), or None (no estimate
                yet); only read when ``config.self_condition``.

        Returns:
            ``disp`` ``[3 R, 3]`` equivariant displacement (zero mean per chain), ``logits``
            ``[3 R, 0]`` (no types), and with a pair track ``pair_logits`` ``[P, DISTOGRAM_BINS]``:
            the clean CA distance bin of every residue pair ``i < j`` of each chain
            (:func:`molgen.core.graph.full_pairs` order), otherwise None.
        """
        pos, batch, num_graphs = noisy.pos, noisy.batch, noisy.num_graphs
        c = self.config
        xyz = pos.reshape(-1, ATOMS_PER_RESIDUE, 3)
        rbatch = batch[::ATOMS_PER_RESIDUE]
        ca = xyz[:, 1]
        if c.conditioning and cond is None:
            cond = BackboneConditions.none(len(ca), num_graphs, ca.device)
        if c.conditioning and cond.residue_number is not None:  # a crop with gaps (training)
            index, length = cond.residue_number, cond.chain_length
            frames = trace_frames(ca, *segment_index(rbatch, index))
        else:
            index, length = residue_index(rbatch, num_graphs)
            frames = trace_frames(ca, index, length)
        padded = Padded(rbatch, num_graphs)  # graph building per chain: G L^2, not R^2
        extra = torch.zeros_like(padded.pair_mask)
        if c.conditioning and bool(cond.motif.any()):
            motif, group = padded.dense(cond.motif), padded.dense(cond.motif_group)
            extra |= motif[:, :, None] & motif[:, None, :] & (group[:, :, None] == group[:, None, :])
        if c.estimate_neighbors and self_cond is not None:
            extra |= knn_pairs(
                self_cond.pos.reshape(-1, ATOMS_PER_RESIDUE, 3)[:, 1], padded, c.estimate_neighbors
            )
        if c.long_range_neighbors:
            extra |= long_range_pairs(ca, padded, c.num_neighbors, c.long_range_neighbors)
        pairing = None
        if c.conditioning and c.pairing and cond.pair_kind.numel():
            pairing = cond.pairing_matrix(padded)
            extra |= pairing > 0
        src, dst = neighbour_edges(ca, padded, index, c.num_neighbors, c.sequence_window, extra)

        # node inputs: noise level, own atoms in own frame, distance to the chain ends; edge
        # inputs: CA distance, neighbour's atoms and axes in the receiver's frame, sequence offset
        local_atoms, edge_geometry = self._geometry(xyz, frames, src, dst)
        from_start = index.clamp(max=NUM_END_BUCKETS - 1)
        from_end = (length - 1 - index).clamp(max=NUM_END_BUCKETS - 1) + NUM_END_BUCKETS
        node_inputs = [self.time(logsnr)[rbatch], local_atoms]
        offset = (index[src] - index[dst]).clamp(-c.max_relpos, c.max_relpos) + c.max_relpos
        edge_inputs = [edge_geometry]
        if c.self_condition:
            previous = None if self_cond is None else self_cond.pos
            prev_node, prev_edge = self._previous_estimate(previous, xyz, frames, src, dst)
            node_inputs += prev_node
            edge_inputs += prev_edge
        h = self.node_in(torch.cat(node_inputs, -1))
        h = h + self.end_embed(from_start) + self.end_embed(from_end)
        edge = self.edge_in(torch.cat(edge_inputs, -1)) + self.relpos(offset)
        if c.conditioning:
            h = h + self._condition_nodes(cond, rbatch)
            edge = edge + self.motif_edge_in(self._motif_edges(cond, src, dst))
        if pairing is not None:
            kind = padded.pairs(pairing, dst, src)
            bridged = kind > BRIDGED
            kind = torch.where(bridged, kind - BRIDGED, kind)
            edge = edge + self.pairing_embed(kind) * (kind > 0)[:, None]
            if c.registers:
                edge = edge + self.register_embed(kind) * bridged[:, None]
            pairing = torch.where(pairing > BRIDGED, pairing - BRIDGED, pairing)  # the pair track's kinds
        distogram = None
        if c.pair_channels:
            previous_ca = None if self_cond is None else self_cond.pos.reshape(-1, ATOMS_PER_RESIDUE, 3)[:, 1]
            z = self.pair_track(padded, ca, index, h, previous_ca, pairing)
            edge = edge + self.pair_to_edge(padded.pairs(z, dst, src))
            distogram = self.pair_track.distogram_logits(z, padded)

        inv_count = 1.0 / torch.bincount(dst, minlength=len(ca)).clamp(min=1).to(pos.dtype)[:, None]
        inv_length = 1.0 / torch.bincount(rbatch, minlength=num_graphs).clamp(min=1).to(pos.dtype)[:, None]

        def chain_mean(values: torch.Tensor) -> torch.Tensor:
            total = torch.zeros(num_graphs, values.shape[1], dtype=values.dtype, device=values.device)
            return (total.index_add_(0, rbatch, values) * inv_length)[rbatch]

        for layer in self.layers:
            h, edge = layer(h, edge, src, dst, inv_count, chain_mean)
        coeffs = self.head(self.out_norm(h)).reshape(-1, ATOMS_PER_RESIDUE, 3)
        disp = frame_product("rak,rkd->rad", coeffs, frames).reshape(-1, 3)
        no_types = noisy.feat.new_zeros(len(pos), 0)
        return DenoiserOutput(remove_mean(disp, batch, num_graphs), no_types, distogram)

    def _geometry(
        self, xyz: torch.Tensor, frames: torch.Tensor, src: torch.Tensor, dst: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Invariant features of a backbone ``xyz`` ``[R, 3, 3]`` in its residue ``frames``
        ``[R, 3, 3]``: every residue's own atoms ``[R, 9]``, and on every edge ``[E, num_rbf + 18]``
        the CA distance, the sender's atoms (scaled by 1 / distance) and axes in the receiver's frame."""
        ca = xyz[:, 1]
        own = frame_product("rkd,rad->rak", frames, xyz - ca[:, None]).reshape(-1, RESIDUE_COORDS)
        rel = xyz[src] - ca[dst][:, None]  # [E, 3, 3]
        dist = rel[:, 1].norm(dim=-1)
        rel_local = frame_product("ekd,ead->eak", frames[dst], rel) / (
            dist[:, None, None] + DISTANCE_SOFTENING
        )
        axes = frame_product("ekd,eld->ekl", frames[dst], frames[src])
        edge = torch.cat(
            [self.rbf(dist), rel_local.reshape(-1, RESIDUE_COORDS), axes.reshape(-1, FRAME_ROTATION)], -1
        )
        return own, edge

    def _condition_nodes(self, cond: BackboneConditions, rbatch: torch.Tensor) -> torch.Tensor:
        """``[R, hidden]``: secondary structure class, chain fractions, motif flag."""
        given = cond.ss_fraction_given.to(self.fraction_in.weight.dtype)[:, None]
        fraction = self.fraction_in(torch.cat([cond.ss_fraction * given, given], -1))
        return self.ss_embed(cond.ss) + fraction[rbatch] + self.motif_embed(cond.motif.long())

    def _motif_edges(self, cond: BackboneConditions, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """``[E, 13 + num_rbf]``: on edges between two residues of one motif group, the motif's own
        geometry (flag, relative rotation, CA offset and distance in the receiver's motif frame);
        invariant to where the group is placed. Zero on every other edge."""
        both = cond.motif_pairs(src, dst).to(self.motif_edge_in.weight.dtype)[:, None]
        frames = residue_frames(cond.motif_xyz)
        ca = cond.motif_xyz[:, 1]
        rotation = frame_product("ekd,eld->ekl", frames[dst], frames[src]).reshape(-1, FRAME_ROTATION)
        offset = frame_product("ekd,ed->ek", frames[dst], ca[src] - ca[dst])
        features = torch.cat([both, rotation, offset, self.rbf(offset.norm(dim=-1))], -1)
        return features * both

    def _previous_estimate(
        self,
        self_cond: torch.Tensor | None,
        xyz: torch.Tensor,
        frames: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Node ``[R, PREVIOUS_NODE_INPUTS]`` and edge ``[E, num_rbf + RESIDUE_COORDS]`` features of
        the previous x0 estimate (its atoms in the current residue frames; all zero, flag 0, when
        there is none)."""
        num_res, num_edges = len(xyz), len(src)
        if self_cond is None:
            zeros = xyz.new_zeros
            return [zeros(num_res, PREVIOUS_NODE_INPUTS)], [
                zeros(num_edges, self.config.num_rbf + RESIDUE_COORDS)
            ]
        prev = self_cond.reshape(-1, ATOMS_PER_RESIDUE, 3)
        own = frame_product("rkd,rad->rak", frames, prev - xyz[:, 1:2]).reshape(-1, RESIDUE_COORDS)
        rel = prev[src] - prev[dst][:, 1:2]
        dist = rel[:, 1].norm(dim=-1)
        rel_local = frame_product("ekd,ead->eak", frames[dst], rel) / (
            dist[:, None, None] + DISTANCE_SOFTENING
        )
        flag = xyz.new_ones(num_res, 1)
        return [own, flag], [self.rbf(dist), rel_local.reshape(-1, RESIDUE_COORDS)]
