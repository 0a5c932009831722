import math

import pytest
import torch

from molgen.core.graph import batch_vector, full_edges, remove_mean
from molgen.core.state import State
from molgen.diffusion.samplers import SAMPLERS, sample
from molgen.diffusion.schedules import CosineSchedule, PolynomialSchedule, make_schedule
from molgen.diffusion.sde import VPSDE


@pytest.mark.parametrize("name", ["cosine", "polynomial"])
def test_schedule_is_variance_preserving_and_monotone(name):
    schedule = make_schedule(name)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    alpha, sigma = schedule.alpha_sigma(t)
    torch.testing.assert_close(alpha**2 + sigma**2, torch.ones_like(t))
    assert (schedule.logsnr(t).diff() < 0).all()
    assert alpha[0] > 0.99 and alpha[-1] < 0.01


def test_schedules_match_their_closed_forms():
    t = torch.tensor([0.3], dtype=torch.float64)
    alpha2 = (1 - 2e-5) * (1 - 0.09) ** 2 + 1e-5
    torch.testing.assert_close(
        PolynomialSchedule().alpha_sigma(t)[0] ** 2, torch.tensor([alpha2], dtype=torch.float64)
    )
    cos = CosineSchedule(-math.inf, math.inf)  # untruncated: alpha = cos(pi t / 2)
    torch.testing.assert_close(cos.alpha_sigma(t)[0], torch.cos(math.pi * t / 2))


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("linear-ish")


def _state(n_graphs=4000, n_nodes=3, dim=2, value=1.0):
    counts = torch.full((n_graphs,), n_nodes)
    batch = batch_vector(counts)
    pos = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5], [2.0, 0.0, -1.0]], dtype=torch.float64)
    pos = remove_mean(pos.repeat(n_graphs, 1), batch, n_graphs)
    return State(pos, torch.full((len(batch), dim), value, dtype=torch.float64), batch, n_graphs)


def test_forward_noising_has_the_marginal_statistics():
    sde = VPSDE("cosine")
    x0 = _state()
    t = torch.full((x0.num_graphs,), 0.6, dtype=torch.float64)
    z = sde.add_noise(x0, t, sde.noise_like(x0, torch.Generator().manual_seed(0)))
    alpha, sigma = sde.alpha_sigma(torch.tensor(0.6, dtype=torch.float64))
    # features: N(alpha x, sigma^2)
    assert abs(z.feat.mean() - alpha) < 0.01
    assert abs(z.feat.std() / sigma - 1) < 0.02
    # coordinates: zero centre per graph; zero-mean noise has variance (n-1)/n per component
    centre = torch.zeros(x0.num_graphs, 3, dtype=torch.float64).index_add_(0, z.batch, z.pos)
    assert centre.abs().max() < 1e-12
    resid = (z.pos - alpha * x0.pos) / sigma
    assert abs(resid.var() / (2 / 3) - 1) < 0.03


def test_full_edges_connect_each_graph_completely():
    src, dst = full_edges(torch.tensor([3, 1, 2]))
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert pairs == {(a, b) for a, b in [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (4, 5), (5, 4)]}


