"""Pieces shared by the molecule and backbone generators."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from molgen.runtime import make_generator

logger = logging.getLogger("molgen")

MAX_REDRAWS = 3


def sample_finite(
    sample_batch: Callable[[np.ndarray], tuple[list[np.ndarray], list]],
    sizes: np.ndarray,
    first_index: int,
    what: str,
) -> tuple[list[np.ndarray], list]:
    """Run ``sample_batch(sizes) -> (coordinates, extras)`` and redraw every sample whose
    coordinates are not finite (up to MAX_REDRAWS times), logging which samples were redrawn."""
    pos, extras = sample_batch(sizes)
    for _ in range(MAX_REDRAWS):
        bad = [i for i, p in enumerate(pos) if not np.isfinite(p).all()]
        if not bad:
            return pos, extras
        logger.warning(
            "%s %s had non-finite coordinates; redrawing them", what, [first_index + i for i in bad]
        )
        new_pos, new_extras = sample_batch(sizes[bad])
        for i, p, e in zip(bad, new_pos, new_extras):
            pos[i], extras[i] = p, e
    raise FloatingPointError(f"sampling kept producing non-finite coordinates after {MAX_REDRAWS} redraws")


def device_generator(gen: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` for the sampler's noise, seeded from the CPU generator ``gen``."""
    return make_generator(int(torch.randint(0, 2**62, (), generator=gen)), device)
