import numpy as np
import pytest

from molgen.datasets.qm9 import SPLIT_SIZES, load_qm9_subset, split_indices
from molgen.models.pretrained import DataStats
from molgen.training.trainer import centred_positions


def test_edm_split_sizes_and_disjointness():
    idx = split_indices()
    assert {k: len(v) for k, v in idx.items()} == SPLIT_SIZES
    allidx = np.concatenate(list(idx.values()))
    assert len(np.unique(allidx)) == 130_831


def test_bundled_subset_is_qm9(qm9_train, qm9_test):
    assert len(qm9_train) == 3000 and len(qm9_test) == 1000
    assert qm9_train.num_atoms.max() <= 29
    assert set(np.unique(qm9_train.atomic_numbers)) <= {1, 6, 7, 8, 9}
    assert set(qm9_train.props) >= {"alpha", "gap", "homo", "lumo", "mu", "cv"}


def test_subset_rejects_unknown_split():
    with pytest.raises(ValueError):
        load_qm9_subset("valid")


def test_atom_rows_gathers_molecules(qm9_train):
    rows, batch = qm9_train.atom_rows(np.array([5, 2]))
    n5, n2 = qm9_train.num_atoms[5], qm9_train.num_atoms[2]
    np.testing.assert_array_equal(batch, [0] * n5 + [1] * n2)
    np.testing.assert_array_equal(qm9_train.pos[rows[:n5]], qm9_train.molecule(5).pos.astype(np.float32))


def test_stats_are_computed_from_training_data(qm9_train):
    stats = DataStats.from_dataset(qm9_train.num_atoms, centred_positions(qm9_train))
    assert sum(stats.num_atoms_hist.values()) == 3000
    assert 1.0 < stats.coord_scale < 2.0  # RMS of centred QM9 coordinates in Angstrom
    assert DataStats.from_json(stats.to_json()) == stats
