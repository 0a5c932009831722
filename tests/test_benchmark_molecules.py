import json

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem
from typer.testing import CliRunner

from molgen.benchmark.molecules import benchmark_molecules, reference_smiles_from_molecules, score_molecule
from molgen.cli import app
from molgen.io.sdf import write_sdf
from molgen.structures.bond_lengths import bond_orders
from molgen.structures.molecule import Molecule


def embedded(smiles, seed=0, keep_bonds=False):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(mol)
    molecule = Molecule.from_rdkit(mol)
    if not keep_bonds:
        molecule.bonds = None  # score from coordinates, like a model without bonds
    return molecule


def sdf_of(smiles, path):
    """An SDF of MMFF-optimised conformers of ``smiles`` (bonds perceived from coordinates)."""
    write_sdf((embedded(smi).to_rdkit() for smi in smiles), path)
    return path


def test_calibration_real_qm9_reproduces_edm_data_figures(qm9_train, qm9_test):
    """EDM (Hoogeboom et al. 2022, Table 1, 'Data'): 99.0 % atom / 95.2 % molecule stability,
    97.7 % validity; within 0.5 points on the 4,000 bundled QM9 molecules."""
    molecules = [d.molecule(i) for d in (qm9_train, qm9_test) for i in range(len(d))]
    metrics = benchmark_molecules(molecules, bonds="coordinates").metrics  # EDM's protocol
    assert abs(100 * metrics["atom_stability"]["value"] - 99.0) < 0.5
    assert abs(100 * metrics["molecule_stability"]["value"] - 95.2) < 0.5
    assert abs(100 * metrics["validity_largest_fragment"]["value"] - 97.7) < 0.5
    assert metrics["molecule_stability"]["denominator"] == 4000


def test_edm_bond_rule_matches_the_tables():
    # C-C at 1.53 A: single (< 1.64); at 1.33 A: double (< 1.39); at 1.20 A: triple (< 1.23)
    for dist, order in [(1.53, 1), (1.33, 2), (1.20, 3), (1.70, 0)]:
        assert bond_orders(["C", "C"], np.array([[0, 0, 0], [dist, 0, 0]]))[0, 1] == order
    # no double bonds exist for H: a short C-H stays single
    assert bond_orders(["C", "H"], np.array([[0, 0, 0], [0.9, 0, 0]]))[0, 1] == 1


def test_a_real_molecule_is_stable_valid_connected():
    s = score_molecule(0, embedded("CC(=O)O"))
    assert (s.stable, s.valid, s.connected, s.smiles) == (True, True, True, "CC(=O)O")
    assert s.atoms_stable == s.num_atoms == 8


def test_a_radical_is_unstable():
    ethyl = embedded("CC")
    keep = [i for i, sym in enumerate(ethyl.symbols) if i != len(ethyl.symbols) - 1]  # drop one H
    radical = Molecule([ethyl.symbols[i] for i in keep], ethyl.pos[keep])
    s = score_molecule(0, radical)
    assert not s.stable and s.atoms_stable == s.num_atoms - 1
    assert "unstable atoms C" in s.problem


def test_a_pentavalent_carbon_is_unstable_and_invalid():
    methane = embedded("C")
    extra = methane.pos[0] + np.array([0.0, 0.0, 1.05])  # a fifth H 1.05 A from C
    mol = Molecule(methane.symbols + ["H"], np.vstack([methane.pos, extra]))
    s = score_molecule(0, mol)
    assert not s.stable and not s.valid and "sanitisation" in s.problem


def test_two_fragments_are_valid_but_not_connected():
    a, b = embedded("O"), embedded("C")
    mol = Molecule(a.symbols + b.symbols, np.vstack([a.pos, b.pos + 10.0]))
    s = score_molecule(0, mol)
    assert s.valid and s.valid_largest and not s.connected and s.fragments == 2
    assert s.smiles == "C"  # largest fragment (5 atoms vs 3)


def test_duplicates_lower_uniqueness_and_training_molecules_are_not_novel():
    mols = [embedded("CCO", seed=1), embedded("CCO", seed=2), embedded("CCN"), embedded("c1ccccc1")]
    reference = reference_smiles_from_molecules([embedded("CCN")])
    metrics = benchmark_molecules(mols, reference).metrics
    assert metrics["uniqueness"]["numerator"] == 3 and metrics["uniqueness"]["denominator"] == 4
    assert metrics["novelty"]["numerator"] == 2 and metrics["novelty"]["denominator"] == 3


def test_file_bonds_are_used_when_present():
    s = score_molecule(0, embedded("C=CC", keep_bonds=True))
    assert s.bonds_from == "file" and s.valid


def test_unreadable_records_count_as_failures():
    result = benchmark_molecules([None, embedded("CO")])
    metrics, scores = result.metrics, result.scores
    assert scores[0].problem == "unreadable record"
    assert metrics["validity"]["numerator"] == 1 and metrics["validity"]["denominator"] == 2


