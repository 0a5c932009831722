"""Backbone geometry measures and `molgen benchmark backbones`, calibrated on real chains."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from molgen.benchmark.backbones import BackboneReference, benchmark_backbones
from molgen.cli import app
from molgen.io.pdb import write_pdb
from molgen.structures.backbone import Backbone
from molgen.structures.backbone_geometry import dihedral, measure, residues_within_tolerance
from molgen.structures.backbone_quality import count_clashes, helix_handedness, score_backbone
from molgen.structures.secondary_structure import secondary_structure

runner = CliRunner()


@pytest.fixture(scope="module")
def sample_chains(real_chains):
    """20 real chains of 50-128 residues."""
    return [c for c in real_chains if 50 <= len(c) <= 128][:20]


@pytest.fixture(scope="module")
def reference(real_chains):
    return BackboneReference.from_backbones(real_chains[:300])


def mirrored(chain: Backbone) -> Backbone:
    return Backbone(chain.coords * np.array([1.0, 1.0, -1.0]))


def test_dihedral_sign_convention():
    a, b, c = np.array([1.0, 0, 0]), np.zeros(3), np.array([0, 1.0, 0])
    assert dihedral(a, b, c, np.array([1.0, 1.0, 1.0])) == pytest.approx(-45.0)
    assert dihedral(a, b, c, np.array([1.0, 1.0, 0.0])) == pytest.approx(0.0)


def test_real_chains_score_as_real(sample_chains, reference):
    result = benchmark_backbones(sample_chains, reference, novelty_reference=0, diversity=True)
    m = result.metrics
    assert m["geometry_ok_residues_%"] > 95.0  # 97.2 % on these 20; 99.1 % on 100 (docs)
    assert m["without_chain_breaks_%"] == 100.0 and m["clash_free_%"] == 100.0
    assert m["right_handed_helices_%"] == 100.0
    assert 0.8 < m["rg_ratio_mean"] < 1.2
    assert m["pairwise_tm_mean"] < 0.5  # unrelated proteins
    assert abs(m["helix_plus_strand_%"] - m["reference_helix_plus_strand_%"]) < 20


def test_mirror_images_have_left_handed_helices(sample_chains):
    helical = max(sample_chains, key=lambda c: secondary_structure(c).count("H"))
    right, total = helix_handedness(helical, secondary_structure(helical))
    assert total > 0 and right == total
    image = mirrored(helical)
    right, total_image = helix_handedness(image, secondary_structure(image))
    assert right == 0  # mirrored helices are left-handed (DSSP may not even call them helices)
    # bond lengths and angles do not change under mirroring: geometry scores the same
    np.testing.assert_array_equal(
        residues_within_tolerance(image.coords), residues_within_tolerance(helical.coords)
    )


def test_a_chain_folded_onto_itself_clashes_and_a_stretched_one_breaks(sample_chains):
    chain = sample_chains[0]
    squashed = Backbone(chain.coords * 0.3)
    assert count_clashes(squashed) > 0 and count_clashes(chain) == 0
    stretched = Backbone(chain.coords * 1.5)
    assert score_backbone(stretched)["chain_breaks"] == len(chain) - 1
    assert residues_within_tolerance(stretched.coords).mean() == 0.0


def test_geometry_measures_match_ideal_values_on_real_data(sample_chains):
    m = measure(np.concatenate([c.coords for c in sample_chains[:1]]))
    assert abs(np.median(m["N-CA"]) - 1.458) < 0.02 and abs(np.median(m["C-N"]) - 1.329) < 0.02
    assert abs(np.median(m["CA-CA"]) - 3.80) < 0.05


def test_novelty_of_training_chains_is_one(sample_chains, real_chains):
    reference = BackboneReference.from_backbones(sample_chains)
    result = benchmark_backbones(sample_chains[:3], reference, novelty_reference=64, diversity=False)
    assert result.metrics["novelty_max_tm_mean"] == pytest.approx(1.0, abs=1e-3)


def test_cli_benchmark_backbones(tmp_path, sample_chains):
    folder = tmp_path / "designs"
    folder.mkdir()
    for i, chain in enumerate(sample_chains[:4]):
        write_pdb(Backbone(chain.coords), folder / f"d{i}.pdb")
    args = [
        "benchmark",
        "backbones",
        str(folder),
        "--novelty-reference",
        "4",
        "--json",
        str(tmp_path / "m.json"),
    ]
    result = runner.invoke(app, [*args, "--csv", str(tmp_path / "rows.csv")])
    assert result.exit_code == 0, result.output
    assert "geometry_ok_residues_%" in result.output
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert metrics["designs"] == 4 and metrics["clash_free_%"] == 100.0
    assert (tmp_path / "rows.csv").read_text().startswith("file,length,geometry_ok")


def test_cli_benchmark_backbones_bad_input(tmp_path):
    result = runner.invoke(app, ["benchmark", "backbones", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "is not a folder" in result.output
    result = runner.invoke(app, ["benchmark", "backbones", str(tmp_path)])
    assert result.exit_code == 2 and "no PDB/mmCIF files" in result.output
