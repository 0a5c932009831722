import pytest
import torch

from molgen.datasets.backbones import load_backbone_npz
from molgen.datasets.qm9 import load_qm9_subset
from molgen.testing import TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN, TINY_MODEL, TINY_TRAIN
from molgen.training.backbone_trainer import BackboneTrainer
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


@pytest.fixture(scope="session")
def real_chains():
    """The bundled experimental backbones."""
    return load_backbone_npz()


@pytest.fixture(scope="session")
def tiny_backbone_model_dir(tmp_path_factory, real_chains):
    """A tiny backbone model trained for a few steps on 16 real chains."""
    out = tmp_path_factory.mktemp("tiny_backbone_run")
    return BackboneTrainer(real_chains[:16], out, TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN).train()
