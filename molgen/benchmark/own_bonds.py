"""Checks of a molecule's own bonds (the bonds written in its file) and of its ring systems.

Strict own-bond protocol: the file's bonds are kekulized (an aromatic bond that does not
kekulize fails); every atom's summed bond order must equal the valence its written formal charge
allows (neutral: H 1, C 4, N 3, O 2, F 1, Cl/Br/I 1, S 2/4/6, P 3/5; a charged atom counts as its
isoelectronic neighbour, e.g. N+ 4, O- 1; see :func:`allowed_valences`); hydrogens must be atoms
of the file (no implicit hydrogens are assumed). Aromatic bonds are never summed as single and a
neutral carbon with three bonds is never accepted (shortcuts that make several published
own-bond checkers lenient). A molecule passes when every atom passes and RDKit sanitises it.

Ring systems (the plausibility check of FlowMol3, Dunn et al. 2025): rings that share an atom
form one system; substituents are dropped. A molecule is plausible when all its ring systems
occur in the training set; a molecule without rings is plausible.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from rdkit import Chem, rdBase

from molgen.structures.molecule import Molecule

_PERIODIC = Chem.GetPeriodicTable()
EXPANDED_VALENCES = {"S": (2, 4, 6), "P": (3, 5)}  # the only hypervalent atoms accepted


def allowed_valences(symbol: str, charge: int = 0) -> tuple[int, ...]:
    """Valences an atom may have with formal charge ``charge``: with ``e`` outer electrons after
    the charge, ``e`` bonds for ``e <= 4`` and ``8 - e`` otherwise (N+ 4, O+ 3, N- 2, O- 1, C- 3,
    C+ 3); neutral S and P also their expanded valences."""
    if charge == 0 and symbol in EXPANDED_VALENCES:
        return EXPANDED_VALENCES[symbol]
    electrons = _PERIODIC.GetNOuterElecs(symbol) - charge
    if electrons < 0 or electrons > 8:
        return ()
    return (electrons if electrons <= 4 else 8 - electrons,)


def strict_problem(molecule: Molecule) -> str:
    """Why ``molecule`` fails the strict own-bond protocol ("" when it passes; "no bonds" when
    its file has none)."""
    if molecule.bonds is None or len(molecule.bonds) == 0:
        return "no bonds"
    mol = Chem.RWMol(molecule.to_rdkit_raw())
    with rdBase.BlockLogs():
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
        except Exception:  # RDKit's KekulizeException and relatives
            return "aromatic bonds that do not kekulize"
    bad = []
    for atom in mol.GetAtoms():
        total = sum(bond.GetBondTypeAsDouble() for bond in atom.GetBonds()) + atom.GetNumExplicitHs()
        if total not in allowed_valences(atom.GetSymbol(), atom.GetFormalCharge()):
            bad.append(f"{atom.GetSymbol()}{atom.GetIdx()}({total:g})")
    if bad:
        return f"valence: {','.join(bad[:5])}"
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # RDKit raises several exception types here
            return "does not sanitise"
    return ""


def bond_order_matrix(molecule: Molecule) -> np.ndarray:
    """``[N, N]`` int: the file's bond orders (Kekulé; 4 = aromatic), 0 where there is no bond."""
    own = np.zeros((molecule.num_atoms, molecule.num_atoms), dtype=np.int64)
    for i, j, order in molecule.bonds if molecule.bonds is not None else ():
        own[i, j] = own[j, i] = order
    return own


def bonds_match(molecule: Molecule, orders: np.ndarray) -> bool:
    """Whether the file's bonds equal the bond-order matrix ``orders`` ``[N, N]`` (e.g. EDM's
    distance rule)."""
    return bool(np.array_equal(bond_order_matrix(molecule), orders))


def ring_systems(mol: Chem.Mol) -> set[str]:
    """Keys of the ring systems of a sanitised molecule: rings sharing an atom are one system,
    written as the canonical SMILES of its ring atoms (element, aromaticity, charge) and the bonds
    among them, without hydrogen counts (so a substituent on a ring atom does not change it)."""
    systems: list[set[int]] = []
    for ring in mol.GetRingInfo().AtomRings():
        atoms = set(ring)
        for system in [s for s in systems if s & atoms]:
            atoms |= system
            systems.remove(system)
        systems.append(atoms)
    return {_system_key(mol, sorted(atoms)) for atoms in systems}


def _system_key(mol: Chem.Mol, atoms: list[int]) -> str:
    """Canonical SMILES of ``atoms`` of ``mol`` and the bonds among them, hydrogens left out."""
    index = {a: k for k, a in enumerate(atoms)}
    part = Chem.RWMol()
    for a in atoms:
        old = mol.GetAtomWithIdx(a)
        atom = Chem.Atom(old.GetAtomicNum())
        atom.SetIsAromatic(old.GetIsAromatic())
        atom.SetFormalCharge(old.GetFormalCharge())
        atom.SetNoImplicit(True)
        part.AddAtom(atom)
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if i in index and j in index:
            part.AddBond(index[i], index[j], bond.GetBondType())
    part.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(part)
    return Chem.MolToSmiles(part, isomericSmiles=False)


def ring_systems_of_smiles(smiles: Iterable[str]) -> set[str]:
    """All ring systems of a set of molecules given as SMILES (unparsable ones skipped)."""
    out: set[str] = set()
    for text in smiles:
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(text)
        if mol is not None:
            out |= ring_systems(mol)
    return out
