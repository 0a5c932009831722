"""Pieces shared by the molecule and backbone generators."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from molgen.diffusion.samplers import SAMPLERS
from molgen.diffusion.sde import VPSDE
from molgen.models.pretrained import AnyModelConfig, DataStats, load_pretrained, save_pretrained
from molgen.runtime import AutocastNet, check_precision, make_generator, resolve_device

logger = logging.getLogger("molgen")

MAX_REDRAWS = 3


class PretrainedGenerator:
    """What every generator shares: a model folder's config, denoiser and statistics on a
    device, its noise process, and loading/saving. Subclasses set ``KIND`` and ``DEFAULT_MODEL``."""

    KIND = ""
    DEFAULT_MODEL = ""

    def __init__(
        self,
        config: AnyModelConfig,
        net: torch.nn.Module,
        stats: DataStats,
        name: str = "model",
        info: dict | None = None,
        device: str | torch.device = "auto",
        precision: str = "fp32",
    ) -> None:
        """``precision``: ``"fp32"`` or ``"bf16"`` (the denoiser runs under bfloat16 autocast;
        the sampler's arithmetic stays float32)."""
        self.config, self.stats, self.name, self.info = config, stats, name, info or {}
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.precision = check_precision(precision)
        self.runner = AutocastNet(self.net, self.device) if precision == "bf16" else self.net
        self.sde = VPSDE(config.sde.schedule)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        device: str | torch.device = "auto",
        precision: str = "fp32",
    ):
        """Load a bundled model by name (default ``DEFAULT_MODEL``) or a ``save_pretrained`` folder."""
        name_or_path = name_or_path or cls.DEFAULT_MODEL
        config, net, stats, info = load_pretrained(name_or_path, kind=cls.KIND)
        return cls(config, net, stats, name=str(name_or_path), info=info, device=device, precision=precision)

    def save_pretrained(self, out_dir: str | Path) -> Path:
        return save_pretrained(out_dir, self.config, self.net, self.stats, self.info)


def check_sampling_args(steps: int, sampler: str, batch_size: int) -> None:
    """ValueError for a non-positive ``steps`` or ``batch_size`` or an unknown sampler."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {list(SAMPLERS)}")


def sample_finite(
    sample_batch: Callable[[np.ndarray], tuple[list[np.ndarray], list]],
    items: np.ndarray,
    first_index: int,
    what: str,
) -> tuple[list[np.ndarray], list]:
    """Run ``sample_batch(items) -> (coordinates, extras)``, one sample per item (e.g. a size or
    a design plan), and redraw every sample whose coordinates are not finite (up to MAX_REDRAWS
    times), logging which samples were redrawn."""
    pos, extras = sample_batch(items)
    for _ in range(MAX_REDRAWS):
        bad = [i for i, p in enumerate(pos) if not np.isfinite(p).all()]
        if not bad:
            return pos, extras
        logger.warning(
            "%s %s had non-finite coordinates; redrawing them", what, [first_index + i for i in bad]
        )
        new_pos, new_extras = sample_batch(items[bad])
        for i, p, e in zip(bad, new_pos, new_extras):
            pos[i], extras[i] = p, e
    raise FloatingPointError(f"sampling kept producing non-finite coordinates after {MAX_REDRAWS} redraws")


def device_generator(gen: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` for the sampler's noise, seeded from the CPU generator ``gen``."""
    return make_generator(int(torch.randint(0, 2**62, (), generator=gen)), device)
