import pytest
import torch

from molgen.datasets.qm9 import load_qm9_subset
from molgen.testing import TINY_MODEL, TINY_TRAIN
from molgen.training.trainer import MoleculeTrainer

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def qm9_train():
    return load_qm9_subset("train")


@pytest.fixture(scope="session")
def qm9_test():
    return load_qm9_subset("test")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, qm9_train):
    """A tiny model trained for a few steps (a real model folder, not a trained-to-quality one)."""
    out = tmp_path_factory.mktemp("tiny_run")
    return MoleculeTrainer(qm9_train.subset(range(64)), out, TINY_MODEL, TINY_TRAIN).train()
