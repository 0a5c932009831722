"""The backbone denoiser: SE(3) equivariance without reflection equivariance; its training."""

import dataclasses

import numpy as np
import pytest
import torch

from molgen.config import BackboneDenoiserConfig
from molgen.core.graph import Padded, batch_vector
from molgen.core.state import State
from molgen.io.tables import read_rows
from molgen.models.backbone_denoiser import BackboneDenoiser, neighbour_edges, trace_frames
from molgen.models.pair_track import DISTOGRAM_BINS
from molgen.testing import TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN, assert_equivariant, random_rotation
from molgen.training.backbone_trainer import BackboneTrainer
from molgen.training.losses import local_distances

MIRROR = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))


def chain_batch(real_chains, lengths=(30, 45)):
    """Two real chain pieces (N, CA, C) as a float64 batch in model units (10 A)."""
    pieces = [torch.as_tensor(c.coords[:n, :3], dtype=torch.float64) for c, n in zip(real_chains, lengths)]
    pos = torch.cat(pieces).reshape(-1, 3) / 10.0
    batch = batch_vector(torch.tensor(lengths)).repeat_interleave(3)
    pos = pos - pos.mean(0)
    return pos, batch


def backbone_state(pos, batch, num_graphs):
    """A State of backbone atoms ``pos`` ``[3 R, 3]`` (no type features)."""
    return State(pos, pos.new_zeros(len(pos), 0), batch, num_graphs)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = BackboneDenoiser(BackboneDenoiserConfig(hidden=32, edge_hidden=16, num_layers=2, num_neighbors=8))
    torch.nn.init.normal_(model.head.weight, std=0.3)  # zero-ish init would make every check trivial
    return model.double()


def run(net, pos, batch, noise_seed=0):
    gen = torch.Generator().manual_seed(noise_seed)
    noisy = pos + 0.05 * torch.randn(pos.shape, generator=gen, dtype=pos.dtype)
    logsnr = torch.tensor([1.0, -0.5], dtype=pos.dtype)
    return noisy, lambda x: net(backbone_state(x, batch, 2), logsnr)


def with_previous_estimate(model, real_chains, spread):
    """(fn, noisy, previous, batch, logsnr): ``fn(x)`` runs ``model`` on ``x[:, :3]`` with the
    self-conditioning estimate ``x[:, 3:]``; two real chain pieces, noised by 0.05 (input) and
    ``spread`` (estimate) model units."""
    pos, batch = chain_batch(real_chains)
    gen = torch.Generator().manual_seed(3)
    previous = pos + spread * torch.randn(pos.shape, generator=gen, dtype=pos.dtype)
    noisy = pos + 0.05 * torch.randn(pos.shape, generator=gen, dtype=pos.dtype)
    logsnr = torch.tensor([1.0, -0.5], dtype=pos.dtype)

    def fn(x):
        return model(backbone_state(x[:, :3], batch, 2), logsnr, self_cond=backbone_state(x[:, 3:], batch, 2))

    return fn, noisy, previous, batch, logsnr


def test_denoiser_is_rotation_and_translation_equivariant(net, real_chains):
    pos, batch = chain_batch(real_chains)
    noisy, fn = run(net, pos, batch)
    assert_equivariant(fn, noisy, atol=1e-9)


def test_self_conditioned_denoiser_is_equivariant_and_reads_its_previous_estimate(real_chains):
    torch.manual_seed(1)
    config = BackboneDenoiserConfig(
        hidden=32, edge_hidden=16, num_layers=2, num_neighbors=8, self_condition=True
    )
    model = BackboneDenoiser(config).double()
    torch.nn.init.normal_(model.head.weight, std=0.3)
    fn, noisy, previous, batch, logsnr = with_previous_estimate(model, real_chains, 0.02)
    both = torch.cat([noisy, previous], 1)

    rot = random_rotation(torch.Generator().manual_seed(0))
    shift = torch.randn(1, 3, dtype=noisy.dtype)
    out = fn(both).disp
    moved = torch.cat([noisy @ rot.T + shift, previous @ rot.T + shift], 1)
    torch.testing.assert_close(fn(moved)[0], out @ rot.T, atol=1e-9, rtol=0)
    without = model(backbone_state(noisy, batch, 2), logsnr).disp
    assert (without - out).abs().max() > 1e-4


def test_mirrored_input_does_not_give_the_mirrored_output(net, real_chains):
    pos, batch = chain_batch(real_chains)
    noisy, fn = run(net, pos, batch)
    disp = fn(noisy).disp
    disp_mirror = fn(noisy @ MIRROR).disp
    deviation = (disp_mirror - disp @ MIRROR).abs().max().item()
    assert deviation > 1e-3 * disp.abs().max().item(), "the denoiser treats mirror images alike"


