"""The x0 parametrisation that joins a denoiser to the SDE (used by trainers and generators).

With ``z = alpha x0 + sigma eps`` and unit-variance data, the network output ``D`` is read as
``x0_hat = alpha z + sigma D`` (so ``D`` targets ``sigma x0 - alpha eps``, i.e. minus the
v-target): well scaled at every noise level, and exact in the high-noise limit. Types (and
pair states, e.g. bond orders) are predicted as logits; their x0 estimate is
``softmax(logits) * type_scale`` (``pair_scale`` for pairs).
"""

from __future__ import annotations

import torch

from molgen.core.denoiser import Conditioning, Denoiser, DenoiserOutput
from molgen.core.graph import remove_mean
from molgen.core.state import State
from molgen.diffusion.sde import VPSDE


def predict_x0(
    net: Denoiser,
    sde: VPSDE,
    z: State,
    t: torch.Tensor,
    type_scale: float,
    cond: Conditioning | None = None,
    self_cond: State | None = None,
    pair_scale: float | None = None,
) -> tuple[State, DenoiserOutput]:
    """Clean-data estimate for the noisy state ``z`` at per-graph times ``t`` ``[num_graphs]``
    (``pair_scale``: that of the pair features; None: ``type_scale``).

    Returns:
        x0: the estimate (zero-mean coordinates, expected one-hot features).
        out: the network's raw output (type logits, pair logits).
    """
    out = net(z, sde.schedule.logsnr(t.to(z.pos.dtype)), cond, self_cond)
    return x0_from_output(sde, z, t, out, type_scale, pair_scale), out


def x0_from_output(
    sde: VPSDE,
    z: State,
    t: torch.Tensor,
    out: DenoiserOutput,
    type_scale: float,
    pair_scale: float | None = None,
) -> State:
    """The clean-data estimate a network output stands for (see the module docstring)."""
    alpha, sigma = sde.alpha_sigma(t.to(z.pos.dtype))
    pos = alpha[z.batch, None] * z.pos + sigma[z.batch, None] * out.disp
    pos = remove_mean(pos, z.batch, z.num_graphs)
    pair_scale = type_scale if pair_scale is None else pair_scale
    # pair logits only stand for a state where one is diffused (a backbone's distogram is not)
    pair = None
    if out.pair_logits is not None and z.pair is not None:
        pair = torch.softmax(out.pair_logits, -1) * pair_scale
    return z.replace(pos, torch.softmax(out.logits, -1) * type_scale, pair)
