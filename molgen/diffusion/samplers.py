"""Reverse-time samplers over a :class:`VPSDE`, given any x0-predicting denoise function.

``denoise(state, t) -> State`` returns the clean-data prediction for the noisy ``state`` at
time ``t``. The number of steps is a sampling argument, independent of training; every sampler
makes exactly ``steps`` denoiser evaluations on the time grid ``t_i = (1 - i / steps) ** time_power``
(``1 = t_0 > ... > t_steps = 0``; uniform for ``time_power`` 1, more of the steps at low noise above 1,
as DDIM's quadratic grid for 2).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch

from molgen.core.state import State
from molgen.diffusion.sde import VPSDE

logger = logging.getLogger("molgen")

SAMPLERS = ("ancestral", "ancestral-mean", "ddim", "dpm2m")

DenoiseFn = Callable[[State, float], State]


def sample(
    denoise: DenoiseFn,
    sde: VPSDE,
    z: State,
    steps: int,
    sampler: str = "dpm2m",
    generator: torch.Generator | None = None,
    resample: int = 1,
    time_power: float = 1.0,
) -> State:
    """Integrate from the prior sample ``z`` (time 1) to data (time 0).

    Args:
        sampler: ``"ancestral"`` (DDPM, stochastic), ``"ancestral-mean"`` (the same steps
            without their noise: each step goes to the mean of ``q(z_s | z_t, x0)``, a
            zero-temperature sampler; it shrinks the noise faster than DDIM), ``"ddim"``
            (deterministic, first order) or ``"dpm2m"`` (DPM-Solver++(2M), deterministic,
            second order, same cost as DDIM).
        resample: with ``r > 1``, every step is taken ``r`` times, going back to its start
            time with fresh forward noise in between (RePaint, Lugmayr et al. 2022): it lets
            parts the denoise function imposes (e.g. a fixed fragment) and the generated parts
            agree. ``steps * r`` evaluations; the ``ancestral`` sampler only.
        time_power: the time grid (module docstring); models that denoise precisely at low
            noise gain from a power above 1 (docs/benchmarks.md, "The time grid").

    Returns:
        The final clean-data prediction.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {list(SAMPLERS)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    check_resample(sampler, resample)
    check_time_power(time_power)
    times = (torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64) ** time_power).tolist()
    prev_x0, prev_h = None, None
    x0 = z
    first_bad = torch.full((len(z.pos),), steps, dtype=torch.long, device=z.pos.device)  # per node
    for step, (t, s) in enumerate(zip(times[:-1], times[1:])):
        for _ in range(resample - 1):
            if s <= 0:
                break
            z_s = sde.ancestral_step(z, denoise(z, t), t, s, generator)
            z = sde.renoise(z_s, s, t, generator)
        x0 = denoise(z, t)
        bad = ~torch.isfinite(x0.pos).all(-1)
        first_bad = torch.where(bad & (first_bad == steps), step, first_bad)  # no host sync per step
        if s <= 0:
            break
        if sampler in ("ancestral", "ancestral-mean"):
            z = sde.ancestral_step(z, x0, t, s, generator, noise=sampler == "ancestral")
        elif sampler == "ddim" or prev_x0 is None:
            z = sde.ddim_step(z, x0, t, s)
        else:
            z = _dpm2m_step(sde, z, x0, prev_x0, t, s, prev_h)
        prev_x0, prev_h = x0, 0.5 * (sde.logsnr(s) - sde.logsnr(t))
    _report_non_finite(first_bad, z.batch, steps)
    return x0


def _report_non_finite(first_bad: torch.Tensor, batch: torch.Tensor, steps: int) -> None:
    """Log at which step each graph's x0 estimate first held a non-finite coordinate
    (``first_bad`` ``[num_nodes]``, ``steps`` where none did; ``batch`` ``[num_nodes]``)."""
    if bool((first_bad < steps).any()):
        graphs = batch[first_bad < steps].unique().tolist()
        at = {g: int(first_bad[batch == g].min()) for g in graphs}
        logger.warning("non-finite coordinates from step (of %d) per graph of the batch: %s", steps, at)


def check_time_power(time_power: float) -> None:
    """ValueError unless ``time_power`` is a finite number > 0."""
    if not (math.isfinite(time_power) and time_power > 0):
        raise ValueError(f"time power must be a finite number > 0, got {time_power}")


def check_resample(sampler: str, resample: int) -> None:
    """ValueError unless ``resample`` is 1, or more with the ``ancestral`` sampler."""
    if resample < 1 or (resample > 1 and sampler != "ancestral"):
        raise ValueError(f"resample must be >= 1, and > 1 only with the ancestral sampler (got {resample})")


def _dpm2m_step(sde: VPSDE, z: State, x0: State, prev_x0: State, t: float, s: float, prev_h: float) -> State:
    """DPM-Solver++(2M) (Lu et al. 2022): a DDIM step on a linear extrapolation of x0."""
    h = 0.5 * (sde.logsnr(s) - sde.logsnr(t))
    r = prev_h / h
    c_new, c_old = 1 + 1 / (2 * r), -1 / (2 * r)
    d = x0.combine([(c_new, x0), (c_old, prev_x0)])
    _, st = sde.alpha_sigma(torch.tensor(t, dtype=torch.float64))
    as_, ss = sde.alpha_sigma(torch.tensor(s, dtype=torch.float64))
    coef = -as_ * math.expm1(-h)
    ratio = ss / st
    return z.combine([(ratio, z), (coef, d)])