@pytest.mark.parametrize("time_power", [1.0, 3.0])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_follow_the_exact_path_to_a_point_mass(sampler, time_power):
    """With an exact denoiser of a point mass, deterministic samplers must visit exactly
    z_t = alpha_t x + sigma_t eps (eps fixed by the prior draw) at the times of the grid
    (1 - k / steps) ** time_power; ancestral ones must contract."""
    sde = VPSDE("cosine")
    target = _state(n_graphs=5)
    seen = []

    def denoise(state, t):
        seen.append((t, state))
        return target

    z = sde.prior(target, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    sample(denoise, sde, z, steps=7, sampler=sampler, generator=gen, time_power=time_power)
    assert [round(t, 6) for t, _ in seen] == [round((1 - k / 7) ** time_power, 6) for k in range(7)]
    a1, s1 = sde.alpha_sigma(torch.tensor(1.0, dtype=torch.float64))
    eps = (z.pos - a1 * target.pos) / s1
    for t, state in seen[1:]:
        alpha, sigma = sde.alpha_sigma(torch.tensor(t, dtype=torch.float64))
        if sampler == "ancestral":
            assert (state.pos - alpha * target.pos).std() < 2 * sigma
        elif sampler == "ancestral-mean":  # the noise shrinks faster than on the exact path
            assert (state.pos - alpha * target.pos).std() < (sigma * eps).std()
        else:
            torch.testing.assert_close(state.pos, alpha * target.pos + sigma * eps)


@pytest.mark.parametrize(
    "sampler,steps,tol", [("ddim", 100, 0.05), ("dpm2m", 20, 0.05), ("ancestral", 200, 0.08)]
)
def test_samplers_reproduce_gaussian_data(sampler, steps, tol):
    """Data N(0, s^2) per feature has the exact denoiser E[x0|z] = alpha s^2 / (alpha^2 s^2 + sigma^2) z."""
    sde = VPSDE("cosine")
    s2 = 0.25
    like = _state(n_graphs=2000, dim=4)

    def denoise(state, t):
        alpha, sigma = sde.alpha_sigma(torch.tensor(t, dtype=torch.float64))
        k = alpha * s2 / (alpha**2 * s2 + sigma**2)
        return state.replace(k * state.pos, k * state.feat)

    z = sde.prior(like, torch.Generator().manual_seed(0))
    out = sample(denoise, sde, z, steps=steps, sampler=sampler, generator=torch.Generator().manual_seed(1))
    assert abs(out.feat.var() / s2 - 1) < tol


def test_the_ancestral_mean_sampler_draws_no_noise():
    sde = VPSDE("cosine")
    like = _state(n_graphs=3)
    z = sde.prior(like, torch.Generator().manual_seed(0))

    def denoise(state, t):
        return state.replace(0.5 * state.pos, 0.5 * state.feat)

    runs = [
        sample(denoise, sde, z, steps=5, sampler=name, generator=torch.Generator().manual_seed(seed))
        for name in ("ancestral-mean", "ancestral")
        for seed in (1, 2)
    ]
    torch.testing.assert_close(runs[0].pos, runs[1].pos)
    assert not torch.allclose(runs[2].pos, runs[3].pos)


def test_e3nn_rotations_and_molgen_rotations_agree_in_distribution():
    from e3nn import o3

    from molgen.testing import random_rotation

    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ours = torch.stack([random_rotation(gen) for _ in range(3000)])
        theirs = torch.stack([o3.rand_matrix(dtype=torch.float64) for _ in range(3000)])
    # Haar measure on SO(3): E[trace] = 0, E[trace^2] = 1
    for rot in (ours, theirs):
        trace = rot.diagonal(dim1=-2, dim2=-1).sum(-1)
        assert abs(trace.mean()) < 0.06 and abs(trace.square().mean() - 1) < 0.1
        torch.testing.assert_close(torch.linalg.det(rot), torch.ones(3000, dtype=torch.float64))


def test_sampler_arguments_are_validated():
    sde = VPSDE()
    z = _state(n_graphs=2)
    with pytest.raises(ValueError, match="steps"):
        sample(lambda s, t: s, sde, z, steps=0)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(lambda s, t: s, sde, z, steps=3, sampler="euler-maruyama-ish")


def _two_graph_prior(sde: VPSDE, batch: list[int]) -> State:
    """A prior sample of two small graphs (nodes assigned by ``batch``), two type features."""
    n = len(batch)
    shape = State(torch.zeros(n, 3), torch.zeros(n, 2), torch.tensor(batch), 2)
    return sde.noise_like(shape, torch.Generator().manual_seed(0))


def test_repaint_resampling_takes_each_step_r_times_and_only_with_ancestral():
    sde = VPSDE("cosine")
    z = _two_graph_prior(sde, [0, 0, 0, 1, 1])
    times = []

    def denoise(state, t):
        times.append(t)
        return state.replace(torch.zeros_like(state.pos), torch.zeros_like(state.feat))

    sample(denoise, sde, z, 4, "ancestral", torch.Generator().manual_seed(0), resample=3)
    assert times == [1.0] * 3 + [0.75] * 3 + [0.5] * 3 + [0.25]  # the last step has nothing to redo
    with pytest.raises(ValueError, match="only with the ancestral sampler"):
        sample(denoise, sde, z, 4, "dpm2m", resample=2)


def test_renoise_follows_the_forward_marginal():
    sde = VPSDE("cosine")
    n = 20_000
    batch = torch.arange(n)
    x = State(torch.zeros(n, 3), torch.ones(n, 1), batch, n)  # one atom per graph: feat carries the check
    gen = torch.Generator().manual_seed(0)
    z_s = sde.add_noise(x, torch.full((n,), 0.3), sde.noise_like(x, gen))
    z_t = sde.renoise(z_s, 0.3, 0.7, gen)
    alpha, sigma = sde.alpha_sigma(torch.tensor(0.7))
    assert z_t.feat.mean().item() == pytest.approx(alpha.item(), abs=0.02)
    assert z_t.feat.std().item() == pytest.approx(sigma.item(), abs=0.02)


def test_the_sampler_reports_the_step_where_coordinates_turned_non_finite(caplog):
    sde = VPSDE("cosine")
    z = _two_graph_prior(sde, [0, 0, 1, 1, 1])
    calls = []

    def denoise(state, t):
        calls.append(t)
        pos = torch.zeros_like(state.pos)
        if len(calls) >= 3:
            pos[3] = float("nan")  # graph 1 breaks at step 2 (0-based)
        return state.replace(pos, torch.zeros_like(state.feat))

    with caplog.at_level("WARNING", logger="molgen"):
        sample(denoise, sde, z, 5, "ddim")
    assert "non-finite coordinates from step (of 5) per graph of the batch: {1: 2}" in caplog.text
