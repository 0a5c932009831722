"""CUDA end to end (run with `pytest -m gpu` on a machine with a GPU)."""

import dataclasses

import numpy as np
import pytest
import torch

from molgen.generators.molecules import MoleculeGenerator
from molgen.testing import TINY_MODEL, TINY_TRAIN
from molgen.training.trainer import MoleculeTrainer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_train_and_sample_on_cuda(tmp_path, qm9_train):
    cfg = dataclasses.replace(TINY_TRAIN, max_steps=3)
    folder = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, TINY_MODEL, cfg, device="cuda").train()
    gen = MoleculeGenerator.from_pretrained(folder, device="auto")
    assert gen.device.type == "cuda"
    for sampler in ("ancestral", "ddim", "dpm2m"):
        mols = gen.sample(4, steps=3, sampler=sampler, seed=0)
        assert all(np.isfinite(m.GetConformer().GetPositions()).all() for m in mols)


def assert_same_prediction_on_cuda(cpu, gpu, z, type_scale: float) -> None:
    """The x0 estimates of two generators of one model (CPU, CUDA) for ``z`` at t = 0.3 agree."""
    from molgen.core.state import State
    from molgen.diffusion.targets import predict_x0

    t = torch.full((z.num_graphs,), 0.3)
    with torch.no_grad():
        a, _ = predict_x0(cpu.net, cpu.sde, z, t, type_scale)
        zc = State(z.pos.cuda(), z.feat.cuda(), z.batch.cuda(), z.num_graphs)
        b, _ = predict_x0(gpu.net, gpu.sde, zc, t.cuda(), type_scale)
    torch.testing.assert_close(b.pos.cpu(), a.pos, atol=1e-3, rtol=1e-3)


def test_bundled_denoiser_gives_the_same_prediction_on_cuda_and_cpu(qm9_test):
    from molgen.core.state import State
    from molgen.structures.vocab import QM9_VOCAB
    from molgen.training.trainer import EncodedMolecules

    cpu = MoleculeGenerator.from_pretrained("qm9", device="cpu")
    gpu = MoleculeGenerator.from_pretrained("qm9", device="cuda")
    pos, types, batch = EncodedMolecules(qm9_test, QM9_VOCAB, cpu.stats.coord_scale).batch(np.arange(16))
    z = State(pos, torch.nn.functional.one_hot(types, 5).float() * 0.25, batch, 16)
    assert_same_prediction_on_cuda(cpu, gpu, z, 0.25)


def test_backbone_model_gives_the_same_prediction_and_designs_on_cuda():
    from molgen.core.state import State
    from molgen.generators.backbones import BackboneGenerator
    from molgen.generators.conditioners import Length, SecondaryStructure

    cpu = BackboneGenerator.from_pretrained("backbones", device="cpu")
    gpu = BackboneGenerator.from_pretrained("backbones", device="cuda")
    batch = torch.repeat_interleave(torch.arange(2), torch.tensor([150, 180]))  # 50 and 60 residues
    z = State(torch.randn(len(batch), 3), torch.zeros(len(batch), 0), batch, 2)
    assert_same_prediction_on_cuda(cpu, gpu, z, 1.0)
    designs = gpu.design(2, [Length("50-60"), SecondaryStructure("H" * 55)], guidance=2.0, steps=20, seed=0)
    assert all(np.isfinite(d.coords).all() and len(d) == 55 for d in designs)


def test_bf16_sampling_and_training_on_cuda(tmp_path, qm9_train):
    cfg = dataclasses.replace(TINY_TRAIN, max_steps=3, precision="bf16")
    folder = MoleculeTrainer(qm9_train.subset(range(64)), tmp_path, TINY_MODEL, cfg, device="cuda").train()
    gen = MoleculeGenerator.from_pretrained("qm9-heavy", device="cuda", precision="bf16")
    mols = gen.sample(64, steps=20, sampler="ancestral", seed=0)
    assert sum(m.GetIntProp("valid") for m in mols) > 32  # fp32 scores about 80 %
    assert MoleculeGenerator.from_pretrained(folder, device="cuda", precision="bf16").sample(2, steps=2)
