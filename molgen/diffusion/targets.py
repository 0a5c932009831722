"""The x0 parametrisation that joins a denoiser to the SDE (used by trainer and generator).

With ``z = alpha x0 + sigma eps`` and unit-variance data, the network output ``D`` is read as
``x0_hat = alpha z + sigma D`` (so ``D`` targets ``sigma x0 - alpha eps``, i.e. minus the
v-target): well scaled at every noise level, and exact in the high-noise limit. Types are
predicted as logits; their x0 estimate is ``softmax(logits) * type_scale``.
"""

from __future__ import annotations

import torch

from molgen.core.graph import remove_mean
from molgen.core.state import State
from molgen.diffusion.sde import VPSDE


def predict_x0(
    net: torch.nn.Module,
    sde: VPSDE,
    z: State,
    t: torch.Tensor,
    type_scale: float,
    cond: torch.Tensor | None = None,
    guidance: float = 1.0,
    **net_inputs: object,
) -> tuple[State, torch.Tensor]:
    """Clean-data estimate for the noisy state ``z`` at per-graph times ``t`` ``[num_graphs]``.

    ``cond``: ``[num_graphs, num_conditions]`` conditions of a property-conditioned molecule
    model (all zeros: nothing given). With ``guidance`` w != 1, classifier-free guidance (Ho &
    Salimans 2022): the network also runs without conditions, in the same batch, and its outputs
    (displacement and type logits) become ``uncond + w (cond - uncond)``.
    ``net_inputs`` go to the network as keywords (e.g. a backbone model's ``self_cond`` tensor
    and ``conditions``).

    Returns:
        x0: the estimate (zero-mean coordinates, expected one-hot features).
        logits: ``[num_nodes, num_types]`` type logits.
    """
    alpha, sigma = sde.alpha_sigma(t.to(z.pos.dtype))
    logsnr = sde.schedule.logsnr(t.to(z.pos.dtype))
    if cond is None or guidance == 1.0:
        disp, logits = net(z.pos, z.feat, logsnr, z.batch, z.num_graphs, cond, **net_inputs)
    else:
        if net_inputs:
            raise ValueError("classifier-free guidance here takes no extra network inputs")
        g = z.num_graphs
        disp, logits = net(
            torch.cat([z.pos, z.pos]),
            torch.cat([z.feat, z.feat]),
            torch.cat([logsnr, logsnr]),
            torch.cat([z.batch, z.batch + g]),
            2 * g,
            torch.cat([cond, torch.zeros_like(cond)]),
            **net_inputs,
        )
        n = len(z.pos)
        disp = disp[n:] + guidance * (disp[:n] - disp[n:])
        logits = logits[n:] + guidance * (logits[:n] - logits[n:])
    pos = alpha[z.batch, None] * z.pos + sigma[z.batch, None] * disp
    pos = remove_mean(pos, z.batch, z.num_graphs)
    return z.replace(pos, torch.softmax(logits, -1) * type_scale), logits