def test_benchmark_cli_prints_table_and_writes_json_and_csv(tmp_path):
    sdf = sdf_of(("CCO", "CC(=O)N", "CCO"), tmp_path / "in.sdf")
    ref = tmp_path / "ref.smi"
    ref.write_text("CCO\n")
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "molecules",
            str(sdf),
            "--reference",
            str(ref),
            "--json",
            str(tmp_path / "m.json"),
            "--csv",
            str(tmp_path / "m.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| molecule stability (EDM) | 100.00 % | 3 / 3 |" in result.stdout
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["metrics"]["novelty"]["numerator"] == 1 and data["records"] == 3
    assert (tmp_path / "m.csv").read_text().count("\n") == 4


@pytest.mark.parametrize("content", [None, ""])
def test_benchmark_cli_missing_or_empty_file_exits_2(tmp_path, content):
    path = tmp_path / "x.sdf"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(app, ["benchmark", "molecules", str(path)])
    assert result.exit_code == 2 and result.stderr.startswith("error:")


def test_distribution_metrics_of_real_data_against_itself_and_a_distortion(qm9_train, qm9_test):
    from collections import Counter

    from molgen.benchmark.distributions import DistributionStats, total_variation, wasserstein_hist
    from molgen.benchmark.molecules import reference_distributions

    ref = reference_distributions(qm9_train.molecule(i) for i in range(500))
    real = benchmark_molecules([qm9_test.molecule(i) for i in range(300)], reference_stats=ref).distances
    stretched = DistributionStats()
    for i in range(300):
        m = qm9_test.molecule(i)
        stretched.add(m.symbols, m.pos * 1.04)  # every bond 4 % too long
    distorted = stretched.compare(ref)
    assert real["bond_w1_mean"] < 0.005 and real["clash_free"] > 0.98 and real["atom_type_tv"] < 0.05
    assert distorted["bond_w1_mean"] > 5 * real["bond_w1_mean"]
    hist = np.array([0.0, 1.0, 0.0])
    assert wasserstein_hist(hist, np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 2.0, 3.0])) == 1.0
    assert (
        total_variation(Counter("aab"), Counter("aab")) == 0
        and total_variation(Counter("a"), Counter("b")) == 1
    )


def test_clashes_are_found_between_non_bonded_atoms():
    a, b = embedded("C"), embedded("C")
    mol = Molecule(a.symbols + b.symbols, np.vstack([a.pos, b.pos + np.array([1.9, 0.0, 0.0])]))
    s = score_molecule(0, mol)
    assert s.clashes > 0 and "clashing pairs" in s.problem
    assert score_molecule(0, embedded("CCCC")).clashes == 0


def test_benchmark_cli_plot(tmp_path):
    pytest.importorskip("matplotlib")
    sdf = sdf_of(("CCO", "CC(=O)N"), tmp_path / "in.sdf")
    ref = tmp_path / "ref.smi"
    ref.write_text("CCO\n")
    args = ["benchmark", "molecules", str(sdf), "--reference", str(ref), "--plot", str(tmp_path / "p.png")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_benchmark_cli_fcd_and_posebusters(tmp_path):
    pytest.importorskip("fcd")
    pytest.importorskip("posebusters")
    sdf = sdf_of(("CCO", "CC(=O)N", "c1ccccc1O"), tmp_path / "in.sdf")
    ref = tmp_path / "ref.smi"
    ref.write_text("CCO\nCCN\nCC(C)O\nc1ccccc1\n")
    args = [
        "benchmark",
        "molecules",
        str(sdf),
        "--reference",
        str(ref),
        "--fcd",
        "--posebusters",
        2,
        "--json",
        str(tmp_path / "m.json"),
    ]
    result = CliRunner().invoke(app, list(map(str, args)))
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["distances"]["fcd"] > 0
    assert data["metrics"]["posebusters_pass"]["denominator"] == 2
    assert data["metrics"]["posebusters_pass"]["numerator"] == 2  # force-field geometries pass


def test_bond_source_can_be_forced():
    nitro = embedded("C[N+](=O)[O-]", keep_bonds=True)
    assert score_molecule(0, nitro, bonds="file").valid  # charges kept with the file's bonds
    assert score_molecule(0, nitro, bonds="coordinates").bonds_from == "coordinates"
    with pytest.raises(ValueError, match="unknown bond source"):
        score_molecule(0, nitro, bonds="guess")


def test_a_file_without_a_readable_record_is_an_error_and_empty_metrics_print_as_na(tmp_path):
    from molgen.benchmark.report import distance_table, markdown_table, value_table

    bad = tmp_path / "bad.sdf"
    bad.write_text("this is not a molfile\n$$$$\nnor this\n$$$$\n")
    result = CliRunner().invoke(app, ["benchmark", "molecules", str(bad)])
    assert result.exit_code == 2 and "no readable molecule record" in result.stderr
    assert "Traceback" not in result.output
    nan = float("nan")
    assert "| uniqueness (of valid) | n/a | 0 / 0 |" in markdown_table(
        {"uniqueness": {"value": nan, "numerator": 0, "denominator": 0}}
    )
    assert "| internal_diversity | n/a |" in distance_table({"internal_diversity": nan})
    assert "| helix_% | n/a |" in value_table({"helix_%": nan})
