import numpy as np
import pytest
from Bio.PDB import PDBParser

from molgen.datasets.backbones import load_backbone_npz, read_backbone_folder
from molgen.io.pdb import read_backbone, write_pdb
from molgen.structures.backbone import Backbone, ideal_oxygens


@pytest.fixture(scope="module")
def chains():
    return load_backbone_npz()


def test_bundled_backbones_are_continuous_chains(chains):
    assert len(chains) == 2064
    assert sum(len(c) for c in chains) == 224_806
    assert all(len(c.chain_breaks()) == 0 for c in chains[:300])


def test_ideal_oxygens_match_experimental_ones(chains):
    errors = []
    for chain in [c for c in chains if not c.metadata["o_imputed"]][:40]:
        x = chain.coords
        errors.append(np.linalg.norm(ideal_oxygens(x[:, 0], x[:, 1], x[:, 2]) - x[:, 3], axis=-1)[:-1])
    assert np.mean(np.concatenate(errors)) < 0.1


def test_pdb_round_trip_is_read_by_biopython(tmp_path, chains):
    chain = chains[0]
    path = write_pdb(chain, tmp_path / "x.pdb")
    structure = PDBParser(QUIET=True).get_structure("x", str(path))
    atoms = list(structure.get_atoms())
    assert len(atoms) == 4 * len(chain)
    assert [a.element for a in atoms[:4]] == ["N", "C", "C", "O"]
    back = read_backbone(path)
    assert back.sequence == chain.sequence and back.chain == "A"
    np.testing.assert_allclose(back.coords, chain.coords, atol=1e-3)
    assert list(back.residue_numbers[:3]) == [1, 2, 3]


def test_designs_default_to_poly_glycine(tmp_path):
    coords = np.random.default_rng(0).normal(size=(5, 4, 3))
    path = write_pdb(Backbone(coords), tmp_path / "d.pdb")
    assert {r.get_resname() for r in PDBParser(QUIET=True).get_structure("d", str(path)).get_residues()} == {
        "GLY"
    }


def test_folder_reader_splits_breaks_and_skips_corrupt_files(tmp_path, chains, caplog):
    a = chains[1]
    broken = Backbone(np.concatenate([a.coords[:30], a.coords[30:] + 20.0]), a.sequence)
    write_pdb(broken, tmp_path / "broken.pdb")
    (tmp_path / "corrupt.pdb").write_text("ATOM      1  N   GLY A   1      xx.xxx\nEND\n")
    (tmp_path / "corrupt.cif").write_text("data_bad\n_atom_site.id\n")
    pieces = read_backbone_folder(tmp_path, min_length=20)
    assert sorted(len(p) for p in pieces) == sorted([30, len(a) - 30])
    assert "unreadable" in caplog.text


@pytest.mark.parametrize(
    "coords,match", [(np.zeros((3, 3, 3)), r"\[L, 4, 3\]"), (np.full((2, 4, 3), np.nan), "non-finite")]
)
def test_backbone_rejects_bad_arrays(coords, match):
    with pytest.raises(ValueError, match=match):
        Backbone(coords)


def test_bridges_and_sheets_follow_dssp_on_real_strand_rich_chains():
    from pathlib import Path

    from molgen.io.pdb import read_backbone
    from molgen.structures.secondary_structure import bridge_partners, has_sheet, secondary_structure

    folder = Path(__file__).resolve().parents[1] / "data" / "heldout_chains"
    light = read_backbone(folder / "3ixt_L.pdb")  # an antibody light chain: an all-beta sandwich
    pairs, parallel = bridge_partners(light)
    ss = secondary_structure(light)
    assert len(pairs) > 30 and all(ss[i] == "E" and ss[j] == "E" for i, j in pairs)
    assert (pairs[:, 1] - pairs[:, 0] >= 3).all() and parallel.sum() < len(pairs) / 4  # mostly antiparallel
    assert has_sheet(light)
    mdm2 = read_backbone(folder / "1ycr_A.pdb")
    start = secondary_structure(mdm2).index("HHHHHHHHHH")  # its first helix alone: no bridges
    helix = mdm2[start : start + 10]
    assert len(bridge_partners(helix)[0]) == 0 and not has_sheet(helix)
