"""The Molecule domain object and its conversion to and from RDKit."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import rdDetermineBonds, rdForceFieldHelpers
from rdkit.Geometry import Point3D
from torch_geometric.data import Data

from molgen.structures.bond_lengths import bond_orders

logger = logging.getLogger("molgen")
_PT = Chem.GetPeriodicTable()

_BOND_TYPES = {
    1: Chem.BondType.SINGLE,
    2: Chem.BondType.DOUBLE,
    3: Chem.BondType.TRIPLE,
    4: Chem.BondType.AROMATIC,
}


@dataclass
class Molecule:
    """A 3D molecule: elements, coordinates and (optionally) bonds.

    Attributes:
        symbols: element symbols, length ``num_atoms``.
        pos: coordinates in Angstrom, ``[num_atoms, 3]``.
        bonds: optional ``[num_bonds, 3]`` int array of ``(i, j, order)`` with order
            1/2/3 (4 = aromatic). ``None`` means bonds are perceived from coordinates.
        props: free-form properties written as SD tags.
        charges: optional ``[num_atoms]`` int formal charges (kept with file bonds).
    """

    symbols: list[str]
    pos: np.ndarray
    bonds: np.ndarray | None = None
    props: dict = field(default_factory=dict)
    charges: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.pos = np.asarray(self.pos, dtype=np.float64).reshape(-1, 3)
        if len(self.symbols) != len(self.pos):
            raise ValueError(f"{len(self.symbols)} symbols but {len(self.pos)} positions")
        if not np.isfinite(self.pos).all():
            raise ValueError("molecule has non-finite coordinates")
        if self.charges is not None:
            self.charges = np.asarray(self.charges, dtype=np.int64).reshape(-1)
            if len(self.charges) != len(self.symbols):
                raise ValueError(f"{len(self.charges)} charges for {len(self.symbols)} atoms")

    @property
    def num_atoms(self) -> int:
        return len(self.symbols)

    # ----------------------------------------------------------------- PyG
    def to_pyg(self) -> Data:
        """A ``torch_geometric.data.Data`` with ``pos`` ``[N, 3]`` float32 (Angstrom), ``z`` ``[N]``
        atomic numbers and, when the bonds are known, ``edge_index`` ``[2, 2B]`` (both
        directions) with ``edge_attr`` ``[2B]`` bond orders; ``charge`` ``[N]`` when charged."""
        data = Data(
            pos=torch.as_tensor(self.pos, dtype=torch.float32),
            z=torch.tensor([_PT.GetAtomicNumber(s) for s in self.symbols], dtype=torch.long),
        )
        if self.bonds is not None:
            i, j, order = torch.as_tensor(self.bonds, dtype=torch.long).T
            data.edge_index = torch.stack([torch.cat([i, j]), torch.cat([j, i])])
            data.edge_attr = torch.cat([order, order])
        if self.charges is not None:
            data.charge = torch.as_tensor(self.charges, dtype=torch.long)
        return data

    @classmethod
    def from_pyg(cls, data: Data) -> Molecule:
        """Molecule from a PyG ``Data`` with ``pos`` and ``z`` (atomic numbers); bonds from
        ``edge_index`` + ``edge_attr`` (each bond once or in both directions; ``[E]`` orders, or
        ``[E, K]`` one-hot over single, double, triple, aromatic as in PyG's QM9) and formal
        charges from ``charge`` when present."""
        if getattr(data, "pos", None) is None or getattr(data, "z", None) is None:
            raise ValueError("a PyG molecule needs pos [N, 3] and z [N] (atomic numbers)")
        symbols = [_PT.GetElementSymbol(int(z)) for z in data.z]
        bonds = None
        if getattr(data, "edge_index", None) is not None and getattr(data, "edge_attr", None) is not None:
            i, j = data.edge_index
            attr = data.edge_attr.reshape(len(i), -1)
            order = attr.argmax(1) + 1 if attr.shape[1] > 1 else attr[:, 0]
            keep = i < j
            bonds = torch.stack([i[keep], j[keep], order[keep].long()], 1).numpy()
        charges = getattr(data, "charge", None)
        return cls(
            symbols,
            data.pos.detach().double().numpy(),
            bonds,
            {},
            None if charges is None else charges.numpy(),
        )

    # ----------------------------------------------------------------- RDKit
    @classmethod
    def from_rdkit(cls, mol: Chem.Mol, conf_id: int = -1) -> Molecule:
        """Molecule from an RDKit Mol with a 3D conformer (bonds kept, Kekulé form)."""
        if mol.GetNumConformers() == 0:
            raise ValueError("RDKit molecule has no conformer")
        mol = Chem.Mol(mol)
        with contextlib.suppress(Chem.KekulizeException):
            Chem.Kekulize(mol, clearAromaticFlags=True)
        pos = mol.GetConformer(conf_id).GetPositions()
        symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        bonds = np.array(
            [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), _order(b.GetBondType())) for b in mol.GetBonds()],
            dtype=np.int64,
        ).reshape(-1, 3)
        props = {k: v for k, v in mol.GetPropsAsDict().items() if not k.startswith("_")}
        charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=np.int64)
        return cls(symbols, pos, bonds, props, charges if charges.any() else None)

    def to_rdkit_raw(self) -> Chem.Mol:
        """RDKit Mol with the atoms, ``self.bonds`` (if any) and one conformer; no perception,
        no sanitisation, no properties."""
        rw = Chem.RWMol()
        conf = Chem.Conformer(self.num_atoms)
        for i, (sym, xyz) in enumerate(zip(self.symbols, self.pos)):
            atom = Chem.Atom(sym)
            if self.charges is not None:
                atom.SetFormalCharge(int(self.charges[i]))
            rw.AddAtom(atom)
            conf.SetAtomPosition(i, Point3D(*map(float, xyz)))
        rw.AddConformer(conf, assignId=True)
        for i, j, order in self.bonds if self.bonds is not None else ():
            rw.AddBond(int(i), int(j), _BOND_TYPES[int(order)])
        return rw.GetMol()

    def to_rdkit(self) -> Chem.Mol:
        """RDKit Mol with one 3D conformer.

        Bonds come from ``self.bonds`` when present (then the atoms are all the molecule has:
        RDKit adds no implicit hydrogens, so an atom short of its valence is a radical and
        invalid); otherwise they are perceived from
        coordinates with ``rdDetermineBonds.DetermineBonds`` (neutral total charge). If
        bond orders cannot be assigned, only connectivity is kept and the returned
        molecule carries the property ``valid = 0``; otherwise ``valid`` is 1 when RDKit
        sanitisation succeeds. The canonical SMILES is stored as ``smiles``.
        """
        mol, perceived_ok = self.to_rdkit_raw(), True
        if self.bonds is not None:
            for atom in mol.GetAtoms():
                atom.SetNoImplicit(True)
        else:
            if _plausible_for_bond_perception(self.symbols, self.pos):
                mol, perceived_ok = _perceive_bonds(mol)
            else:
                perceived_ok = False
        return self._with_properties(mol, perceived_ok and _is_valid(mol))

    def to_rdkit_adding_hydrogens(self) -> Chem.Mol:
        """RDKit Mol of a heavy-atom molecule (from a model with implicit hydrogens), with the
        hydrogens added in 3D.

        Bonds come from ``self.bonds`` when present, otherwise from interatomic distances by
        EDM's rule (:func:`molgen.structures.bond_lengths.bond_orders`); sanitisation gives every atom the
        hydrogens its default valence leaves free; ``AddHs(addCoords=True)`` places them and a
        short UFF minimisation of the hydrogens alone (heavy atoms fixed) moves them off
        crowded spots. ``valid`` and ``smiles`` as in :meth:`to_rdkit` (a collapsed geometry is
        invalid); an invalid molecule keeps its heavy atoms only.
        """
        bonds, plausible = self.bonds, True
        if bonds is None:
            plausible = _plausible_for_bond_perception(self.symbols, self.pos)
            orders = bond_orders(self.symbols, self.pos)
            i, j = np.nonzero(np.triu(orders))
            bonds = np.stack([i, j, orders[i, j]], -1)
        mol = Molecule(self.symbols, self.pos, bonds, charges=self.charges).to_rdkit_raw()
        valid = plausible and _is_valid(mol)
        if valid:
            with rdBase.BlockLogs():
                Chem.SanitizeMol(mol)
                mol = Chem.AddHs(mol, addCoords=True)
                _relax_hydrogens(mol)
        return self._with_properties(mol, valid)

    def _with_properties(self, mol: Chem.Mol, valid: bool) -> Chem.Mol:
        """``mol`` with the properties ``valid``, ``smiles`` and ``self.props``."""
        mol.SetIntProp("valid", int(valid))
        mol.SetProp("smiles", canonical_smiles(mol) if valid else "")
        for key, value in self.props.items():
            _set_prop(mol, key, value)
        return mol


HYDROGEN_RELAX_ITERATIONS = 200


def _relax_hydrogens(mol: Chem.Mol) -> None:
    """Minimise the hydrogen positions of ``mol`` (in place) with UFF, heavy atoms fixed; a
    molecule UFF cannot type or minimise keeps RDKit's idealised hydrogen positions."""
    field = rdForceFieldHelpers.UFFGetMoleculeForceField(mol)
    if field is None:
        return
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() != 1:
            field.AddFixedPoint(atom.GetIdx())
    conformer = mol.GetConformer()
    start = conformer.GetPositions()
    try:
        field.Minimize(maxIts=HYDROGEN_RELAX_ITERATIONS)
    except RuntimeError:  # RDKit's line search can fail on strained geometries
        for i, xyz in enumerate(start):
            conformer.SetAtomPosition(i, Point3D(*map(float, xyz)))


def canonical_smiles(mol: Chem.Mol, isomeric: bool = True) -> str:
    """Canonical SMILES without explicit hydrogens (sanitises a copy)."""
    with rdBase.BlockLogs():
        copy = Chem.Mol(mol)
        Chem.SanitizeMol(copy)
        return Chem.MolToSmiles(Chem.RemoveHs(copy), isomericSmiles=isomeric)


def _order(bond_type: Chem.BondType) -> int:
    for order, bt in _BOND_TYPES.items():
        if bt == bond_type:
            return order
    raise ValueError(f"unsupported bond type {bond_type}")


MIN_DISTANCE = 0.5  # Angstrom; the shortest real bond (H-H) is 0.74
MAX_NEIGHBOURS = 6


def _plausible_for_bond_perception(symbols: list[str], pos: np.ndarray) -> bool:
    """Reject collapsed geometries before RDKit sees them.

    Atoms closer than ``MIN_DISTANCE`` or with more than ``MAX_NEIGHBOURS`` atoms in covalent
    range make xyz2mol slow (combinatorial bond-order search) or crash RDKit outright.
    """
    if len(pos) < 2:
        return True
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    if dist.min() < MIN_DISTANCE:
        return False
    radii = np.array([_PT.GetRcovalent(s) for s in symbols])
    neighbours = (dist < 1.3 * (radii[:, None] + radii[None])).sum(1)
    return int(neighbours.max()) <= MAX_NEIGHBOURS


def _perceive_bonds(mol: Chem.Mol) -> tuple[Chem.Mol, bool]:
    """Bonds from coordinates with RDKit's xyz2mol (``DetermineBonds``, total charge 0).

    Tries the fast van-der-Waals connectivity first and Hueckel connectivity second (which
    rescues strained small rings). Falls back to connectivity only and returns ``ok=False``
    when no bond orders can be assigned.
    """
    with rdBase.BlockLogs():
        for use_hueckel in (False, True):
            trial = Chem.Mol(mol)
            try:
                rdDetermineBonds.DetermineBonds(trial, charge=0, useHueckel=use_hueckel)
                return trial, True
            except Exception:  # RDKit raises ValueError/RuntimeError/valence errors here
                continue
        trial = Chem.Mol(mol)
        try:
            rdDetermineBonds.DetermineConnectivity(trial)
        except Exception:
            return Chem.Mol(mol), False
        return trial, False


def _is_valid(mol: Chem.Mol) -> bool:
    """RDKit sanitises, no radicals, and every fragment is net neutral (zwitterions pass)."""
    with rdBase.BlockLogs():
        trial = Chem.Mol(mol)
        try:
            Chem.SanitizeMol(trial)
        except Exception:
            return False
    if any(atom.GetNumRadicalElectrons() for atom in trial.GetAtoms()):
        return False
    for fragment in Chem.GetMolFrags(trial, asMols=True, sanitizeFrags=False):
        if sum(atom.GetFormalCharge() for atom in fragment.GetAtoms()) != 0:
            return False
    return True


def _set_prop(mol: Chem.Mol, key: str, value) -> None:
    if value is None:  # e.g. the seed of an unseeded run
        mol.SetProp(key, "")
    elif isinstance(value, (bool, int, np.integer)):
        mol.SetIntProp(key, int(value))
    elif isinstance(value, (float, np.floating)):
        mol.SetProp(key, repr(float(value)))  # shortest round-trip text: 0.2, not 0.20000000000000001
    else:
        mol.SetProp(key, str(value))
