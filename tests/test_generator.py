import numpy as np
import pytest
import torch

from molgen.generators.molecules import MoleculeGenerator


@pytest.fixture(scope="module")
def gen(tiny_model_dir):
    return MoleculeGenerator.from_pretrained(tiny_model_dir, device="cpu")


def test_sample_returns_rdkit_molecules_with_3d_conformers(gen):
    mols = gen.sample(6, steps=4, seed=0, batch_size=4)
    assert len(mols) == 6
    for i, mol in enumerate(mols):
        assert mol.GetNumConformers() == 1 and mol.GetConformer().Is3D()
        pos = mol.GetConformer().GetPositions()
        assert np.isfinite(pos).all()
        assert mol.GetIntProp("index") == i and mol.GetIntProp("steps") == 4
        assert mol.GetProp("sampler") == "dpm2m" and mol.HasProp("valid") and mol.HasProp("smiles")
        assert {a.GetSymbol() for a in mol.GetAtoms()} <= {"H", "C", "N", "O", "F"}


def test_sizes_follow_the_training_histogram_or_the_user(gen):
    sizes = [m.GetNumAtoms() for m in gen.sample(40, steps=1, seed=1)]
    assert set(sizes) <= set(gen.stats.num_atoms_hist)
    assert len(set(sizes)) > 3
    assert [m.GetNumAtoms() for m in gen.sample(3, num_atoms=7, steps=1)] == [7, 7, 7]
    assert [m.GetNumAtoms() for m in gen.sample(3, num_atoms=[3, 9, 4], steps=1)] == [3, 9, 4]


@pytest.mark.parametrize("sampler", ["ancestral", "ddim", "dpm2m"])
def test_same_seed_same_molecules(gen, sampler):
    a = gen.sample(3, steps=3, sampler=sampler, seed=7)
    b = gen.sample(3, steps=3, sampler=sampler, seed=7)
    c = gen.sample(3, steps=3, sampler=sampler, seed=8)
    pa, pb, pc = (np.concatenate([m.GetConformer().GetPositions() for m in x]) for x in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert pa.shape != pc.shape or not np.allclose(pa, pc)


def test_sample_does_not_touch_global_rng(gen):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    gen.sample(2, steps=2, seed=0)
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_molecules": 0}, "number of molecules"),
        ({"num_molecules": 2, "steps": -1}, "steps"),
        ({"num_molecules": 2, "sampler": "rk4"}, "unknown sampler"),
        ({"num_molecules": 2, "num_atoms": [3]}, "entries"),
        ({"num_molecules": 2, "num_atoms": 0}, ">= 1"),
    ],
)
def test_bad_arguments_raise_clear_errors(gen, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gen.sample(**kwargs)


def test_save_and_load_pretrained_round_trip(gen, tmp_path):
    gen.save_pretrained(tmp_path / "copy")
    again = MoleculeGenerator.from_pretrained(tmp_path / "copy", device="cpu")
    for (k, a), b in zip(gen.net.state_dict().items(), again.net.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert again.stats == gen.stats


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="bundled models are"):
        MoleculeGenerator.from_pretrained("no-such-model")


def test_non_finite_samples_are_redrawn_never_written(gen, monkeypatch, caplog):
    real = gen._sample_batch
    calls = []

    def flaky(sizes, *args):
        pos, types = real(sizes, *args)
        if not calls:
            pos[1][:] = np.nan  # the first draw of molecule 1 blows up
        calls.append(len(sizes))
        return pos, types

    monkeypatch.setattr(gen, "_sample_batch", flaky)
    mols = gen.sample(3, steps=2, seed=0)
    assert calls == [3, 1]
    assert "molecules [1] had non-finite coordinates" in caplog.text
    assert all(np.isfinite(m.GetConformer().GetPositions()).all() for m in mols)
