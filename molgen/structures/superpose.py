"""Optimal rigid superposition (Kabsch) of point sets, with RMSD."""

from __future__ import annotations

import numpy as np
import torch


def superpose(mobile: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mobile`` ``[..., N, 3]`` rotated and translated onto ``target`` ``[..., N, 3]`` (least
    squares, proper rotation only; leading dimensions are independent superpositions)."""
    mc, tc = mobile.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    cov = (mobile - mc).transpose(-1, -2) @ (target - tc)
    u, _, vt = torch.linalg.svd(cov)
    flip = torch.ones(*cov.shape[:-1], dtype=mobile.dtype, device=mobile.device)
    flip[..., 2] = torch.sign(torch.linalg.det(u @ vt))
    rotation = (u * flip[..., None, :]) @ vt  # applied on the right: x @ rotation
    return (mobile - mc) @ rotation + tc


def rmsd_after_superposition(a: np.ndarray, b: np.ndarray) -> float:
    """RMSD (same units) of point sets ``[..., 3]`` after superposing ``a`` onto ``b``."""
    a = torch.as_tensor(np.asarray(a, dtype=np.float64).reshape(-1, 3))
    b = torch.as_tensor(np.asarray(b, dtype=np.float64).reshape(-1, 3))
    return float((superpose(a, b) - b).square().sum(-1).mean().sqrt())
