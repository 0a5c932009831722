"""Held-out validation of a backbone denoiser: does its one-step clean estimate keep strands,
and do designs sampled from held-out chains' topologies make them?

Each chain's N, CA, C are noised by ``noise`` Angstrom per coordinate (``z = alpha x + sigma
eps`` with ``sigma / alpha`` times the coordinate scale equal to it); the network's x0 estimate
(a second, self-conditioned pass when the model self-conditions, as in sampling) gets ideal
carbonyl oxygens and goes through DSSP. Helices survive this at every noise level; strands need
their partners put back in register, which is what a model that makes sheets must learn. A
better one-step estimate need not give better designs (docs/benchmarks.md, "A hydrogen-bond
loss"), so :func:`topology_designs` also samples whole designs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from molgen.core.denoiser import Denoiser
from molgen.core.state import State
from molgen.diffusion.sde import VPSDE
from molgen.diffusion.targets import predict_x0
from molgen.generators.backbones import BackboneGenerator, achieved_pairs
from molgen.generators.conditioners import DesignPlan, Topology
from molgen.structures.backbone import Backbone, with_ideal_oxygens
from molgen.structures.secondary_structure import has_sheet, hydrogen_bonds, secondary_structure

VALIDATION_NOISE = 1.6  # Angstrom per coordinate: the noise level of issue 21's target
# where sampling loses its strands (docs/benchmarks.md, "Where strands are lost while sampling")
MID_VALIDATION_NOISE = 3.3


@torch.no_grad()
def one_step_estimate(
    net: Denoiser,
    sde: VPSDE,
    chain: Backbone,
    noise: float,
    seed: int,
    coord_scale: float,
    self_condition: bool,
    recycles: int = 1,
) -> Backbone:
    """The network's x0 estimate of ``chain`` noised by ``noise`` A per coordinate (ideal O); a
    self-conditioning model reads its previous estimate ``recycles`` times (1: as in sampling)."""
    device = next(net.parameters()).device
    xyz = torch.as_tensor(chain.coords[:, :3], dtype=torch.float32).reshape(-1, 3)
    pos = (xyz - xyz.mean(0)) / coord_scale
    x0 = State(pos, pos.new_zeros(len(pos), 0), torch.zeros(len(pos), dtype=torch.long), 1)
    logsnr = -2.0 * math.log(noise / coord_scale)
    alpha, sigma = math.sqrt(1 / (1 + math.exp(-logsnr))), math.sqrt(1 / (1 + math.exp(logsnr)))
    z = x0.replace(alpha * pos + sigma * sde.noise_like(x0, torch.Generator().manual_seed(seed)).pos, x0.feat)
    z = z.to(device)
    t = torch.tensor([time_of_logsnr(sde, logsnr)], device=device)
    estimate, _ = predict_x0(net, sde, z, t, 1.0)
    for _ in range(recycles if self_condition else 0):
        estimate, _ = predict_x0(net, sde, z, t, 1.0, self_cond=estimate)
    out = (estimate.pos.double().cpu() * coord_scale).numpy().reshape(-1, 3, 3)
    return Backbone(with_ideal_oxygens(out), chain.sequence)


def time_of_logsnr(sde: VPSDE, logsnr: float) -> float:
    """The diffusion time with this log-SNR (bisection on the decreasing schedule)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(sde.schedule.logsnr(torch.tensor(mid, dtype=torch.float64))) > logsnr:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def one_step_estimates(
    net: Denoiser,
    sde: VPSDE,
    chains: Sequence[Backbone],
    noise: float,
    coord_scale: float,
    self_condition: bool,
    repeats: int = 2,
    recycles: int = 1,
) -> list[tuple[Backbone, Backbone]]:
    """(real chain, estimate) for every chain of ``chains`` and seeded repeat (seeds 0, 1, ...)."""
    return [
        (chain, one_step_estimate(net, sde, chain, noise, seed, coord_scale, self_condition, recycles))
        for chain in chains
        for seed in range(repeats)
    ]


def ss_retention(estimates: Sequence[tuple[Backbone, Backbone]]) -> dict[str, float]:
    """Pooled over (real, estimate) pairs: ``strand_kept`` / ``helix_kept`` (residues of the class
    in the estimates over those in the real chains) and ``strand_recall`` / ``helix_recall`` (real
    residues of the class that keep it)."""
    counts = {k: np.zeros(3) for k in "EH"}  # in estimates, recalled, in real chains
    for chain, estimate in estimates:
        truth, ss = secondary_structure(chain), secondary_structure(estimate)
        for k, c in counts.items():
            c += (ss.count(k), sum(a == k == b for a, b in zip(ss, truth)), truth.count(k))
    out = {}
    for k, name in (("E", "strand"), ("H", "helix")):
        made, recalled, real = counts[k]
        out[f"{name}_kept"] = made / real if real else float("nan")
        out[f"{name}_recall"] = recalled / real if real else float("nan")
    return out


LOCAL_HBOND_SPAN = 5  # residues: hydrogen bonds this close in sequence are helices and turns


def hbond_retention(estimates: Sequence[tuple[Backbone, Backbone]]) -> dict[str, float]:
    """Pooled over (real, estimate) pairs: the share of the real chains' backbone hydrogen bonds
    (pydssp) that the estimates keep, ``local_hbonds_kept`` (partners at most
    ``LOCAL_HBOND_SPAN`` apart in sequence) and ``nonlocal_hbonds_kept`` (farther: sheets)."""
    kept, real = np.zeros(2), np.zeros(2)
    for chain, estimate in estimates:
        truth = hydrogen_bonds(chain)
        donor, acceptor = np.nonzero(truth)
        far = np.abs(donor - acceptor) > LOCAL_HBOND_SPAN
        found = hydrogen_bonds(estimate)[donor, acceptor]
        kept += (found[~far].sum(), found[far].sum())
        real += ((~far).sum(), far.sum())
    share = np.divide(kept, real, out=np.full(2, np.nan), where=real > 0)
    return {"local_hbonds_kept": float(share[0]), "nonlocal_hbonds_kept": float(share[1])}


def topology_designs(
    generator: BackboneGenerator, chains: Sequence[Backbone], seed: int = 0
) -> dict[str, float]:
    """One design per chain of ``chains``, conditioned on its topology (DSSP string and strand
    pairing, loops as they are) with the generator's default sampler; pooled over the designs:
    ``designs_strand_made`` (requested strand residues that DSSP calls strand),
    ``designs_with_sheet`` (share of designs with a sheet) and ``designs_pairs_made`` (requested
    strand pairings with a DSSP bridge between the two strands)."""
    rng = np.random.default_rng(seed)
    plans = [
        Topology.from_backbone(chain, f"validation chain {i}", jitter=0).plan(
            DesignPlan(generator.length_range), rng
        )
        for i, chain in enumerate(chains)
    ]
    designs = [b for batch in generator.iter_designs(plans, seed=seed, batch_size=len(plans)) for b in batch]
    asked = made = pairs = pairs_made = 0
    for plan, design in zip(plans, designs):
        requested = np.array(list(plan.ss)) == "E"
        asked += requested.sum()
        made += (np.array(list(secondary_structure(design))) == "E")[requested].sum()
        formed = achieved_pairs(design, plan.ss, plan.strand_pairs) if plan.strand_pairs else []
        pairs, pairs_made = pairs + len(formed), pairs_made + sum(formed)
    return {
        "designs_strand_made": float(made / asked) if asked else float("nan"),
        "designs_with_sheet": float(np.mean([has_sheet(d) for d in designs])),
        "designs_pairs_made": float(pairs_made / pairs) if pairs else float("nan"),
    }
