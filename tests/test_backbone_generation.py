"""BackboneGenerator, `molgen sample|train backbones` and their bad-input handling."""

import csv

import numpy as np
import pytest
from Bio.PDB import PDBParser
from typer.testing import CliRunner

from molgen.cli import app
from molgen.generators.backbones import BackboneGenerator
from molgen.io.pdb import write_pdb
from molgen.structures.backbone import Backbone
from molgen.structures.backbone_geometry import idealize, residues_within_tolerance

runner = CliRunner()


@pytest.fixture(scope="module")
def gen(tiny_backbone_model_dir):
    return BackboneGenerator.from_pretrained(tiny_backbone_model_dir, device="cpu")


def test_sample_returns_backbones_of_the_requested_lengths(gen):
    designs = gen.sample(lengths=[20, 33], steps=3, seed=0)
    assert [len(d) for d in designs] == [20, 33]
    for d in designs:
        assert isinstance(d, Backbone) and d.coords.shape[1:] == (4, 3)
        assert np.isfinite(d.coords).all() and d.sequence == "G" * len(d)
        assert d.metadata["refined"] is True and d.metadata["steps"] == 3


def test_same_seed_same_backbones_and_different_seeds_differ(gen):
    a = gen.sample([25, 25], steps=3, seed=7)
    b = gen.sample([25, 25], steps=3, seed=7)
    c = gen.sample([25, 25], steps=3, seed=8)
    np.testing.assert_array_equal(a[0].coords, b[0].coords)
    assert not np.allclose(a[0].coords, c[0].coords)


def test_refinement_fixes_bond_geometry_without_moving_the_fold(real_chains):
    chain = real_chains[3].coords[:, :3]
    noisy = chain + np.random.default_rng(0).normal(scale=0.15, size=chain.shape)
    refined = idealize(noisy)
    assert residues_within_tolerance(noisy).mean() < 0.6
    assert residues_within_tolerance(refined).mean() > 0.98
    moved = np.sqrt(((refined - noisy) ** 2).sum(-1).mean())
    to_truth = np.sqrt(((refined - chain) ** 2).sum(-1).mean())
    assert moved < 0.3 and to_truth < 0.3, (moved, to_truth)


def test_refinement_pushes_clashing_atoms_apart(real_chains):
    from molgen.structures.backbone import Backbone, ideal_oxygens
    from molgen.structures.backbone_quality import count_clashes

    def with_oxygens(x):
        return Backbone(np.concatenate([x, ideal_oxygens(x[:, 0], x[:, 1], x[:, 2])[:, None]], 1))

    chain = real_chains[3].coords[:, :3]
    atoms, residue = chain.reshape(-1, 3), np.repeat(np.arange(len(chain)), 3)
    d = np.linalg.norm(atoms[:, None] - atoms[None], axis=-1)
    d[np.abs(residue[:, None] - residue[None]) < 3] = np.inf
    a, b = np.unravel_index(np.argmin(d), d.shape)  # the closest non-local atoms: move b's residue
    clashing = chain.copy()  # to 1.7 A of a
    clashing[residue[b]] += (atoms[a] - atoms[b]) * (1 - 1.7 / d[a, b])
    assert count_clashes(with_oxygens(chain)) == 0 and count_clashes(with_oxygens(clashing)) > 0
    refined = idealize(clashing)
    assert count_clashes(with_oxygens(refined)) == 0
    assert residues_within_tolerance(refined).mean() > 0.98


def test_unrefined_samples_are_the_raw_network_output(gen):
    raw = gen.sample([30], steps=2, seed=1, refine=False)[0]
    refined = gen.sample([30], steps=2, seed=1)[0]
    assert raw.metadata["refined"] is False and not np.allclose(raw.coords, refined.coords)


def test_lengths_outside_the_models_range_are_rejected(gen):
    with pytest.raises(ValueError, match="outside this model's range 20-64"):
        gen.sample([10])
    with pytest.raises(ValueError, match="outside"):
        gen.sample([65])


