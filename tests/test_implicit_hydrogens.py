"""Models with implicit hydrogens: trained on heavy-atom skeletons, RDKit adds the hydrogens."""

import dataclasses

import numpy as np
import pytest
from rdkit import Chem

from molgen.generators.molecules import MoleculeGenerator
from molgen.structures.molecule import canonical_smiles
from molgen.testing import TINY_MODEL, TINY_TRAIN
from molgen.training.trainer import MoleculeTrainer

HEAVY_VOCAB = ("C", "N", "O", "F")


def test_without_hydrogens_keeps_the_heavy_atoms_of_every_molecule(qm9_train):
    data = qm9_train.subset(range(50))
    heavy = data.without_hydrogens()
    assert len(heavy) == len(data) and (heavy.atomic_numbers != 1).all()
    for i in (0, 17, 49):
        full, skeleton = data.molecule(i), heavy.molecule(i)
        keep = [k for k, s in enumerate(full.symbols) if s != "H"]
        assert skeleton.symbols == [full.symbols[k] for k in keep]
        np.testing.assert_array_equal(skeleton.pos, full.pos[keep])


def test_an_implicit_hydrogen_model_must_not_have_hydrogen_in_its_vocabulary():
    with pytest.raises(ValueError, match="must not have H"):
        dataclasses.replace(TINY_MODEL, vocab=("H", "C"), hydrogens="implicit")
    with pytest.raises(ValueError, match="'explicit' or 'implicit'"):
        dataclasses.replace(TINY_MODEL, hydrogens="some")


def test_adding_hydrogens_to_real_skeletons_recovers_the_molecules(qm9_test):
    """Calibration of the heavy-atom -> RDKit path on real QM9 geometries."""
    from molgen.benchmark.edm import atom_stability
    from molgen.structures.bond_lengths import bond_orders

    data = qm9_test.subset(range(200))
    heavy = data.without_hydrogens()
    same = stable = 0
    for i in range(len(data)):
        mol = heavy.molecule(i).to_rdkit_adding_hydrogens()
        full = data.molecule(i)
        symbols, pos = [a.GetSymbol() for a in mol.GetAtoms()], mol.GetConformer().GetPositions()
        stable += atom_stability(symbols, bond_orders(symbols, pos)).all()  # EDM protocol, placed H
        if mol.GetIntProp("valid"):
            assert mol.GetNumAtoms() == Chem.AddHs(Chem.MolFromSmiles(mol.GetProp("smiles"))).GetNumAtoms()
            assert np.isfinite(mol.GetConformer().GetPositions()).all()
            same += canonical_smiles(mol, isomeric=False) == canonical_smiles(full.to_rdkit(), isomeric=False)
    assert same >= 0.8 * len(data)  # measured 88 % on 1,000 test molecules (EDM's bond rule)
    assert stable >= 0.9 * len(data)  # measured 97.8 % on 1,000 (real hydrogens: 95.2 %)


def test_an_implicit_hydrogen_model_trains_and_samples_molecules_with_hydrogens(tmp_path, qm9_train):
    config = dataclasses.replace(TINY_MODEL, vocab=HEAVY_VOCAB, hydrogens="implicit")
    trainer = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, config, TINY_TRAIN)
    assert max(trainer.stats.num_atoms_hist) <= 9  # QM9 has at most 9 heavy atoms
    gen = MoleculeGenerator.from_pretrained(trainer.train())
    mols = gen.sample(8, num_atoms=6, steps=3, seed=0)
    for mol in mols:
        heavy = [a for a in mol.GetAtoms() if a.GetSymbol() != "H"]
        assert len(heavy) == 6
        has_h = any(a.GetSymbol() == "H" for a in mol.GetAtoms())
        assert has_h == bool(mol.GetIntProp("valid"))  # valid molecules get their hydrogens


def test_collapsed_heavy_atoms_are_invalid_and_get_no_hydrogens():
    from molgen.structures.molecule import Molecule

    mol = Molecule(
        ["C", "C", "O"], np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]])
    ).to_rdkit_adding_hydrogens()
    assert mol.GetIntProp("valid") == 0 and mol.GetNumAtoms() == 3


def test_the_bundled_heavy_atom_model_samples_connected_molecules_with_hydrogens(tmp_path):
    """`molgen sample molecules --model qm9-heavy` as in its model card (a quality floor that can fail)."""
    from typer.testing import CliRunner

    from molgen.cli import app

    out = tmp_path / "heavy.sdf"
    args = ["sample", "molecules", "--model", "qm9-heavy", "-n", "64", "-o", str(out), "--seed", "0"]
    result = CliRunner().invoke(app, [*args, "--sampler", "ancestral", "--steps", "100"])
    assert result.exit_code == 0, result.output
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))  # sanitised on reading
    valid = [m for m in mols if m is not None and m.GetIntProp("valid")]
    connected = [m for m in valid if "." not in m.GetProp("smiles")]
    assert all(any(a.GetSymbol() == "H" for a in m.GetAtoms()) for m in valid)
    assert all(sum(a.GetSymbol() != "H" for a in m.GetAtoms()) <= 9 for m in valid)
    assert len(connected) >= 0.5 * len(mols), (len(valid), len(connected))  # measured 46 of 64 (step 79,000)
