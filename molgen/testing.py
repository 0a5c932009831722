"""Test helpers shipped with the package: equivariance checks and tiny configurations."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from molgen.config import (
    BackboneDenoiserConfig,
    BackboneModelConfig,
    BackboneTrainConfig,
    DenoiserConfig,
    ModelConfig,
    TrainConfig,
)

#: A denoiser small enough for unit tests (a few thousand parameters).
TINY_MODEL = ModelConfig(denoiser=DenoiserConfig(hidden=32, edge_hidden=16, num_layers=2, num_rbf=8))
TINY_TRAIN = TrainConfig(
    batch_size=8, lr=1e-3, warmup_steps=1, max_steps=4, checkpoint_every=2, log_every=1, threads=1
)
#: A backbone denoiser and training run of the same spirit (chains of 20-64 residues).
TINY_BACKBONE_MODEL = BackboneModelConfig(
    denoiser=BackboneDenoiserConfig(
        hidden=32, edge_hidden=16, num_layers=2, num_neighbors=8, num_rbf=8, conditioning=True
    ),
    min_length=20,
    max_length=64,
)
TINY_BACKBONE_TRAIN = BackboneTrainConfig(
    batch_size=4,
    lr=1e-3,
    warmup_steps=1,
    max_steps=4,
    checkpoint_every=2,
    log_every=1,
    threads=1,
    crop_length=48,
)


def random_rotation(gen: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A uniformly random proper rotation ``[3, 3]`` (det +1) drawn with ``gen``: e3nn's
    Euler-angle rotation (``o3.angles_to_matrix``) at Haar-distributed angles, drawn as
    ``o3.rand_angles`` draws them but from ``gen`` (e3nn comes with the test extra)."""
    from e3nn import o3

    u = torch.rand(3, generator=gen, dtype=torch.float64)
    alpha, beta, gamma = 2 * math.pi * u[0], torch.acos(2 * u[1] - 1), 2 * math.pi * u[2]
    return o3.angles_to_matrix(alpha, beta, gamma).to(dtype)


def assert_equivariant(
    fn: Callable[[torch.Tensor], Sequence[torch.Tensor | None]],
    pos: torch.Tensor,
    num_trials: int = 3,
    atol: float = 1e-9,
    seed: int = 0,
    translate: bool = True,
) -> None:
    """Check that ``fn(pos) -> (vector_out [N, 3], *scalar_outs)`` is SE(3)-equivariant (e.g. a
    denoiser's output: displacement, then type and pair logits; None entries are skipped).

    For random rotations ``R`` (:func:`random_rotation`, seeded by ``seed``; the global RNG is
    not touched) and translations ``b``:
    ``vec(pos R^T + b) == vec(pos) R^T`` (outputs are displacements, so translation-free) and
    every ``scal(pos R^T + b) == scal(pos)``. Use float64 inputs for tight tolerances.

    Raises:
        AssertionError: with the largest deviation when a check fails.
    """
    gen = torch.Generator().manual_seed(seed)
    vec, *scalars = fn(pos)
    for _ in range(num_trials):
        rot = random_rotation(gen, pos.dtype)
        shift = (
            torch.randn(1, 3, generator=gen, dtype=pos.dtype)
            if translate
            else torch.zeros(1, 3, dtype=pos.dtype)
        )
        vec_r, *scalars_r = fn(pos @ rot.T + shift)
        err_vec = (vec_r - vec @ rot.T).abs().max().item()
        assert err_vec <= atol, f"vector output not equivariant: max deviation {err_vec:.3g}"
        for scal, scal_r in zip(scalars, scalars_r):
            if scal is not None and scal.numel():
                err_scal = (scal_r - scal).abs().max().item()
                assert err_scal <= atol, f"scalar output not invariant: max deviation {err_scal:.3g}"
