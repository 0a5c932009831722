"""Bond orders generated jointly with atoms: pair bookkeeping, the pair-track denoiser's
symmetries (float64), bond data, training targets and generated bonds in the output."""

import dataclasses

import numpy as np
import pytest
import torch
from rdkit import Chem

from molgen.config import BOND_STATES
from molgen.core.graph import batch_vector, full_edges, full_pairs, pair_of_edge
from molgen.core.state import State
from molgen.generators.base import BatchInputs, SamplingOptions
from molgen.generators.molecules import MoleculeGenerator
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.structures.vocab import AtomVocab
from molgen.testing import TINY_MODEL, TINY_TRAIN, assert_equivariant
from molgen.training.trainer import EncodedMolecules, MoleculeTrainer

BOND_MODEL = dataclasses.replace(TINY_MODEL, vocab=("C", "N", "O"), bonds=True)


def noisy_state(counts, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    counts = torch.tensor(counts)
    pairs = full_pairs(counts)
    n = int(counts.sum())
    return State(
        torch.randn(n, 3, generator=gen, dtype=dtype),
        torch.randn(n, 3, generator=gen, dtype=dtype),
        batch_vector(counts),
        len(counts),
        torch.randn(pairs.shape[1], len(BOND_STATES), generator=gen, dtype=dtype),
        pairs,
    )


def test_pairs_are_unordered_graph_by_graph_and_every_edge_finds_its_pair():
    counts = torch.tensor([3, 1, 4, 2])
    pairs = full_pairs(counts)
    assert pairs.shape[1] == 3 + 0 + 6 + 1
    batch = batch_vector(counts)
    assert (pairs[0] < pairs[1]).all() and (batch[pairs[0]] == batch[pairs[1]]).all()
    src, dst = full_edges(counts)
    rows = pair_of_edge(src, dst, counts)
    assert torch.equal(pairs[:, rows], torch.stack([torch.minimum(src, dst), torch.maximum(src, dst)]))
    assert torch.equal(torch.bincount(rows), torch.full((pairs.shape[1],), 2))  # both directions


def test_the_bond_denoiser_is_e3_equivariant_and_its_bond_logits_invariant():
    torch.manual_seed(0)
    net = MoleculeDenoiser(BOND_MODEL).double()
    state, logsnr = noisy_state([5, 3]), torch.tensor([0.5, -1.0], dtype=torch.float64)
    out = net(state, logsnr)
    assert out.pair_logits.shape == (10 + 3, len(BOND_STATES))

    def outputs(pos):
        return net(state.replace(pos, state.feat), logsnr)

    assert_equivariant(outputs, state.pos)
    mirrored = outputs(state.pos * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))  # reflections too
    assert torch.allclose(mirrored.disp, out.disp * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(mirrored.pair_logits, out.pair_logits, atol=1e-10)


def test_the_bond_denoiser_is_permutation_equivariant_over_atoms_and_pairs():
    torch.manual_seed(0)
    net = MoleculeDenoiser(BOND_MODEL).double()
    state, logsnr = noisy_state([6]), torch.tensor([0.3], dtype=torch.float64)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])  # new atom k is old atom perm[k]
    old_rows = {(int(i), int(j)): r for r, (i, j) in enumerate(state.pair_index.T)}
    # the pair row of new atoms (a, b) holds the old pair (perm[a], perm[b])
    rows = torch.tensor(
        [old_rows[tuple(sorted((int(perm[a]), int(perm[b]))))] for a, b in state.pair_index.T]
    )
    permuted = State(state.pos[perm], state.feat[perm], state.batch, 1, state.pair[rows], state.pair_index)
    out, out_p = net(state, logsnr), net(permuted, logsnr)
    assert torch.allclose(out_p.disp, out.disp[perm], atol=1e-10)
    assert torch.allclose(out_p.logits, out.logits[perm], atol=1e-10)
    assert torch.allclose(out_p.pair_logits, out.pair_logits[rows], atol=1e-10)


def test_bonds_survive_subsets_hydrogen_removal_and_a_save_load_round_trip(tmp_path, qm9_train):
    assert qm9_train.bonds is not None and qm9_train.props["bonds_ok"].all()
    mol = qm9_train.molecule(7)
    assert Chem.MolToSmiles(Chem.RemoveHs(mol.to_rdkit())) == mol.to_rdkit().GetProp("smiles")
    path = tmp_path / "p.npz"
    qm9_train.subset([9, 7]).save(path)
    again = type(qm9_train).load(path)
    assert np.array_equal(again.molecule(1).bonds, mol.bonds)
    heavy = qm9_train.without_hydrogens().molecule(7)
    keep = [i for i, s in enumerate(mol.symbols) if s != "H"]
    expected = {
        (keep.index(i), keep.index(j), o) for i, j, o in mol.bonds.tolist() if i in keep and j in keep
    }
    assert {tuple(b) for b in heavy.bonds.tolist()} == expected