def test_trace_frames_are_right_handed_flip_e3_under_mirroring_and_cover_chain_ends(real_chains):
    ca = torch.as_tensor(real_chains[0].ca[:40], dtype=torch.float64)
    index, length = torch.arange(40), torch.full((40,), 40)
    frames = trace_frames(ca, index, length)
    eye = torch.eye(3, dtype=torch.float64).expand_as(frames)
    torch.testing.assert_close(frames @ frames.transpose(1, 2), eye)
    assert torch.allclose(torch.linalg.det(frames), torch.ones(40, dtype=torch.float64))
    torch.testing.assert_close(frames[0], frames[1])  # chain ends borrow their neighbour's frame
    torch.testing.assert_close(frames[39], frames[38])
    direction = ca[11] - ca[9]
    assert torch.dot(frames[10, 0], direction) / direction.norm() > 0.99  # e1 follows the chain
    mirrored = trace_frames(ca @ MIRROR, index, length)
    assert torch.allclose(torch.linalg.det(mirrored), torch.ones(40, dtype=torch.float64))
    torch.testing.assert_close(mirrored[:, :2], frames[:, :2] @ MIRROR)  # e1, e2 are vectors
    torch.testing.assert_close(mirrored[:, 2], -(frames[:, 2] @ MIRROR))  # e3 is a pseudovector


def test_chains_in_a_batch_do_not_interact(net, real_chains):
    pos, batch = chain_batch(real_chains)
    noisy, fn = run(net, pos, batch)
    together = fn(noisy).disp
    first = batch == 0
    alone = net(backbone_state(noisy[first], batch[first], 1), torch.tensor([1.0], dtype=torch.float64))[0]
    torch.testing.assert_close(together[first] - together[first].mean(0), alone - alone.mean(0))


def test_neighbour_edges_stay_in_their_chain_and_include_sequence_neighbours():
    ca = torch.randn(50, 3) * 10
    batch = torch.cat([torch.zeros(20), torch.ones(30)]).long()
    index = torch.cat([torch.arange(20), torch.arange(30)])
    src, dst = neighbour_edges(ca, Padded(batch, 2), index, k=6, window=2)
    assert (batch[src] == batch[dst]).all() and (src != dst).all()
    pairs = set(zip(src.tolist(), dst.tolist()))
    for i in range(49):
        if batch[i] == batch[i + 1]:
            assert (i, i + 1) in pairs and (i + 1, i) in pairs
    assert torch.bincount(dst).max() <= 6


def test_local_distances_cover_consecutive_residues_only(real_chains):
    pos, batch = chain_batch(real_chains, (5, 4))
    dist, pair_graph = local_distances(pos, batch)
    assert dist.shape == (4 + 3, 15) and pair_graph.tolist() == [0] * 4 + [1] * 3
    assert torch.allclose(dist.min(1).values * 10, torch.full((7,), 1.33, dtype=torch.float64), atol=0.1)
    dist, window_graph = local_distances(pos, batch, span=4)
    assert dist.shape == (2 + 1, 66) and window_graph.tolist() == [0, 0, 1]
    ca = pos.reshape(-1, 3, 3)[:, 1]
    i, j = torch.triu_indices(12, 12, offset=1)
    ca_pair = ((i == 1) & (j == 10)).nonzero().item()  # CA of residue 0 and CA of residue 3 in the window
    torch.testing.assert_close(dist[2, ca_pair], (ca[5 + 3] - ca[5]).norm())


def test_backbone_training_reduces_the_loss(tmp_path, real_chains):
    cfg = dataclasses.replace(TINY_BACKBONE_TRAIN, max_steps=80, lr=3e-3)
    trainer = BackboneTrainer(real_chains[:64], tmp_path, TINY_BACKBONE_MODEL, cfg)
    first = [trainer.train_step()["loss"] for _ in range(10)]
    for _ in range(60):
        trainer.train_step()
    later = [trainer.train_step()["loss"] for _ in range(10)]
    assert sum(later) < 0.8 * sum(first), (first, later)


