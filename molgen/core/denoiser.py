"""The denoiser interface: one signature for every network that the diffusion core drives.

A denoiser reads a noisy :class:`~molgen.core.state.State` at per-graph noise levels and returns
a :class:`DenoiserOutput`. It never sees a noise schedule (it is told the log-SNR only); the
noise process never sees a network; :func:`molgen.diffusion.targets.predict_x0` joins the two.

Conditioning is one object per domain (molecule properties, backbone secondary structure and
motif) implementing :class:`Conditioning`; ``None`` means nothing is specified. Self-conditioning
passes the previous clean-data estimate as a State (``None``: no estimate yet).

Implementations: :class:`molgen.models.molecule_denoiser.MoleculeDenoiser`,
:class:`molgen.models.backbone_denoiser.BackboneDenoiser`.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, TypeVar

import torch
from torch import nn

from molgen.core.state import State

C = TypeVar("C", bound="Conditioning")


class Conditioning(Protocol):
    """What a batch of ``G`` graphs is conditioned on (its tensors cover the same graphs as the
    State it goes with)."""

    def unconditional(self: C) -> C:
        """The reference of classifier-free guidance: the same batch with the guided parts
        unspecified."""
        ...

    @property
    def has_guided_parts(self) -> bool:
        """Whether anything guidance pushes towards is given (otherwise both branches agree and
        one plain pass suffices)."""
        ...

    def cat(self: C, other: C) -> C:
        """This batch's graphs followed by ``other``'s (both guidance branches in one pass)."""
        ...

    def to(self: C, device: torch.device | str, dtype: torch.dtype | None = None) -> C: ...


class DenoiserOutput(NamedTuple):
    """What a denoiser predicts (a NamedTuple, so DDP and autocast wrappers pass it through).

    Attributes:
        disp: ``[N, 3]`` equivariant coordinate output, zero mean per graph (read as
            ``x0 = alpha z + sigma disp``; see :mod:`molgen.diffusion.targets`).
        logits: ``[N, num_types]`` invariant type logits (``[N, 0]`` without types).
        pair_logits: ``[P, num_pair_states]`` invariant per-pair logits for models with a pair
            state (bond orders, residue-pair states), pairs stored graph by graph; None without.
    """

    disp: torch.Tensor
    logits: torch.Tensor
    pair_logits: torch.Tensor | None = None


class Denoiser(nn.Module):
    """Base class of the denoisers: subclasses implement :meth:`forward` with this signature."""

    def forward(
        self,
        noisy: State,
        logsnr: torch.Tensor,
        cond: Conditioning | None = None,
        self_cond: State | None = None,
    ) -> DenoiserOutput:
        """
        Args:
            noisy: the noisy batch (``pos`` ``[N, 3]``, ``feat`` ``[N, F]``, ``batch`` ``[N]``).
            logsnr: ``[num_graphs]`` noise level of every graph.
            cond: the domain's conditioning object, or None (nothing specified).
            self_cond: the previous clean-data estimate of the same batch, or None.
        """
        raise NotImplementedError
