"""Noise schedules of the variance-preserving SDE, as log signal-to-noise ratio over t in [0, 1].

With ``alpha^2 = sigmoid(logsnr)`` and ``sigma^2 = sigmoid(-logsnr)``, ``alpha^2 + sigma^2 = 1``.
"""

from __future__ import annotations

import math

import torch


class Schedule:
    """Base class: subclasses define ``logsnr(t)`` (decreasing in t)."""

    name = "base"

    def logsnr(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Signal and noise scales at times ``t`` (any shape)."""
        lam = self.logsnr(t)
        return torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()


class CosineSchedule(Schedule):
    """Cosine schedule (Nichol & Dhariwal 2021) in log-SNR form, truncated to
    ``[logsnr_min, logsnr_max]``: ``logsnr(t) = -2 log tan(a t + b)``."""

    name = "cosine"

    def __init__(self, logsnr_min: float = -10.0, logsnr_max: float = 10.0) -> None:
        self.b = math.atan(math.exp(-0.5 * logsnr_max))
        self.a = math.atan(math.exp(-0.5 * logsnr_min)) - self.b

    def logsnr(self, t: torch.Tensor) -> torch.Tensor:
        return -2.0 * torch.log(torch.tan(self.a * t + self.b))


class PolynomialSchedule(Schedule):
    """EDM's polynomial schedule (Hoogeboom et al. 2022):
    ``alpha^2 = (1 - 2s) (1 - t^p)^2 + s`` with precision ``s``."""

    name = "polynomial"

    def __init__(self, power: float = 2.0, precision: float = 1e-5) -> None:
        self.power = power
        self.precision = precision

    def logsnr(self, t: torch.Tensor) -> torch.Tensor:
        alpha2 = (1 - 2 * self.precision) * (1 - t.clamp(0, 1) ** self.power) ** 2 + self.precision
        return torch.log(alpha2) - torch.log1p(-alpha2)


def make_schedule(name: str) -> Schedule:
    """Schedule by name: ``"cosine"`` or ``"polynomial"``."""
    schedules = {"cosine": CosineSchedule, "polynomial": PolynomialSchedule}
    if name not in schedules:
        raise ValueError(f"unknown schedule {name!r}; choose from {sorted(schedules)}")
    return schedules[name]()
