"""The variance-preserving SDE: forward noising, prior and one reverse step.

A state is a pair of node tensors: coordinates ``pos`` ``[N, 3]`` (kept at zero centre per
graph) and continuous type features ``feat`` ``[N, F]``. ``z_t = alpha_t x + sigma_t eps``.
The SDE never sees a network: reverse steps take the network's clean-data (x0) prediction.
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
        eps_pos = torch.randn(
            state.pos.shape, generator=generator, device=state.pos.device, dtype=state.pos.dtype
        )
        eps_feat = torch.randn(
            state.feat.shape, generator=generator, device=state.feat.device, dtype=state.feat.dtype
        )
        return state.replace(remove_mean(eps_pos, state.batch, state.num_graphs), eps_feat)

    def prior(self, state_like: State, generator: torch.Generator | None = None) -> State:
        """A sample of ``z_1`` with the shapes of ``state_like``."""
        return self.noise_like(state_like, generator)

    def add_noise(self, x0: State, t: torch.Tensor, noise: State) -> State:
        """``z_t = alpha_t x0 + sigma_t eps`` with per-graph times ``t`` ``[num_graphs]``."""
        alpha, sigma = self.alpha_sigma(t)
        a, s = alpha[x0.batch, None], sigma[x0.batch, None]
        return x0.replace(a * x0.pos + s * noise.pos, a * x0.feat + s * noise.feat)

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
        mean = z_t.replace(
            mean_coef_z * z_t.pos + mean_coef_x * x0.pos, mean_coef_z * z_t.feat + mean_coef_x * x0.feat
        )
        if not noise:
            return mean
        std = (var_ts * ss**2 / st**2).sqrt()
        eps = self.noise_like(z_t, generator)
        return mean.replace(mean.pos + std * eps.pos, mean.feat + std * eps.feat)

    def renoise(self, z_s: State, s: float, t: float, generator: torch.Generator | None = None) -> State:
        """Sample ``z_t ~ q(z_t | z_s)`` for ``t > s``: the forward process from ``s`` back to ``t``."""
        if not t > s:
            raise ValueError(f"renoise goes forward in time: need t > s, got t={t}, s={s}")
        (at, st), (as_, ss) = self._scales(t), self._scales(s)
        alpha_ts = at / as_
        std = (st**2 - alpha_ts**2 * ss**2).clamp(min=0).sqrt()
        eps = self.noise_like(z_s, generator)
        return z_s.replace(alpha_ts * z_s.pos + std * eps.pos, alpha_ts * z_s.feat + std * eps.feat)

    def ddim_step(self, z_t: State, x0: State, t: float, s: float) -> State:
        """Deterministic DDIM step (first-order probability-flow ODE solver)."""
        (at, st), (as_, ss) = self._scales(t), self._scales(s)
        ratio = ss / st
        return z_t.replace(
            ratio * z_t.pos + (as_ - ratio * at) * x0.pos,
            ratio * z_t.feat + (as_ - ratio * at) * x0.feat,
        )

    def _scales(self, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        return self.alpha_sigma(torch.tensor(float(t), dtype=torch.float64))

    def logsnr(self, t: float) -> float:
        return float(self.schedule.logsnr(torch.tensor(float(t), dtype=torch.float64)))
