import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen.datasets.molecules import load_molecule_file
from molgen.io.sdf import SDFWriter, read_sdf
from molgen.io.smiles import read_smiles
from molgen.structures.molecule import Molecule


def embedded(smiles, seed=0):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    return mol


def test_molecule_round_trips_through_rdkit():
    mol = embedded("OC1=CC=CC=C1")
    molecule = Molecule.from_rdkit(mol)
    back = molecule.to_rdkit()
    assert back.GetIntProp("valid") == 1
    assert back.GetProp("smiles") == "Oc1ccccc1"
    np.testing.assert_allclose(back.GetConformer().GetPositions(), mol.GetConformer().GetPositions())


def test_bonds_are_perceived_from_coordinates_for_real_qm9(qm9_test):
    mols = [qm9_test.molecule(i).to_rdkit() for i in range(200)]
    valid = sum(m.GetIntProp("valid") for m in mols)
    assert valid == 200  # real DFT geometries: bonds are recoverable
    pairs = [
        (m.GetProp("smiles"), ref) for m, ref in zip(mols, qm9_test.smiles[:200]) if m.GetIntProp("valid")
    ]
    ours = [Chem.CanonSmiles(a, useChiral=False) for a, _ in pairs]
    ref = [Chem.CanonSmiles(b, useChiral=False) for _, b in pairs]
    # a few QM9 SMILES (from GDB) disagree with the relaxed DFT geometry; most must match
    assert sum(a == b for a, b in zip(ours, ref)) >= 180


def test_nonsense_geometry_is_flagged_invalid():
    # two carbons 0.6 A apart plus stray hydrogens: no consistent bond orders
    mol = Molecule(["C", "C", "H", "H"], [[0, 0, 0], [0.6, 0, 0], [3, 0, 0], [6, 0, 0]]).to_rdkit()
    assert mol.GetIntProp("valid") == 0 and mol.GetProp("smiles") == ""


def test_molecule_rejects_bad_shapes_and_nan():
    with pytest.raises(ValueError, match="symbols"):
        Molecule(["C", "H"], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        Molecule(["C"], [[np.nan, 0, 0]])


def test_sdf_writer_and_reader_round_trip(tmp_path):
    path = tmp_path / "out.sdf"
    mols = [embedded(s) for s in ["CCO", "c1ccncc1", "CC(=O)N"]]
    with SDFWriter(path) as writer:
        for i, m in enumerate(mols):
            m.SetIntProp("index", i)
            writer.write(m)
    back = list(read_sdf(path))
    assert [m.num_atoms for m in back] == [m.GetNumAtoms() for m in mols]
    assert [m.props["index"] for m in back] == [0, 1, 2]
    np.testing.assert_allclose(back[1].pos, mols[1].GetConformer().GetPositions(), atol=1e-4)


def test_sdf_writer_leaves_no_file_when_interrupted(tmp_path):
    path = tmp_path / "out.sdf"
    with pytest.raises(RuntimeError), SDFWriter(path) as writer:
        writer.write(embedded("CCO"))
        raise RuntimeError("killed mid-way")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_sdf_writer_rejects_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        SDFWriter(tmp_path / "nope" / "out.sdf")


def test_corrupt_sdf_records_are_skipped_with_a_warning(tmp_path, caplog):
    good = Chem.MolToMolBlock(embedded("CCO"))
    lines = good.splitlines()
    lines[4] = lines[4][:10] + "xx" + lines[4][12:]  # corrupt one coordinate
    bad = "\n".join(lines) + "\n"
    path = tmp_path / "mixed.sdf"
    path.write_text(good + "$$$$\n" + bad + "$$$$\n" + good + "$$$$\n")
    assert len(list(read_sdf(path))) == 2
    assert "skipped 1" in caplog.text


def test_sdf_with_nothing_usable_is_an_error(tmp_path):
    path = tmp_path / "bad.sdf"
    path.write_text("garbage\n$$$$\n")
    with pytest.raises(ValueError, match="no readable molecules"):
        list(read_sdf(path))
    with pytest.raises(ValueError, match="does not exist"):
        list(read_sdf(tmp_path / "missing.sdf"))


def test_smiles_file_skips_bad_lines_and_embeds(tmp_path, caplog):
    path = tmp_path / "in.smi"
    path.write_text("smiles\nCCO ethanol\nC1CC\n# comment\nc1ccccc1\n")
    assert len(list(read_smiles(path))) == 2
    assert "skipped 1" in caplog.text
    packed = load_molecule_file(path)
    assert len(packed) == 2
    assert list(packed.num_atoms) == [9, 12]  # explicit hydrogens added
    assert np.isfinite(packed.pos).all()


def test_collapsed_geometry_is_invalid_without_crashing_rdkit():
    rng = np.random.default_rng(0)
    symbols = ["C"] * 6 + ["H"] * 10
    mol = Molecule(symbols, rng.normal(scale=0.01, size=(16, 3))).to_rdkit()
    assert mol.GetIntProp("valid") == 0


def test_formal_charges_survive_an_sdf_round_trip(tmp_path):
    nitro = embedded("C[N+](=O)[O-]")
    path = tmp_path / "n.sdf"
    with SDFWriter(path) as writer:
        writer.write(nitro)
    back = next(read_sdf(path))
    assert sorted(back.charges.tolist()) == [-1, 0, 0, 0, 0, 0, 1]
    assert back.to_rdkit().GetIntProp("valid") == 1


def test_table_rows_with_a_new_column_keep_the_old_rows(tmp_path):
    from molgen.io.tables import read_rows, write_rows

    path = tmp_path / "validation.csv"
    write_rows([{"step": 1, "score": 0.5}], path)
    write_rows([*read_rows(path), {"step": 2, "score": 0.25, "strand_kept_3.3A": 0.125}], path)
    assert read_rows(path) == [
        {"step": "1", "score": "0.5000", "strand_kept_3.3A": ""},
        {"step": "2", "score": "0.2500", "strand_kept_3.3A": "0.1250"},
    ]
