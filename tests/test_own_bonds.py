"""The strict own-bond protocol and the ring-system plausibility check."""

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen.benchmark.molecules import benchmark_molecules
from molgen.benchmark.own_bonds import allowed_valences, bonds_match, ring_systems, strict_problem
from molgen.structures.bond_lengths import bond_orders
from molgen.structures.molecule import Molecule


def with_bonds(smiles: str, kekulize: bool = True) -> Molecule:
    """An embedded molecule that keeps the bonds of its SMILES (all hydrogens as atoms)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    if not kekulize:  # keep aromatic bonds as such (Molecule.from_rdkit would kekulize them)
        pos = mol.GetConformer().GetPositions()
        order = {Chem.BondType.AROMATIC: 4, Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2}
        bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), order[b.GetBondType()]) for b in mol.GetBonds()]
        charges = [a.GetFormalCharge() for a in mol.GetAtoms()]
        return Molecule([a.GetSymbol() for a in mol.GetAtoms()], pos, np.array(bonds), charges=charges)
    return Molecule.from_rdkit(mol)


def test_allowed_valences_follow_the_charge():
    assert allowed_valences("C") == (4,) and allowed_valences("H") == (1,) and allowed_valences("F") == (1,)
    assert allowed_valences("N", 1) == (4,) and allowed_valences("O", -1) == (1,)
    assert allowed_valences("N", -1) == (2,) and allowed_valences("C", -1) == (3,)
    assert allowed_valences("S") == (2, 4, 6) and allowed_valences("Cl") == (1,)


@pytest.mark.parametrize("smiles", ["CCO", "c1ccccc1O", "C[NH3+]", "CC(=O)[O-]", "CS(=O)(=O)C", "c1cc[nH]c1"])
def test_real_molecules_pass_in_kekule_and_aromatic_form(smiles):
    assert strict_problem(with_bonds(smiles)) == ""
    assert strict_problem(with_bonds(smiles, kekulize=False)) == ""


def test_the_lenient_shortcuts_fail():
    benzene = with_bonds("c1ccccc1")
    single = Molecule(benzene.symbols, benzene.pos, np.array([(i, j, 1) for i, j, _ in benzene.bonds]))
    assert "valence: C" in strict_problem(single)  # aromatic summed as single: neutral C with 3 bonds
    ammonium = with_bonds("C[NH3+]")
    assert "valence: N" in strict_problem(
        Molecule(ammonium.symbols, ammonium.pos, ammonium.bonds)
    )  # no charge
    pentavalent = with_bonds("CC")
    bonds = pentavalent.bonds.copy()
    bonds[0, 2] = 2  # C=C with six hydrogens
    assert "valence" in strict_problem(Molecule(pentavalent.symbols, pentavalent.pos, bonds))
    assert strict_problem(Molecule(["C"], np.zeros((1, 3)))) == "no bonds"


def test_bonds_match_compares_with_a_bond_order_matrix():
    ethanol = with_bonds("CCO")
    orders = bond_orders(ethanol.symbols, ethanol.pos)
    assert bonds_match(ethanol, orders)
    orders[0, 1] = orders[1, 0] = 2
    assert not bonds_match(ethanol, orders)


def test_ring_systems_fuse_shared_atoms_and_drop_substituents():
    keys = {
        s: ring_systems(Chem.MolFromSmiles(s)) for s in ("c1ccccc1C", "c1ccccc1", "Cn1cccc1", "c1cc[nH]c1")
    }
    assert keys["c1ccccc1C"] == keys["c1ccccc1"] and keys["Cn1cccc1"] == keys["c1cc[nH]c1"]
    assert len(ring_systems(Chem.MolFromSmiles("c1ccc2c(c1)C2"))) == 1  # fused: one system
    assert len(ring_systems(Chem.MolFromSmiles("C1CC1CC1CC1"))) == 1  # two identical systems
    assert ring_systems(Chem.MolFromSmiles("CCO")) == set()
    assert ring_systems(Chem.AddHs(Chem.MolFromSmiles("c1ccccc1"))) == keys["c1ccccc1"]


def test_benchmark_reports_own_bond_and_ring_metrics():
    molecules = [with_bonds("c1ccccc1C"), with_bonds("c1ccc2c(c1)C2"), with_bonds("CCO")]
    reference = ring_systems(Chem.MolFromSmiles("c1ccccc1"))
    metrics = benchmark_molecules(molecules, ring_reference=reference).metrics
    assert metrics["strict_validity"]["numerator"] == 3
    assert metrics["ring_systems_known"]["numerator"] == 2  # the fused cyclopropane is not known
    assert metrics["ring_systems_known"]["denominator"] == 3
    assert "strict_validity" not in benchmark_molecules([Molecule(["C"], np.zeros((1, 3)))]).metrics


def test_calibration_real_qm9_with_rdkit_bonds_passes_the_strict_protocol(qm9_test):
    molecules = [Molecule.from_rdkit(qm9_test.molecule(i).to_rdkit()) for i in range(300)]
    passed = sum(strict_problem(m) == "" for m in molecules)
    assert passed >= 0.99 * len(molecules)
