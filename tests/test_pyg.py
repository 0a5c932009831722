"""PyG interop: molecules to and from ``torch_geometric.data.Data``, training on a PyG dataset,
samples fed to a PyG model."""

import dataclasses

import numpy as np
import torch
from torch_geometric.data import Batch
from torch_geometric.nn import GCNConv, global_add_pool

from molgen.datasets.packed import PackedMolecules
from molgen.generators.molecules import MoleculeGenerator
from molgen.structures.molecule import Molecule
from molgen.testing import TINY_MODEL, TINY_TRAIN
from molgen.training.trainer import MoleculeTrainer


def test_molecules_round_trip_through_pyg_with_bonds_and_charges(qm9_train):
    charged = next(i for i in range(len(qm9_train)) if qm9_train.molecule(i).charges is not None)
    for mol in (qm9_train.molecule(0), qm9_train.molecule(charged)):
        data = mol.to_pyg()
        assert data.pos.dtype == torch.float32 and data.z.tolist()[0] in (1, 6, 7, 8, 9)
        assert data.edge_index.shape == (2, 2 * len(mol.bonds))  # both directions, as PyG expects
        back = Molecule.from_pyg(data)
        assert back.symbols == mol.symbols
        np.testing.assert_allclose(back.pos, mol.pos, atol=1e-6)
        assert sorted(map(tuple, back.bonds.tolist())) == sorted(map(tuple, mol.bonds.tolist()))
        if mol.charges is not None:
            np.testing.assert_array_equal(back.charges, mol.charges)
        data.edge_attr = torch.nn.functional.one_hot(data.edge_attr - 1, 4)  # PyG QM9's one-hot bond types
        assert Molecule.from_pyg(data).bonds.tolist() == back.bonds.tolist()


def test_a_pyg_dataset_trains_a_model_whose_samples_feed_a_pyg_model(tmp_path, qm9_train):
    dataset = [qm9_train.molecule(i).to_pyg() for i in range(64)]
    for data in dataset:  # what a PyG user has: Data objects with pos and z only
        del data.edge_index, data.edge_attr
    packed = PackedMolecules.from_molecules([Molecule.from_pyg(d) for d in dataset])
    assert packed.bonds is None and len(packed) == 64
    folder = MoleculeTrainer(
        packed, tmp_path, TINY_MODEL, dataclasses.replace(TINY_TRAIN, max_steps=2)
    ).train()
    mols = MoleculeGenerator.from_pretrained(folder).sample(4, steps=5, seed=0)
    batch = Batch.from_data_list([Molecule.from_rdkit(m).to_pyg() for m in mols])
    assert batch.num_graphs == 4 and len(batch.z) == sum(m.GetNumAtoms() for m in mols)
    conv = GCNConv(1, 8)
    out = global_add_pool(conv(batch.z[:, None].float(), batch.edge_index), batch.batch)
    assert out.shape == (4, 8) and torch.isfinite(out).all()
