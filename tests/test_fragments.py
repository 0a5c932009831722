"""Fragment-conditioned molecule models: random training fragments, the fragment condition's
symmetries (float64), growth from a model without it, training and sampling around a fragment."""

import dataclasses

import numpy as np
import pytest
import torch
from rdkit import Chem

from molgen.config import BOND_STATES, ModelConfig, TrainConfig
from molgen.core.graph import batch_vector, full_pairs
from molgen.core.state import State
from molgen.generators.molecules import MoleculeGenerator
from molgen.io.sdf import read_first_molecule
from molgen.models.molecule_conditions import FragmentCondition, MoleculeConditions
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.runtime import bundled_data
from molgen.structures.molecule import Molecule
from molgen.testing import TINY_MODEL, TINY_TRAIN, assert_equivariant
from molgen.training.fragments import breadth_first, random_fragments, ring_systems
from molgen.training.trainer import MoleculeTrainer

FRAGMENT_MODEL = dataclasses.replace(TINY_MODEL, vocab=("C", "N", "O"), bonds=True, fragments=True)


def bond_graph(smiles: str) -> tuple[int, list[tuple[int, int]], np.ndarray]:
    """Heavy atoms, bonds and the ``[n, n]`` Kekulé bond-order matrix of a SMILES."""
    mol = Chem.MolFromSmiles(smiles)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    n = mol.GetNumAtoms()
    orders = np.zeros((n, n), dtype=np.int64)
    edges = []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        orders[i, j] = orders[j, i] = int(b.GetBondTypeAsDouble())
        edges.append((i, j))
    return n, edges, orders


def test_ring_systems_join_fused_rings_and_leave_chains_out():
    naphthyl_ethanol = "OCCc1ccc2ccccc2c1"  # one fused system of 10 atoms, a 3-atom chain
    n, edges, _ = bond_graph(naphthyl_ethanol)
    assert ring_systems(n, edges) == [list(range(3, 13))]
    n, edges, _ = bond_graph("C1CC1CCC1CCCC1")  # two separate rings
    assert sorted(map(len, ring_systems(n, edges))) == [3, 5]
    n, edges, _ = bond_graph("CCOCC")
    assert ring_systems(n, edges) == []
    assert breadth_first(n, edges, 2) == [2, 1, 3, 0, 4]


def test_random_fragments_are_connected_proper_parts_or_ring_systems():
    # the ring system of cyclobutane is all of it: its fragments must be pieces
    graphs = [bond_graph(s) for s in ("Cc1ccccc1O", "CCOCC(N)C=O", "C1CC1C", "C1CCC1")]
    sizes = torch.tensor([n for n, _, _ in graphs])
    pair_index = full_pairs(sizes)
    first = np.cumsum(sizes.numpy()) - sizes.numpy()
    orders = torch.cat(
        [torch.as_tensor(o[i.numpy(), j.numpy()]) for (_, _, o), (i, j) in zip(graphs, _local_pairs(sizes))]
    )
    seen_rings = 0
    for seed in range(40):
        fixed = random_fragments(orders, pair_index, sizes, 1.0, torch.Generator().manual_seed(seed))
        for (n, edges, _), start in zip(graphs, first):
            atoms = np.flatnonzero(fixed[start : start + n].numpy()).tolist()
            assert 1 <= len(atoms) < n  # every molecule gets one, never the whole molecule
            inner = [(a, b) for a, b in edges if a in atoms and b in atoms]
            assert sorted(breadth_first(n, inner, atoms[0])) == atoms  # connected
            seen_rings += n == 8 and atoms == list(range(1, 7))  # the benzene ring of cresol
    assert 10 <= seen_rings <= 30  # about half of the draws fix a ring system
    none = random_fragments(orders, pair_index, sizes, 0.0, torch.Generator().manual_seed(0))
    assert not none.any()


def _local_pairs(sizes: torch.Tensor) -> list[torch.Tensor]:
    return [full_pairs(torch.tensor([int(n)])) for n in sizes]