def test_training_targets_put_every_bond_order_on_its_pair(qm9_train):
    data = qm9_train.subset(range(20)).without_hydrogens()
    encoded = EncodedMolecules(data, AtomVocab(("C", "N", "O", "F")), 1.0, bonds=True)
    indices = np.array([4, 0, 13])
    _, _, batch = encoded.batch(indices)
    pairs = full_pairs(torch.bincount(batch))
    orders = encoded.bond_orders(indices)
    first = np.cumsum(data.num_atoms[indices]) - data.num_atoms[indices]
    for g, m in enumerate(indices):
        expected = np.zeros((data.num_atoms[m],) * 2, dtype=np.int64)
        for i, j, o in data.molecule(m).bonds:
            expected[i, j] = expected[j, i] = o
        mine = batch[pairs[0]] == g
        i, j = (pairs[:, mine] - first[g]).numpy()
        assert np.array_equal(orders[mine].numpy(), expected[i, j])


def test_a_bond_model_trains_and_its_molecules_carry_the_generated_bonds(tmp_path, qm9_train):
    config = dataclasses.replace(BOND_MODEL, vocab=(), hydrogens="implicit")
    out = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, config, TINY_TRAIN).train()
    gen = MoleculeGenerator.from_pretrained(out)
    assert gen.config.bonds and set(gen.config.vocab) >= {"C", "N", "O", "F"}
    inputs = BatchInputs(np.array([6, 4, 7]), len(gen.config.vocab), num_pair_states=len(BOND_STATES))
    sampled = gen.sample_batch(inputs, SamplingOptions(3, "dpm2m", 8), torch.Generator().manual_seed(0))
    assert any(len(s.pairs) for s in sampled)
    for s in sampled:
        mol = gen._molecule(s, {}, None)
        heavy = len(s.types)
        bonds = {
            (min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
            for b in mol.GetBonds()
            if b.GetBeginAtomIdx() < heavy and b.GetEndAtomIdx() < heavy
        }
        assert bonds == {(int(i), int(j)) for i, j, _ in s.pairs}
        assert mol.HasProp("bonds_vs_geometry")
    with pytest.raises(ValueError, match="model generates bonds"):
        no_pairs = State(
            torch.zeros(2, 3), torch.zeros(2, len(gen.config.vocab)), torch.zeros(2, dtype=torch.long), 1
        )
        gen.net(no_pairs, torch.zeros(1))


def test_recipe_levers_train_and_a_self_conditioned_bond_model_samples(tmp_path, qm9_train):
    """Self-conditioning, EQGAT-diff's clamped-SNR weights, geometry distortion and a pair scale
    of their own: a few training steps, finite losses, and sampling reads the previous estimate."""
    model = dataclasses.replace(
        BOND_MODEL,
        vocab=(),
        hydrogens="implicit",
        denoiser=dataclasses.replace(BOND_MODEL.denoiser, self_condition=True),
        sde=dataclasses.replace(BOND_MODEL.sde, pair_scale=0.5),
    )
    train = dataclasses.replace(TINY_TRAIN, loss_weighting="clamped_snr", distortion=0.05)
    out = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, model, train).train()
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + TINY_TRAIN.max_steps and "nan" not in "".join(rows)
    gen = MoleculeGenerator.from_pretrained(out)
    assert gen.self_conditioning
    seen = []
    forward = gen.net.forward

    def spy(noisy, logsnr, cond=None, self_cond=None):
        seen.append(self_cond is not None)
        return forward(noisy, logsnr, cond, self_cond)

    gen.net.forward = spy
    gen.sample(2, steps=3, seed=0, num_atoms=5)
    assert seen == [False, True, True]


def test_a_property_conditioned_bond_model_trains_and_samples_with_guidance(tmp_path, qm9_train):
    model = dataclasses.replace(BOND_MODEL, vocab=(), hydrogens="implicit", properties=("alpha",))
    out = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, model, TINY_TRAIN).train()
    gen = MoleculeGenerator.from_pretrained(out)
    mols = gen.sample(3, properties={"alpha": 70.0}, guidance=2.0, steps=3, seed=0)
    assert [float(m.GetProp("target_alpha")) for m in mols] == [70.0] * 3
    assert all(m.HasProp("bonds_vs_geometry") for m in mols)


def test_a_self_conditioning_model_grown_from_one_without_starts_as_that_model():
    torch.manual_seed(0)
    plain = MoleculeDenoiser(BOND_MODEL).double()
    grown_config = dataclasses.replace(
        BOND_MODEL, denoiser=dataclasses.replace(BOND_MODEL.denoiser, self_condition=True)
    )
    grown = MoleculeDenoiser(grown_config).double()
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("previous_") for k in missing)
    state, logsnr = noisy_state([5, 3]), torch.tensor([0.5, -1.0], dtype=torch.float64)
    previous = noisy_state([5, 3], seed=1)
    expected = plain(state, logsnr)
    for out in (grown(state, logsnr), grown(state, logsnr, self_cond=previous)):
        assert torch.allclose(out.disp, expected.disp) and torch.allclose(
            out.pair_logits, expected.pair_logits
        )


def test_molecules_without_bonds_are_left_out_of_bond_training_with_their_atoms(qm9_train):
    data = qm9_train.subset(range(6)).without_hydrogens()
    data.props["bonds_ok"] = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    encoded = EncodedMolecules(data, AtomVocab(("C", "N", "O", "F")), 1.0, bonds=True)
    assert len(encoded) == 4
    kept = data.subset([0, 2, 3, 5])
    pos, types, _ = encoded.batch(np.arange(4))
    symbols = [s for i in range(4) for s in kept.molecule(i).symbols]
    assert [("C", "N", "O", "F")[t] for t in types.tolist()] == symbols  # types stay with their atoms