def test_backbone_resume_reproduces_an_uninterrupted_run(tmp_path, real_chains):
    from safetensors.torch import load_file

    data = real_chains[:16]
    cfg = dataclasses.replace(TINY_BACKBONE_TRAIN, max_steps=6, checkpoint_every=3)
    full = BackboneTrainer(data, tmp_path / "full", TINY_BACKBONE_MODEL, cfg).train()
    BackboneTrainer(
        data, tmp_path / "split", TINY_BACKBONE_MODEL, dataclasses.replace(cfg, max_steps=3)
    ).train()
    resumed = BackboneTrainer(data, tmp_path / "split", resume=True)
    resumed.config = dataclasses.replace(resumed.config, max_steps=6)
    split = resumed.train()
    a, b = load_file(str(full / "model.safetensors")), load_file(str(split / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    header = (tmp_path / "split" / "metrics.csv").read_text().splitlines()[0]
    losses = "loss_pos,loss_geometry,loss_pair,loss_distogram,loss_hbond"
    assert header == f"step,epoch,loss,{losses},lr,grad_norm,chains_per_s,minutes"


def test_a_molecule_checkpoint_is_not_resumed_as_a_backbone_run(tmp_path, real_chains, qm9_train):
    from molgen.testing import TINY_MODEL, TINY_TRAIN
    from molgen.training.trainer import MoleculeTrainer

    MoleculeTrainer(qm9_train.subset(range(16)), tmp_path, TINY_MODEL, TINY_TRAIN).train()
    with pytest.raises(ValueError, match="is a molecules checkpoint"):
        BackboneTrainer(real_chains[:16], tmp_path, resume=True)


def test_crops_are_contiguous_windows_of_real_chains(tmp_path, real_chains):
    trainer = BackboneTrainer(real_chains[:16], tmp_path, TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN)
    batch = trainer.local_inputs(0)
    x0, t, conditions = batch.x0, batch.t, batch.cond
    assert len(conditions.ss) == len(x0.pos) // 3 == len(conditions.motif)  # TINY model is conditional
    counts = torch.bincount(x0.batch) // 3
    assert (counts <= TINY_BACKBONE_TRAIN.crop_length).all() and len(t) == 4
    ca = (x0.pos.reshape(-1, 3, 3)[:, 1] * 10).numpy()
    starts = np.concatenate([[0], np.cumsum(counts.numpy())])
    for a, b in zip(starts[:-1], starts[1:]):
        step = np.linalg.norm(np.diff(ca[a:b], axis=0), axis=-1)
        assert np.all(np.abs(step - 3.8) < 0.5)  # consecutive residues of one chain


def conditioned_net(seed=2):
    torch.manual_seed(seed)
    config = BackboneDenoiserConfig(
        hidden=32, edge_hidden=16, num_layers=2, num_neighbors=8, conditioning=True
    )
    model = BackboneDenoiser(config).double()
    for module in (model.head, model.ss_embed, model.fraction_in, model.motif_embed, model.motif_edge_in):
        torch.nn.init.normal_(module.weight, std=0.3)  # the zero init would make the checks trivial
    return model


def some_conditions(pos, batch):
    """Chain 0: a motif of residues 5-14 (rotated and shifted away) and a partial SS string."""
    from molgen.models.backbone_conditions import BackboneConditions
    from molgen.structures.secondary_structure import ss_indices

    num = len(pos) // 3
    cond = BackboneConditions.none(num, 2)
    motif = torch.zeros(num, dtype=torch.bool)
    motif[5:15] = True
    rot = random_rotation(torch.Generator().manual_seed(5))
    xyz = (pos.reshape(-1, 3, 3) @ rot.T + 3.0).double()
    ss = torch.cat([ss_indices("HHHHHHHH--EEEELLL"), cond.ss[17:]])
    return dataclasses.replace(
        cond,
        ss=ss,
        ss_fraction=torch.tensor([[0.3, 0.2], [0.0, 0.0]], dtype=torch.float64),
        ss_fraction_given=torch.tensor([True, False]),
        motif=motif,
        motif_xyz=xyz,
    )


def test_conditioned_denoiser_is_equivariant_and_ignores_where_the_motif_was_placed(real_chains):
    model = conditioned_net()
    pos, batch = chain_batch(real_chains)
    cond = some_conditions(pos, batch)
    noisy = pos + 0.05 * torch.randn(pos.shape, generator=torch.Generator().manual_seed(0), dtype=pos.dtype)
    logsnr = torch.tensor([1.0, -0.5], dtype=pos.dtype)

    def fn(x, c=cond):
        return model(backbone_state(x, batch, 2), logsnr, c)

    assert_equivariant(fn, noisy, atol=1e-9)
    out = fn(noisy)[0]
    rot = random_rotation(torch.Generator().manual_seed(9))
    moved = dataclasses.replace(cond, motif_xyz=cond.motif_xyz @ rot.T - 7.0)
    torch.testing.assert_close(fn(noisy, moved)[0], out, atol=1e-9, rtol=0)
    for changed in (
        cond.unconditional(),
        dataclasses.replace(cond, motif=torch.zeros_like(cond.motif)),
    ):
        assert (fn(noisy, changed)[0] - out).abs().max() > 1e-4  # every part is read
    assert (fn(noisy, None)[0] - fn(noisy, cond.unconditional())[0]).abs().max() > 1e-4


def test_zero_initialised_conditioning_starts_as_the_unconditional_model(real_chains):
    torch.manual_seed(0)
    plain = BackboneDenoiser(BackboneDenoiserConfig(hidden=32, edge_hidden=16, num_layers=2, num_neighbors=8))
    torch.nn.init.normal_(plain.head.weight, std=0.3)
    with_cond = BackboneDenoiser(dataclasses.replace(plain.config, conditioning=True))
    missing = with_cond.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and {k.split(".")[0] for k in missing} == {
        "ss_embed",
        "fraction_in",
        "motif_embed",
        "motif_edge_in",
    }
    pos, batch = chain_batch(real_chains)
    args = (backbone_state(pos, batch, 2), torch.tensor([1.0, -0.5], dtype=pos.dtype))
    cond = some_conditions(pos, batch)  # (a motif would also add edges between its residues)
    cond = dataclasses.replace(cond, motif=torch.zeros_like(cond.motif))
    out = with_cond.double()(*args, cond)[0]
    torch.testing.assert_close(out, plain.double()(*args)[0], atol=1e-9, rtol=0)


def test_random_training_conditions_are_contiguous_motifs_and_true_secondary_structure(tmp_path, real_chains):
    train = dataclasses.replace(TINY_BACKBONE_TRAIN, batch_size=8, ss_probability=0.5, motif_probability=0.5)
    trainer = BackboneTrainer(real_chains[:16], tmp_path, TINY_BACKBONE_MODEL, train)
    assert set(np.unique(trainer.encoded.ss)) <= {0, 1, 2}
    seen_motif = seen_ss = 0
    for step in range(4):
        batch = trainer.local_inputs(step)
        x0, cond = batch.x0, batch.cond
        rbatch = x0.batch[::3]
        starts = torch.rand(8, generator=trainer.step_generator(step), dtype=torch.float64).numpy()
        truth = trainer.encoded.batch(trainer.global_batch(step), starts, train.crop_length).ss
        given = cond.ss != 3
        assert torch.equal(cond.ss[given], truth[given])  # given classes are the crop's DSSP classes
        for g in range(x0.num_graphs):
            chain = truth[rbatch == g]
            expected = torch.tensor([(chain == 0).float().mean(), (chain == 1).float().mean()])
            torch.testing.assert_close(cond.ss_fraction[g], expected)
        seen_ss += int(given.any())
        for g in range(x0.num_graphs):
            m = cond.motif[rbatch == g]
            if m.any():
                seen_motif += 1
                runs = torch.diff(m.int()).abs().sum().item()  # at most 4 segments: <= 8 edges
                assert runs <= 8 and m.sum() >= 1
        torch.testing.assert_close(cond.motif_xyz, x0.pos.reshape(-1, 3, 3))
        frac = cond.ss_fraction
        assert ((frac >= 0) & (frac <= 1)).all() and (frac.sum(-1) <= 1 + 1e-6).all()
    assert seen_motif > 0 and seen_ss > 0
    loss, _ = trainer.loss(0)
    loss.backward()
    assert torch.isfinite(loss) and trainer.net.ss_embed.weight.grad.abs().sum() > 0


def test_a_run_can_grow_conditioning_onto_a_trained_model(tmp_path, real_chains):
    plain = dataclasses.replace(
        TINY_BACKBONE_MODEL, denoiser=dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, conditioning=False)
    )
    short = dataclasses.replace(TINY_BACKBONE_TRAIN, max_steps=2)
    base = BackboneTrainer(real_chains[:16], tmp_path / "base", plain, short).train()
    grown = BackboneTrainer(real_chains[:16], tmp_path / "grow", TINY_BACKBONE_MODEL, short, init_from=base)
    same = BackboneTrainer(real_chains[:16], tmp_path / "same", train_config=short, init_from=base)
    assert not same.model_config.denoiser.conditioning  # --init-from alone keeps the folder's model
    torch.testing.assert_close(grown.net.head.weight, same.net.head.weight)
    assert grown.net.ss_embed.weight.abs().sum() == 0
    wider = dataclasses.replace(plain, denoiser=dataclasses.replace(plain.denoiser, hidden=48))
    with pytest.raises(ValueError, match="do not fit this model config"):
        BackboneTrainer(real_chains[:16], tmp_path / "wide", wider, short, init_from=base)


# ------------------------------------------------------------ pair-aware options (issue 21)
PAIR_AWARE = BackboneDenoiserConfig(
    hidden=32,
    edge_hidden=16,
    num_layers=2,
    num_neighbors=8,
    self_condition=True,
    edge_updates=True,
    estimate_neighbors=4,
    long_range_neighbors=4,
)


def test_pair_aware_denoiser_is_se3_equivariant_not_mirror_equivariant_and_updates_its_edges(real_chains):
    torch.manual_seed(2)
    model = BackboneDenoiser(PAIR_AWARE).double()
    torch.nn.init.normal_(model.head.weight, std=0.3)
    for layer in model.layers:  # zero-initialised edge updates would make the edge check trivial
        torch.nn.init.normal_(layer.edge_update.weight, std=0.3)
    fn, noisy, previous, batch, logsnr = with_previous_estimate(model, real_chains, 0.3)

    both = torch.cat([noisy, previous], 1)
    out = fn(both).disp
    rot = random_rotation(torch.Generator().manual_seed(0))
    moved = torch.cat([noisy @ rot.T + 0.3, previous @ rot.T + 0.3], 1)
    torch.testing.assert_close(fn(moved).disp, out @ rot.T, atol=1e-9, rtol=0)
    mirrored = fn(torch.cat([noisy @ MIRROR, previous @ MIRROR], 1)).disp
    assert (mirrored - out @ MIRROR).abs().max() > 1e-3 * out.abs().max()
    for layer in model.layers:  # the edge states feed later layers: without their updates the output moves
        torch.nn.init.zeros_(layer.edge_update.weight)
    assert (fn(both).disp - out).abs().max() > 1e-6


def test_long_range_and_estimate_neighbours_stay_in_their_chain_and_reach_far():
    from molgen.models.backbone_denoiser import knn_pairs, long_range_pairs

    ca = torch.cat([torch.arange(40.0)[:, None] * torch.tensor([[3.8, 0, 0]]), torch.randn(10, 3)])
    batch = torch.cat([torch.zeros(40, dtype=torch.long), torch.ones(10, dtype=torch.long)])
    padded = Padded(batch, 2)
    far, near = long_range_pairs(ca, padded, skip=8, k=4), knn_pairs(ca, padded, 8)
    assert far.shape == near.shape == (2, 40, 40)
    assert not (far & ~padded.pair_mask).any() and not far.diagonal(dim1=1, dim2=2).any()
    assert far[0].sum(1).eq(4).all() and near[0].sum(1).eq(8).all()
    assert not (far & near).any()  # beyond the nearest
    sep = (torch.arange(40)[:, None] - torch.arange(40)[None, :]).abs()
    assert sep[far[0]].max() >= 30  # some reach across the chain
    assert far[1, :10].sum(1).eq(1).all()  # a 10-residue chain has one residue beyond its 8 nearest


def test_the_pair_loss_sees_close_pairs_at_any_separation_and_trains(tmp_path, real_chains):
    from molgen.training.losses import close_pairs, pair_atom_distances

    pos, batch = chain_batch(real_chains)
    pairs = close_pairs(pos, batch, 1.0)  # 10 A in model units
    rbatch = batch[::3]
    assert (rbatch[pairs[0]] == rbatch[pairs[1]]).all() and (pairs[0] < pairs[1]).all()
    assert ((pairs[1] - pairs[0]) > 4).any()  # not only sequence neighbours
    assert pair_atom_distances(pos, pairs).shape == (pairs.shape[1], 9)
    model = dataclasses.replace(
        TINY_BACKBONE_MODEL,
        denoiser=dataclasses.replace(
            TINY_BACKBONE_MODEL.denoiser,
            **{
                k: getattr(PAIR_AWARE, k)
                for k in ("self_condition", "edge_updates", "estimate_neighbors", "long_range_neighbors")
            },
        ),
    )
    train = dataclasses.replace(TINY_BACKBONE_TRAIN, pair_loss_weight=0.25)
    BackboneTrainer(real_chains[:16], tmp_path, model, train).train()
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    pair_column = rows[0].split(",").index("loss_pair")
    assert all(float(r.split(",")[pair_column]) > 0 for r in rows[1:])


def test_hbond_energies_are_pydssps_and_the_hbond_loss_trains(tmp_path, real_chains):
    import pydssp

    from molgen.structures.backbone import with_ideal_oxygens
    from molgen.training.losses import close_pairs, hbond_energies, hbond_loss

    chain = next(c for c in real_chains if len(c) > 80)
    xyz = chain.coords[:, :3].astype(np.float64)
    n = len(xyz)
    reference = pydssp.get_hbond_map(with_ideal_oxygens(xyz).astype(np.float32), return_e=True).reshape(n, n)
    donor, acceptor = np.meshgrid(np.arange(1, n), np.arange(n - 1), indexing="ij")
    donor, acceptor = donor.ravel(), acceptor.ravel()
    atoms = torch.as_tensor(xyz.reshape(-1, 3))
    energy = hbond_energies(atoms, torch.as_tensor(donor), torch.as_tensor(acceptor))
    np.testing.assert_allclose(energy.numpy(), reference[donor, acceptor], atol=1e-3)
    assert (energy < -0.5).sum() > n / 4  # a real chain is full of hydrogen bonds

    pos, batch = chain_batch(real_chains)
    pos, pairs = pos * 10.0, close_pairs(pos, batch, 1.0)  # Angstrom
    assert torch.equal(hbond_loss(pos, pos, batch, pairs, 2), torch.zeros(2))
    gen = torch.Generator().manual_seed(0)
    noisy = [pos + s * torch.randn(pos.shape, generator=gen, dtype=pos.dtype) for s in (0.1, 0.5)]
    losses = [hbond_loss(x, pos, batch, pairs, 2) for x in noisy]
    assert (losses[0] > 0).all() and (losses[1] > losses[0]).all()

    train = dataclasses.replace(TINY_BACKBONE_TRAIN, hbond_loss_weight=0.1, pair_loss_weight=0.25)
    BackboneTrainer(real_chains[:16], tmp_path, TINY_BACKBONE_MODEL, train).train()
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    column = rows[0].split(",").index("loss_hbond")
    assert all(float(r.split(",")[column]) > 0 for r in rows[1:])


def test_the_hbond_loss_can_be_limited_to_low_noise(tmp_path, real_chains):
    from molgen.training.losses import backbone_loss

    train = dataclasses.replace(TINY_BACKBONE_TRAIN, hbond_loss_weight=0.1)
    trainer = BackboneTrainer(real_chains[:16], tmp_path, TINY_BACKBONE_MODEL, train)
    batch = trainer.local_inputs(3)
    t = batch.t
    weights = (train.min_snr_gamma, train.geometry_loss_weight, trainer.stats.coord_scale)

    def hbond_part(max_time: float) -> float:
        torch.manual_seed(0)  # the self-conditioning draw
        _, parts = backbone_loss(
            trainer.net, trainer.sde, batch, *weights, hbond_weight=0.1, hbond_max_time=max_time
        )
        return float(parts[-1])

    everything = hbond_part(1.0)
    assert everything > 0
    assert hbond_part(float(t.min())) == 0.0  # every chain at or above the limit
    assert 0 < hbond_part(float(t.max())) < everything  # the noisiest chain left out
    with pytest.raises(ValueError, match="hbond_max_time"):
        dataclasses.replace(train, hbond_max_time=0.0)


def test_strand_oversampling_draws_strand_rich_chains_more_often(tmp_path, real_chains):
    plain = dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, conditioning=False)
    model = dataclasses.replace(TINY_BACKBONE_MODEL, denoiser=plain)  # DSSP is run for the weights alone
    cfg = dataclasses.replace(TINY_BACKBONE_TRAIN, batch_size=4, strand_oversampling=20.0)
    trainer = BackboneTrainer(real_chains[:24], tmp_path, model, cfg)
    strand = trainer.encoded.strand_fraction()
    assert strand.shape == (24,) and 0 < strand.max() < 1
    assert all(len(set(trainer.global_batch(step))) == 4 for step in range(5))  # no repeats in a batch
    assert (trainer.global_batch(7) == trainer.global_batch(7)).all()  # a function of the step
    rich = np.flatnonzero(strand > np.median(strand))
    drawn = np.concatenate([trainer.global_batch(step) for step in range(300)])
    assert np.isin(drawn, rich).mean() > len(rich) / 24 + 0.1
    uniform = BackboneTrainer(real_chains[:24], tmp_path / "uniform", model, TINY_BACKBONE_TRAIN)
    epoch = np.concatenate([uniform.global_batch(s) for s in range(24 // TINY_BACKBONE_TRAIN.batch_size)])
    assert sorted(epoch) == list(range(24))  # without oversampling: each chain once per epoch


def test_validation_chains_leave_training_and_pick_the_best_checkpoint(tmp_path, real_chains):
    from molgen.io.tables import read_rows
    from molgen.structures.secondary_structure import secondary_structure
    from molgen.training.validation import hbond_retention, one_step_estimates, ss_retention

    chains = real_chains[:300]
    cfg = dataclasses.replace(TINY_BACKBONE_TRAIN, validation_chains=3, max_steps=4, checkpoint_every=2)
    trainer = BackboneTrainer(chains, tmp_path, TINY_BACKBONE_MODEL, cfg)
    held = trainer.validation
    assert len(held) == 3 and len({c.metadata["cluster"] for c in held}) == 3
    assert all(secondary_structure(c).count("E") >= 0.25 * len(c) for c in held)
    clusters = {c.metadata["cluster"] for c in held}
    kept = [c for c in chains if c.metadata["cluster"] not in clusters and len(c) >= 20]
    assert len(trainer.encoded) == len(kept)  # whole clusters leave the training set
    trainer.train()
    rows = read_rows(tmp_path / "validation.csv")
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(0 <= float(r["helix_recall"]) <= 1 and float(r["strand_kept"]) >= 0 for r in rows)
    assert all(0 <= float(r["nonlocal_hbonds_kept"]) <= 1 for r in rows)
    # the last row is the final EMA weights' retention from 1.6 A and 3.3 A, recomputed here
    sc = trainer.model_config.denoiser.self_condition

    def estimates(noise):
        return one_step_estimates(trainer.ema, trainer.sde, held, noise, trainer.stats.coord_scale, sc)

    low, mid = estimates(1.6), estimates(3.3)
    expected = {
        "strand_kept": ss_retention(low)["strand_kept"],
        "nonlocal_hbonds_kept": hbond_retention(low)["nonlocal_hbonds_kept"],
        "strand_kept_3.3A": ss_retention(mid)["strand_kept"],
    }
    assert {k: float(rows[-1][k]) for k in expected} == pytest.approx(expected, abs=1e-4)
    assert (tmp_path / "best" / "config.json").exists()
    with pytest.raises(ValueError, match="strand-rich"):
        BackboneTrainer(chains[:5], tmp_path / "x", TINY_BACKBONE_MODEL, cfg)


def test_validation_designs_sample_the_held_out_topologies(tmp_path, real_chains):
    from molgen.generators.backbones import BackboneGenerator
    from molgen.io.tables import read_rows
    from molgen.training.validation import topology_designs

    pairing = dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, pairing=True)
    model = dataclasses.replace(TINY_BACKBONE_MODEL, denoiser=pairing)
    cfg = dataclasses.replace(
        TINY_BACKBONE_TRAIN, validation_chains=2, validation_designs=2, max_steps=2, checkpoint_every=2
    )
    trainer = BackboneTrainer(real_chains[:300], tmp_path, model, cfg)
    trainer.train()
    row = read_rows(tmp_path / "validation.csv")[-1]
    columns = ("designs_strand_made", "designs_with_sheet", "designs_pairs_made")
    assert all(0 <= float(row[k]) <= 1 for k in columns)
    generator = BackboneGenerator(model, trainer.ema, trainer.stats)  # the final weights, again
    again = topology_designs(generator, trainer.validation[:2])
    assert again == pytest.approx({k: float(row[k]) for k in columns}, abs=1e-4)
    with pytest.raises(ValueError, match="pairing"):
        BackboneTrainer(real_chains[:300], tmp_path / "x", TINY_BACKBONE_MODEL, cfg)
    with pytest.raises(ValueError, match="validation_designs"):
        dataclasses.replace(cfg, validation_designs=3)


def test_hbond_retention_splits_helix_from_sheet_bonds(real_chains):
    from molgen.structures.backbone import Backbone
    from molgen.structures.secondary_structure import secondary_structure
    from molgen.training.validation import hbond_retention, ss_retention

    sheet = next(c for c in real_chains if secondary_structure(c).count("E") > 0.3 * len(c))
    assert hbond_retention([(sheet, sheet)]) == {"local_hbonds_kept": 1.0, "nonlocal_hbonds_kept": 1.0}
    assert ss_retention([(sheet, sheet)])["strand_recall"] == 1.0
    # pull the chain apart along x at its middle residue: hydrogen bonds across the cut are lost,
    # those within each half (most local ones) stay
    xyz = sheet.coords.copy()
    half = len(sheet) // 2
    xyz[half:] += np.array([6.0, 0.0, 0.0])
    cut = hbond_retention([(sheet, Backbone(xyz, sheet.sequence))])
    assert cut["local_hbonds_kept"] > 0.8 and cut["nonlocal_hbonds_kept"] < 1.0
    assert cut["local_hbonds_kept"] > cut["nonlocal_hbonds_kept"]


def test_spatial_crops_keep_the_residues_nearest_a_centre_in_chain_order(tmp_path, real_chains):
    from molgen.training.backbone_trainer import MIN_CROP_SEGMENT

    cfg = dataclasses.replace(TINY_BACKBONE_TRAIN, crop_length=40, spatial_crop_fraction=1.0)
    trainer = BackboneTrainer(real_chains[:16], tmp_path, TINY_BACKBONE_MODEL, cfg)
    long = [i for i in range(len(trainer.encoded)) if trainer.encoded.lengths[i] > 80][:3]
    starts = np.array([0.5, 0.1, 0.9])
    spatial = trainer.encoded.batch(np.array(long), starts, 40, np.ones(3, dtype=bool))
    window = trainer.encoded.batch(np.array(long), starts, 40, np.zeros(3, dtype=bool))
    rbatch = spatial.batch[::3]
    for k, i in enumerate(long):
        number = spatial.number[rbatch == k].numpy()
        assert (np.diff(number) > 0).all() and len(number) <= 40  # chain order, at most the crop
        pieces = np.split(number, np.flatnonzero(np.diff(number) != 1) + 1)
        assert len(pieces) > 1 and min(len(p) for p in pieces) >= MIN_CROP_SEGMENT  # gaps, no stubs
        ca = trainer.encoded.coords[trainer.encoded.offsets[i] : trainer.encoded.offsets[i + 1], 1]
        centre = ca[int(starts[k] * len(ca))]
        inside = np.linalg.norm(ca[number] - centre, axis=-1).max()
        outside = np.delete(np.linalg.norm(ca - centre, axis=-1), number)
        dropped = 40 - len(number)  # stubs among the 40 nearest
        assert (np.sort(outside)[dropped:] >= inside - 1e-4).all()  # the rest is farther than the crop
        assert (spatial.chain_length[rbatch == k] == len(ca)).all()
        first = window.number[window.batch[::3] == k].numpy()
        np.testing.assert_array_equal(first, np.arange(first[0], first[0] + 40))  # windows stay contiguous
    batch = trainer.local_inputs(0)
    assert batch.cond.residue_number is not None and len(batch.cond.residue_number) == len(batch.x0.pos) // 3


def test_residue_numbering_in_order_changes_nothing_and_gaps_cut_the_trace(real_chains):
    from molgen.core.state import State
    from molgen.models.backbone_conditions import BackboneConditions
    from molgen.models.backbone_denoiser import segment_index

    torch.manual_seed(0)
    net = BackboneDenoiser(TINY_BACKBONE_MODEL.denoiser).eval()
    xyz = torch.as_tensor(real_chains[0].coords[:30, :3], dtype=torch.float32).reshape(-1, 3) / 10
    state = State(xyz - xyz.mean(0), xyz.new_zeros(len(xyz), 0), torch.zeros(len(xyz), dtype=torch.long), 1)
    logsnr = torch.tensor([2.0])
    plain = BackboneConditions.none(30, 1)
    numbered = dataclasses.replace(plain, residue_number=torch.arange(30), chain_length=torch.full((30,), 30))
    with torch.no_grad():
        a, b = net(state, logsnr, plain), net(state, logsnr, numbered)
    torch.testing.assert_close(a.disp, b.disp)
    gapped = dataclasses.replace(
        numbered,
        residue_number=torch.cat([torch.arange(15), torch.arange(40, 55)]),
        chain_length=torch.full((30,), 60),
    )
    with torch.no_grad():
        assert not torch.allclose(net(state, logsnr, gapped).disp, a.disp)
    index, length = segment_index(torch.zeros(30, dtype=torch.long), gapped.residue_number)
    assert index.tolist() == list(range(15)) * 2 and length.tolist() == [15] * 30


# ------------------------------------------------------------ the dense pair track (issue 21)
PAIR_TRACK = dataclasses.replace(PAIR_AWARE, pair_channels=8, pair_blocks=1)


def test_pair_track_denoiser_is_se3_equivariant_its_distogram_invariant_and_read_by_the_edges(real_chains):
    torch.manual_seed(4)
    model = BackboneDenoiser(PAIR_TRACK).double()
    torch.nn.init.normal_(model.head.weight, std=0.3)
    torch.nn.init.normal_(model.pair_to_edge.weight, std=0.3)  # zero at first (warm starts)
    fn, noisy, previous, batch, logsnr = with_previous_estimate(model, real_chains, 0.3)
    both = torch.cat([noisy, previous], 1)
    out = fn(both)
    lengths = torch.bincount(batch[::3])
    assert out.pair_logits.shape == (int((lengths * (lengths - 1) // 2).sum()), DISTOGRAM_BINS)
    rot = random_rotation(torch.Generator().manual_seed(1))
    moved = fn(torch.cat([noisy @ rot.T - 0.2, previous @ rot.T - 0.2], 1))
    torch.testing.assert_close(moved.disp, out.disp @ rot.T, atol=1e-9, rtol=0)
    torch.testing.assert_close(moved.pair_logits, out.pair_logits, atol=1e-9, rtol=0)
    mirrored = fn(torch.cat([noisy @ MIRROR, previous @ MIRROR], 1)).disp
    assert (mirrored - out.disp @ MIRROR).abs().max() > 1e-3 * out.disp.abs().max()
    # the self-conditioning estimate reaches the distogram (its CA distance map is a pair input)
    far = torch.cat([noisy, previous + 0.5 * torch.randn_like(previous)], 1)
    assert (fn(far).pair_logits - out.pair_logits).abs().max() > 1e-6
    torch.nn.init.zeros_(model.pair_to_edge.weight)
    assert (fn(both).disp - out.disp).abs().max() > 1e-6


def test_pair_track_sees_each_chain_alone():
    """Padding must not leak: a chain's distogram is the same alone or batched with a longer one."""
    torch.manual_seed(5)
    model = BackboneDenoiser(dataclasses.replace(PAIR_TRACK, self_condition=False)).double().eval()
    short, long = torch.randn(3 * 12, 3, dtype=torch.float64), torch.randn(3 * 20, 3, dtype=torch.float64)
    logsnr = torch.tensor([0.5, 0.5], dtype=torch.float64)
    batch = torch.cat([torch.zeros(36, dtype=torch.long), torch.ones(60, dtype=torch.long)])
    pos = torch.cat([short - short.mean(0), long - long.mean(0)])
    together = model(backbone_state(pos, batch, 2), logsnr).pair_logits
    alone = model(backbone_state(pos[:36], batch[:36], 1), logsnr[:1]).pair_logits
    torch.testing.assert_close(together[: 12 * 11 // 2], alone, atol=1e-9, rtol=0)


def test_the_distogram_loss_trains_the_pair_track(tmp_path, real_chains):
    denoiser = dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, pair_channels=8, pair_blocks=1)
    model = dataclasses.replace(TINY_BACKBONE_MODEL, denoiser=denoiser)
    train = dataclasses.replace(
        TINY_BACKBONE_TRAIN, distogram_loss_weight=1.0, lr=5e-3, max_steps=100, checkpoint_every=100
    )
    BackboneTrainer(real_chains[:16], tmp_path, model, train).train()
    losses = [float(r["loss_distogram"]) for r in read_rows(tmp_path / "metrics.csv")]
    assert losses[0] > 2.0  # about log(21) untrained
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    with pytest.raises(ValueError, match="pair track"):  # a model without one cannot take this loss
        BackboneTrainer(real_chains[:16], tmp_path / "plain", TINY_BACKBONE_MODEL, train).train()
