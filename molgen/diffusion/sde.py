"""The variance-preserving SDE: forward noising, prior and one reverse step.

A :class:`~molgen.core.state.State` holds coordinates ``pos`` ``[N, 3]`` (kept at zero centre per
graph), continuous type features ``feat`` ``[N, F]`` and optionally continuous pair features
``pair`` ``[P, B]`` (one-hot bond orders); every channel is noised the same way:
``z_t = alpha_t x + sigma_t eps``. The SDE never sees a network: reverse steps take the
network's clean-data (x0) prediction.
"""

from __future__ import annotations

import torch

from molgen.core.graph import remove_mean
from molgen.core.state import State
from molgen.diffusion.schedules import make_schedule


class VPSDE:
    """Variance-preserving diffusion with a named schedule (``cosine`` or ``polynomial``)."""

    def __init__(self, schedule: str = "cosine") -> None:
        self.schedule = make_schedule(schedule)

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.schedule.alpha_sigma(t)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.schedule.logsnr(t))

    def noise_like(self, state: State, generator: torch.Generator | None = None) -> State:
        """Standard Gaussian noise; zero mean per graph on coordinates."""

        def randn_like(x: torch.Tensor) -> torch.Tensor:
            return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)

        eps_pos, eps_feat = randn_like(state.pos), randn_like(state.feat)
        eps_pair = None if state.pair is None else randn_like(state.pair)
        return state.replace(remove_mean(eps_pos, state.batch, state.num_graphs), eps_feat, eps_pair)

    def prior(self, state_like: State, generator: torch.Generator | None = None) -> State:
        """A sample of ``z_1`` with the shapes of ``state_like``."""
        return self.noise_like(state_like, generator)

    def add_noise(self, x0: State, t: torch.Tensor, noise: State) -> State:
        """``z_t = alpha_t x0 + sigma_t eps`` with per-graph times ``t`` ``[num_graphs]``."""
        alpha, sigma = self.alpha_sigma(t)
        return x0.combine([(alpha, x0), (sigma, noise)])

    def ancestral_step(
        self,
        z_t: State,
        x0: State,
        t: float,
        s: float,
        generator: torch.Generator | None = None,
        noise: bool = True,
    ) -> State:
        """Sample ``z_s ~ q(z_s | z_t, x0)`` for ``s < t`` (DDPM); ``s = 0`` returns ``x0``.
        With ``noise=False``, return the mean of that distribution instead (zero temperature)."""
        if s <= 0:
            return x0
        (at, st), (as_, ss) = self._scales(t), self._scales(s)
        alpha_ts = at / as_
        var_ts = st**2 - alpha_ts**2 * ss**2
        mean_coef_z = alpha_ts * ss**2 / st**2
        mean_coef_x = as_ * var_ts / st**2
        mean = z_t.combine([(mean_coef_z, z_t), (mean_coef_x, x0)])
        if not noise:
            return mean
        std = (var_ts * ss**2 / st**2).sqrt()
        return mean.combine([(1.0, mean), (std, self.noise_like(z_t, generator))])

    def renoise(self, z_s: State, s: float, t: float, generator: torch.Generator | None = None) -> State:
        """Sample ``z_t ~ q(z_t | z_s)`` for ``t > s``: the forward process from ``s`` back to ``t``."""
        if not t > s:
            raise ValueError(f"renoise goes forward in time: need t > s, got t={t}, s={s}")
        (at, st), (as_, ss) = self._scales(t), self._scales(s)
        alpha_ts = at / as_
        std = (st**2 - alpha_ts**2 * ss**2).clamp(min=0).sqrt()
        return z_s.combine([(alpha_ts, z_s), (std, self.noise_like(z_s, generator))])

    def ddim_step(self, z_t: State, x0: State, t: float, s: float) -> State:
        """Deterministic DDIM step (first-order probability-flow ODE solver)."""
        (at, st), (as_, ss) = self._scales(t), self._scales(s)
        ratio = ss / st
        return z_t.combine([(ratio, z_t), (as_ - ratio * at, x0)])

    def _scales(self, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        return self.alpha_sigma(torch.tensor(float(t), dtype=torch.float64))

    def logsnr(self, t: float) -> float:
        return float(self.schedule.logsnr(torch.tensor(float(t), dtype=torch.float64)))