def test_length_plans_parse_fixed_and_range_specs(gen):
    from molgen.generators.conditioners import Length

    assert [p.length for p in gen.plan_designs(3, [Length("40")], seed=0)] == [40, 40, 40]
    drawn = [p.length for p in gen.plan_designs(200, [Length("30-50")], seed=0)]
    assert min(drawn) >= 30 and max(drawn) <= 50 and len(set(drawn)) > 15
    again = [[p.length for p in gen.plan_designs(5, [Length("30-50")], seed=1)] for _ in range(2)]
    assert again[0] == again[1]
    for bad in ("abc", "50-30", "-5", "8a"):
        with pytest.raises(ValueError, match="invalid length"):
            gen.plan_designs(2, [Length(bad)], seed=0)


def test_cli_sample_backbones_writes_pdbs_and_a_manifest(tmp_path, tiny_backbone_model_dir):
    out = tmp_path / "designs"
    args = ["sample", "backbones", "--length", "20-30", "-n", "3", "--out", str(out)]
    args += ["--model", str(tiny_backbone_model_dir), "--steps", "3", "--seed", "0", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with open(out / "manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == ["design_0000.pdb", "design_0001.pdb", "design_0002.pdb"]
    for row in rows:
        structure = PDBParser(QUIET=True).get_structure("d", str(out / row["file"]))
        chain = structure[0]["A"]
        residues = list(chain)
        assert len(residues) == int(row["length"]) and 20 <= len(residues) <= 30
        assert [r.id[1] for r in residues] == list(range(1, len(residues) + 1))
        assert all(r.get_resname() == "GLY" for r in residues)
        assert [a.get_id() for a in residues[0]] == ["N", "CA", "C", "O"]
        assert [a.element for a in residues[0]] == ["N", "C", "C", "O"]
        assert len(row["ss"]) == len(residues) and row["seed"] == "0"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "not empty" in again.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


@pytest.mark.parametrize(
    ("length", "message"),
    [("0", "outside this model's range"), ("500", "outside this model's range"), ("x", "invalid length")],
)
def test_cli_bad_lengths_exit_2_and_write_nothing(tmp_path, tiny_backbone_model_dir, length, message):
    out = tmp_path / "designs"
    args = [
        "sample",
        "backbones",
        "--length",
        length,
        "--out",
        str(out),
        "--model",
        str(tiny_backbone_model_dir),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_unwritable_out_exits_2(tmp_path, tiny_backbone_model_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["sample", "backbones", "--length", "20", "--out", str(blocker / "designs")]
    result = runner.invoke(app, [*args, "--model", str(tiny_backbone_model_dir)])
    assert result.exit_code == 2 and "cannot create output folder" in result.output


def test_cli_train_backbones_on_a_folder_skips_corrupt_files(tmp_path, real_chains, caplog):
    data = tmp_path / "pdbs"
    data.mkdir()
    for i, chain in enumerate(real_chains[:8]):
        write_pdb(chain, data / f"chain{i}.pdb")
    (data / "broken.pdb").write_text("ATOM      1  N   GLY A   1      not a number\n")
    config = tmp_path / "run.yaml"
    config.write_text(
        "model:\n  denoiser: {hidden: 16, edge_hidden: 8, num_layers: 1, num_neighbors: 4}\n"
        "train: {batch_size: 4, max_steps: 2, log_every: 1, threads: 1}\n"
    )
    out = tmp_path / "run"
    args = ["train", "backbones", "--data", str(data), "--out", str(out), "--config", str(config)]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "broken.pdb" in caplog.text
    assert (out / "model" / "config.json").is_file()
    gen = BackboneGenerator.from_pretrained(out / "model", device="cpu")
    assert len(gen.sample([30], steps=2, seed=0)[0]) == 30


def test_cli_train_backbones_rejects_missing_data(tmp_path):
    result = runner.invoke(
        app, ["train", "backbones", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "not a folder of structures" in result.output