def fragment_batch(counts, seed=0):
    """A float64 noisy batch of graphs ``counts`` with a fragment of the first 3 atoms of each."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.tensor(counts)
    pairs, n = full_pairs(counts), int(counts.sum())

    def draw(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    state = State(draw(n, 3), draw(n, 3), batch_vector(counts), len(counts), draw(pairs.shape[1], 4), pairs)
    types = draw(n, 3).softmax(-1)
    clean = State(draw(n, 3), types, state.batch, len(counts), draw(pairs.shape[1], 4), pairs)
    first = torch.cumsum(counts, 0) - counts
    fixed = torch.zeros(n, dtype=torch.bool)
    fixed[(first[:, None] + torch.arange(3)).reshape(-1)] = True
    cond = MoleculeConditions.none(len(counts), 0).to("cpu", torch.float64)
    return state, clean, dataclasses.replace(cond, fragment=FragmentCondition.of(clean, fixed))


def test_the_fragment_condition_keeps_the_denoiser_equivariant_and_is_read():
    torch.manual_seed(0)
    net = MoleculeDenoiser(FRAGMENT_MODEL).double()
    for p in net.parameters():  # the condition's weights start at zero: give them a value
        torch.nn.init.normal_(p, std=0.3)
    state, clean, cond = fragment_batch([5, 4])
    logsnr = torch.tensor([0.5, -1.0], dtype=torch.float64)

    def outputs(pos):
        return net(state.replace(pos, state.feat), logsnr, cond)

    assert_equivariant(outputs, state.pos)
    out = net(state, logsnr, cond)
    plain = net(state, logsnr)
    assert not torch.allclose(out.logits, plain.logits)  # the condition is read
    assert not torch.allclose(out.pair_logits, plain.pair_logits)


def test_a_fragment_model_grown_from_one_without_starts_as_that_model():
    torch.manual_seed(0)
    plain = MoleculeDenoiser(dataclasses.replace(FRAGMENT_MODEL, fragments=False)).double()
    grown = MoleculeDenoiser(FRAGMENT_MODEL).double()
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("fragment_") for k in missing)
    state, _, cond = fragment_batch([5, 4])
    logsnr = torch.tensor([0.5, -1.0], dtype=torch.float64)
    expected = plain(state, logsnr)
    out = grown(state, logsnr, cond)
    assert torch.allclose(out.disp, expected.disp) and torch.allclose(out.pair_logits, expected.pair_logits)
    with pytest.raises(ValueError, match="not trained with fragments"):
        plain(state, logsnr, cond)


def test_fragment_settings_are_checked():
    with pytest.raises(ValueError, match="needs bonds"):
        ModelConfig(fragments=True)
    with pytest.raises(ValueError, match="fragment_probability"):
        TrainConfig(fragment_probability=1.5)


def test_training_batches_carry_fragments_of_their_own_molecules(tmp_path, qm9_train, monkeypatch):
    config = dataclasses.replace(FRAGMENT_MODEL, vocab=(), hydrogens="implicit")
    train = dataclasses.replace(TINY_TRAIN, batch_size=16, fragment_probability=1.0)
    trainer = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, config, train)
    monkeypatch.setattr(trainer, "rank_slice", lambda: (5, 12))  # a middle rank's share
    batch = trainer.local_inputs(3)
    fragment, x0 = batch.cond.fragment, batch.x0
    assert x0.num_graphs == 7 and len(fragment.atoms) == len(x0.pos)
    fixed = fragment.atoms.bool()
    per_molecule = torch.bincount(x0.batch[fixed], minlength=7)
    sizes = torch.bincount(x0.batch, minlength=7)
    assert ((per_molecule >= 1) & (per_molecule < sizes)).all()  # every molecule, never all of it
    assert torch.equal(fragment.feat[fixed], x0.feat[fixed]) and not fragment.feat[~fixed].any()
    i, j = x0.pair_index
    both = fixed[i] & fixed[j]
    assert torch.equal(fragment.pairs.bool(), both) and torch.equal(fragment.pair[both], x0.pair[both])
    torch.testing.assert_close(fragment.dist[both], (x0.pos[i] - x0.pos[j]).norm(dim=-1)[both])


def test_a_fragment_model_trains_and_reads_the_fragment_when_sampling(tmp_path, qm9_train):
    config = dataclasses.replace(FRAGMENT_MODEL, vocab=(), hydrogens="implicit")
    out = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, config, TINY_TRAIN).train()
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + TINY_TRAIN.max_steps and "nan" not in "".join(rows)
    gen = MoleculeGenerator.from_pretrained(out)
    assert gen.config.fragments and gen.net.fragment_pair.weight.abs().sum() > 0  # trained
    benzene = read_first_molecule(bundled_data("fragments") / "benzene.sdf")
    seen = []
    forward = gen.net.forward

    def spy(noisy, logsnr, cond=None, self_cond=None):
        seen.append(cond)
        return forward(noisy, logsnr, cond, self_cond)

    gen.net.forward = spy
    mols = gen.sample(3, num_atoms=[7, 8, 9], steps=2, seed=0, fixed=benzene)
    # a model that reads fragments keeps its general sampler: no RePaint inpainting defaults
    assert {(m.GetProp("sampler"), m.GetProp("resample")) for m in mols} == {("dpm2m", "1")}
    fragment = seen[0].fragment
    assert fragment.atoms.sum() == 3 * 6 and fragment.pairs.sum() == 3 * 15
    ring_bonds = fragment.pair[fragment.pairs.bool()].argmax(-1)
    assert sorted(torch.bincount(ring_bonds, minlength=len(BOND_STATES)).tolist()) == [0, 9, 9, 27]
    distances = fragment.dist[fragment.pairs.bool()][:15] * gen.stats.coord_scale
    expected = np.linalg.norm(benzene.pos[:, None] - benzene.pos[None], axis=-1)[np.triu_indices(6, 1)]
    assert sorted(distances.tolist()) == pytest.approx(sorted(expected.tolist()), abs=1e-4)
    for mol in mols:  # the fragment stays exact, as for any model
        got = Molecule.from_rdkit(mol)
        kept = np.linalg.norm(got.pos[:6, None] - got.pos[None, :6], axis=-1)[np.triu_indices(6, 1)]
        assert sorted(kept.tolist()) == pytest.approx(sorted(expected.tolist()), abs=1e-3)
