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


def test_a_model_folder_sets_its_default_sampler_settings(gen, tmp_path):
    """config.json's ``sampling`` holds the model's default time grid, steps and sampler; a request
    overrides them, a fragment request keeps the uniform grid it was measured with, and the folder
    round-trips."""
    import json

    from molgen.structures.molecule import Molecule

    assert gen.sample(1, steps=2, seed=0)[0].GetDoubleProp("time_power") == 1.0
    gen.sampling = {"time_power": 3.0}
    folder = gen.save_pretrained(tmp_path / "model")
    assert json.loads((folder / "config.json").read_text())["sampling"] == {"time_power": 3.0}
    tuned = MoleculeGenerator.from_pretrained(folder, device="cpu")
    gen.sampling = {}
    a, b = tuned.sample(1, steps=3, seed=0)[0], gen.sample(1, steps=3, seed=0, time_power=3.0)[0]
    assert a.GetDoubleProp("time_power") == 3.0
    np.testing.assert_array_equal(a.GetConformer().GetPositions(), b.GetConformer().GetPositions())
    assert tuned.sample(1, steps=2, time_power=1.5)[0].GetDoubleProp("time_power") == 1.5
    fragment = Molecule(["C", "O"], np.array([[0.0, 0, 0], [1.2, 0, 0]]))
    assert tuned.sample(1, steps=2, fixed=fragment, resample=1)[0].GetDoubleProp("time_power") == 1.0
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(meta | {"sampling": {"steps": 3, "sampler": "ancestral"}}))
    own_steps = MoleculeGenerator.from_pretrained(folder, device="cpu")
    mol = own_steps.sample(1, seed=0)[0]
    assert (mol.GetIntProp("steps"), mol.GetProp("sampler")) == (3, "ancestral")
    assert own_steps.sample(1, steps=2, seed=0)[0].GetIntProp("steps") == 2
    (folder / "config.json").write_text(json.dumps(meta | {"sampling": {"time_powr": 2}}))
    with pytest.raises(ValueError, match="unknown sampling defaults"):
        MoleculeGenerator.from_pretrained(folder)


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
    real = gen.sample_batch
    calls = []

    def flaky(inputs, *args):
        samples = real(inputs, *args)
        if not calls:
            samples[1].pos[:] = np.nan  # the first draw of molecule 1 blows up
        calls.append(len(inputs.sizes))
        return samples

    monkeypatch.setattr(gen, "sample_batch", flaky)
    mols = gen.sample(3, steps=2, seed=0)
    assert calls == [3, 1]
    assert "molecules [1] had non-finite coordinates" in caplog.text
    assert all(np.isfinite(m.GetConformer().GetPositions()).all() for m in mols)


def test_bf16_autocast_sampling_and_training_stay_close_to_fp32(tmp_path, tiny_model_dir, qm9_train):
    import dataclasses

    from molgen.core.state import State
    from molgen.diffusion.targets import predict_x0
    from molgen.testing import TINY_MODEL, TINY_TRAIN
    from molgen.training.trainer import MoleculeTrainer

    fp32 = MoleculeGenerator.from_pretrained(tiny_model_dir, device="cpu")
    bf16 = MoleculeGenerator.from_pretrained(tiny_model_dir, device="cpu", precision="bf16")
    batch = torch.tensor([0] * 6 + [1] * 9)
    z = fp32.sde.noise_like(
        State(torch.zeros(15, 3), torch.zeros(15, 5), batch, 2), torch.Generator().manual_seed(0)
    )
    t = torch.tensor([0.2, 0.6])
    with torch.no_grad():
        a = predict_x0(fp32.runner, fp32.sde, z, t, 0.25)[0]
        b = predict_x0(bf16.runner, bf16.sde, z, t, 0.25)[0]
    assert b.pos.dtype == torch.float32 and b.feat.dtype == torch.float32
    assert not torch.equal(a.pos, b.pos)  # bf16 really ran
    torch.testing.assert_close(b.pos, a.pos, atol=0.05, rtol=0.05)
    assert len(bf16.sample(3, steps=3, seed=0)) == 3
    with pytest.raises(ValueError, match="unknown precision"):
        MoleculeGenerator.from_pretrained(tiny_model_dir, device="cpu", precision="fp16")

    train = dataclasses.replace(TINY_TRAIN, precision="bf16")
    trainer = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, TINY_MODEL, train)
    assert np.isfinite(trainer.train_step()["loss"])
