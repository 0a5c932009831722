import csv
import json
import subprocess
import sys

import pytest
import torch
from rdkit import Chem
from typer.testing import CliRunner

from molgen.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


def test_sample_molecules_with_the_bundled_model_is_reproducible(tmp_path):
    """The README's acceptance command: 100 records, 3D coordinates, same seed -> same file."""
    first, second = tmp_path / "a.sdf", tmp_path / "b.sdf"
    for out in (first, second):
        result = run("sample", "molecules", "-n", 100, "-o", out, "--seed", 0)
        assert result.exit_code == 0, result.output
    mols = [m for m in Chem.SDMolSupplier(str(first), sanitize=False, removeHs=False)]
    assert len(mols) == 100 and all(m is not None for m in mols)
    assert all(m.GetConformer().Is3D() for m in mols)
    assert {m.GetProp("model") for m in mols} == {"qm9-heavy-bonds"}
    assert all(m.HasProp("bonds_vs_geometry") for m in mols)  # the default model writes its own bonds
    assert [int(m.GetProp("index")) for m in mols] == list(range(100))
    assert first.read_bytes() == second.read_bytes()
    assert "wrote 100 molecules" in result.stdout
    assert "arning" not in result.output  # README command 1: progress bar and summary only


@pytest.mark.parametrize(
    "args,message",
    [
        (["-n", 0], "number of molecules"),
        (["--steps", -3], "steps"),
        (["--model", "nope"], "no model 'nope'"),
        (["--sampler", "euler"], "unknown sampler"),
        (["--device", "cuda:99"], "device"),
        (["--fragment", "naphthalene"], "nor a bundled one (benzene, cyclohexane, furan, pyridine)"),
        (["--batch-size", 0], "--batch-size must be >= 1"),
        (["--seed", 2**31], "seed must be in [0, 2147483647]"),
        (["--seed", -1], "seed must be in [0, 2147483647]"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_file(tmp_path, args, message):
    out = tmp_path / "out.sdf"
    result = run("sample", "molecules", "-o", out, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unwritable_output_path_exits_2(tmp_path):
    result = run("sample", "molecules", "-n", 2, "-o", tmp_path / "missing" / "out.sdf", "--steps", 1)
    assert result.exit_code == 2 and "does not exist" in result.stderr


def tiny_run_config(folder, max_steps):
    """A YAML config of a tiny molecule model trained for ``max_steps`` steps of 8 molecules."""
    config = folder / "run.yaml"
    config.write_text(
        "model:\n  denoiser: {hidden: 16, edge_hidden: 8, num_layers: 1, num_rbf: 4}\n"
        f"train: {{batch_size: 8, max_steps: {max_steps}, log_every: 1, checkpoint_every: 2,"
        " warmup_steps: 1}\n"
    )
    return config


def test_train_molecules_from_an_sdf_then_sample_from_it(tmp_path, qm9_test, tiny_model_dir):
    from molgen.io.sdf import SDFWriter

    data = tmp_path / "train.sdf"
    with SDFWriter(data) as writer:
        for i in range(16):
            writer.write(qm9_test.molecule(i).to_rdkit())
    config = tiny_run_config(tmp_path, max_steps=3)
    result = run("train", "molecules", "--data", data, "--out", tmp_path / "run", "--config", config)
    assert result.exit_code == 0, result.output
    metrics = (tmp_path / "run" / "metrics.csv").read_text()
    again = run("train", "molecules", "--data", data, "--out", tmp_path / "run", "--config", config)
    assert again.exit_code == 2 and "already holds a training run" in again.stderr  # not wiped
    assert (tmp_path / "run" / "metrics.csv").read_text() == metrics
    model = tmp_path / "run" / "model"
    result = run("sample", "molecules", "-n", 3, "-o", tmp_path / "s.sdf", "--model", model, "--steps", 2)
    assert result.exit_code == 0, result.output
    assert len(list(Chem.SDMolSupplier(str(tmp_path / "s.sdf"), sanitize=False))) == 3
    resume = ("train", "molecules", "--data", data, "--out", tmp_path / "run", "--resume")
    result = run(*resume, "--max-steps", 6, "--cooldown-steps", 2)
    assert result.exit_code == 0 and "trained 6 steps" in result.stdout
    with open(tmp_path / "run" / "metrics.csv") as f:
        lrs = {int(row["step"]): float(row["lr"]) for row in csv.DictReader(f)}
    assert lrs[5] == pytest.approx(5e-4) and lrs[6] == pytest.approx(2.5e-4)  # the resumed run cools down
    result = run(*resume, "--max-steps", 8, "--cooldown-steps", 9)
    assert result.exit_code == 2 and "cooldown_steps must be in [0, max_steps=8]" in result.stderr
    changed = tmp_path / "changed.yaml"  # --config on --resume: its train: section from here on
    changed.write_text(config.read_text().replace("max_steps: 3", "max_steps: 8, lr: 0.002"))
    result = run(*resume, "--config", changed)
    assert result.exit_code == 0 and "trained 8 steps" in result.stdout
    with open(tmp_path / "run" / "metrics.csv") as f:
        assert float(list(csv.DictReader(f))[-1]["lr"]) == pytest.approx(2e-3)
    result = run(*resume, "--max-steps", 10, "--precision", "fp16")
    assert result.exit_code == 2 and "unknown precision 'fp16'" in result.stderr
    result = run(*resume, "--max-steps", 10, "--precision", "bf16")  # bfloat16 autocast from here on
    assert result.exit_code == 0 and "trained 10 steps" in result.stdout
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert json.loads(checkpoint["train_config"])["precision"] == "bf16"


def test_train_with_missing_data_exits_2(tmp_path):
    result = run("train", "molecules", "--data", tmp_path / "none.sdf", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "not qm9" in result.stderr


def test_console_script_help_documents_commands():
    out = subprocess.run(
        [sys.executable, "-m", "molgen.cli", "sample", "molecules", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--num-molecules",
        "--out",
        "--model",
        "--steps",
        "--sampler",
        "--seed",
        "--device",
        "--batch-size",
    ):
        assert option in out


DRUGS = {  # drug-like molecules with S, Cl and Br (ChEMBL-style SMILES written by hand)
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "cetirizine": "OC(=O)COCCN1CCN(CC1)C(c1ccccc1)c1ccc(Cl)cc1",
    "rofecoxib": "CS(=O)(=O)c1ccc(cc1)C1=C(C(=O)OC1)c1ccccc1",
    "bromazepam": "Brc1ccc2NC(=O)CN=C(c2c1)c1ccccn1",
    "chlorpromazine": "CN(C)CCCN1c2ccccc2Sc2ccc(Cl)cc21",
    "ibuprofen": "CC(C)Cc1ccc(cc1)C(C)C(O)=O",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "nitrofurantoin": "O=C1CN(N=Cc2ccc(o2)[N+](=O)[O-])C(=O)N1",  # a charged group
}


def test_training_on_your_own_molecules_takes_their_atom_types(tmp_path):
    """No vocabulary in the config: the model's atom types come from the data (S, Cl, Br and the
    nitro group's N+ and O- here), and a model with bonds sampling around a chloronitrobenzene
    fragment makes molecules that use them, formal charges written to the SDF."""
    from rdkit.Chem import AllChem

    from molgen.io.sdf import write_sdf
    from molgen.models.pretrained import load_pretrained
    from molgen.structures.molecule import Molecule

    smi = tmp_path / "drugs.smi"
    smi.write_text("".join(f"{s} {name}\n" for name, s in DRUGS.items()))
    config = tiny_run_config(tmp_path, max_steps=2)
    with_bonds = tmp_path / "bonds.yaml"
    with_bonds.write_text(config.read_text().replace("model:\n", "model:\n  bonds: true\n"))
    result = run("train", "molecules", "--data", smi, "--out", tmp_path / "run", "--config", with_bonds)
    assert result.exit_code == 0, result.output
    model_config = load_pretrained(tmp_path / "run" / "model")[0]
    assert model_config.vocab == ("H", "C", "N", "N+", "O-", "O", "S", "Cl", "Br")
    ring = Chem.AddHs(Chem.MolFromSmiles("Clc1ccc(cc1)[N+](=O)[O-]"))
    AllChem.EmbedMolecule(ring, randomSeed=0)
    write_sdf([Molecule.from_rdkit(ring).to_rdkit()], tmp_path / "fragment.sdf")
    out = tmp_path / "s.sdf"
    args = ("-n", 2, "-o", out, "--model", tmp_path / "run" / "model", "--steps", 2, "--resample", 1)
    result = run("sample", "molecules", *args, "--fragment", tmp_path / "fragment.sdf", "--num-atoms", 18)
    assert result.exit_code == 0, result.output
    for mol in Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False):
        kinds = {(a.GetSymbol(), a.GetFormalCharge()) for a in mol.GetAtoms()}
        assert {("Cl", 0), ("N", 1), ("O", -1)} <= kinds
    explicit = tmp_path / "qm9_vocab.yaml"
    explicit.write_text(config.read_text().replace("model:\n", "model:\n  vocab: [H, C, N, O, F]\n"))
    result = run("train", "molecules", "--data", smi, "--out", tmp_path / "r2", "--config", explicit)
    assert result.exit_code == 2 and "leave model.vocab out" in result.stderr


def test_version_is_printed_and_written_into_every_output(tmp_path, tiny_backbone_model_dir):
    from molgen import __version__

    result = run("--version")
    assert (
        result.exit_code == 0
        and result.stdout.strip() == f"molgen {__version__}"
        and __version__ != "unknown"
    )
    out = tmp_path / "m.sdf"
    assert run("sample", "molecules", "-n", 2, "-o", out, "--steps", 2).exit_code == 0
    mols = list(Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False))
    assert all(m.GetProp("molgen_version") == __version__ for m in mols)
    designs = tmp_path / "d"
    args = ("--length", 25, "-n", 1, "--steps", 2, "--model", tiny_backbone_model_dir, "--out", designs)
    assert run("sample", "backbones", *args).exit_code == 0
    assert (designs / "design_0000.pdb").read_text().startswith(f"REMARK   1 WRITTEN BY MOLGEN {__version__}")
    assert f",{__version__}," in (designs / "manifest.csv").read_text().splitlines()[1] + ","
