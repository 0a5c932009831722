"""Classifier-free guidance (Ho & Salimans 2022), one path for every domain.

The network runs on the conditioned batch and on its unconditional reference
(:meth:`~molgen.core.denoiser.Conditioning.unconditional`) in one pass, and every output
channel (coordinates, type logits, pair logits) becomes ``uncond + w (cond - uncond)``.
"""

from __future__ import annotations

import torch

from molgen.core.denoiser import Conditioning, Denoiser, DenoiserOutput
from molgen.core.state import State
from molgen.diffusion.sde import VPSDE
from molgen.diffusion.targets import predict_x0, x0_from_output


def guided_x0(
    net: Denoiser,
    sde: VPSDE,
    z: State,
    t: torch.Tensor,
    type_scale: float,
    cond: Conditioning | None,
    guidance: float = 1.0,
    self_cond: State | None = None,
    pair_scale: float | None = None,
) -> State:
    """Clean-data estimate of ``z`` at per-graph times ``t`` ``[num_graphs]`` under guidance
    weight ``guidance`` (1, or nothing to guide towards: plain conditional estimate, one network
    pass; otherwise two branches in one pass of twice the batch)."""
    if cond is None or guidance == 1.0 or not cond.has_guided_parts:
        return predict_x0(net, sde, z, t, type_scale, cond, self_cond, pair_scale)[0]
    logsnr = sde.schedule.logsnr(t.to(z.pos.dtype))
    both = net(
        z.doubled(),
        torch.cat([logsnr, logsnr]),
        cond.cat(cond.unconditional()),
        None if self_cond is None else self_cond.doubled(),
    )
    mixed = DenoiserOutput(*(None if o is None else _mix(o, guidance) for o in both))
    return x0_from_output(sde, z, t, mixed, type_scale, pair_scale)


def _mix(both: torch.Tensor, guidance: float) -> torch.Tensor:
    """``[2 M, ...]`` outputs (conditioned half first) -> ``[M, ...]`` guided outputs."""
    cond, uncond = both.chunk(2)
    return uncond + guidance * (cond - uncond)
