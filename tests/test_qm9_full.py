"""The full QM9 from qm9pack (needs `pip install 'molgen[qm9]'`; parses ~10 s once, then cached)."""

import numpy as np
import pytest


@pytest.mark.slow
def test_full_qm9_and_edm_split():
    from molgen.datasets.qm9 import load_qm9, qm9pack_data_dir

    try:
        qm9pack_data_dir()
    except ModuleNotFoundError:
        pytest.skip("qm9pack not installed")
    full = load_qm9(None)
    assert len(full) == 130_831
    assert full.num_atoms.max() == 29
    train, test = load_qm9("train"), load_qm9("test")
    assert (len(train), len(test)) == (100_000, 13_083)
    assert set(np.unique(full.atomic_numbers)) == {1, 6, 7, 8, 9}
    assert np.isfinite(full.pos).all()
