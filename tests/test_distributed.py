"""Real multi-process DDP (gloo on CPU): 2 ranks train like 1 process on the same global batch."""

import dataclasses
import datetime
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from molgen.datasets.backbones import load_backbone_npz
from molgen.datasets.qm9 import load_qm9_subset
from molgen.models.pretrained import build_denoiser
from molgen.testing import TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN, TINY_MODEL, TINY_TRAIN
from molgen.training.backbone_trainer import BackboneTrainer
from molgen.training.trainer import MoleculeTrainer

STEPS = 4


def _setup(kind):
    """(trainer class, data, model config, train config) of a tiny run of ``kind``."""
    if (
        kind == "molecules"
    ):  # property-conditioned with bonds: conditions and atom pairs are sliced per rank too
        cfg = dataclasses.replace(
            TINY_TRAIN, batch_size=8, max_steps=STEPS, checkpoint_every=100, distortion=0.05
        )
        denoiser = dataclasses.replace(TINY_MODEL.denoiser, self_condition=True)
        model = dataclasses.replace(TINY_MODEL, properties=("alpha", "gap"), bonds=True, denoiser=denoiser)
        return MoleculeTrainer, load_qm9_subset("train").subset(range(64)), model, cfg
    # the conditional backbone model: random motifs, secondary structure and strand pairings are
    # sliced per rank
    cfg = dataclasses.replace(
        TINY_BACKBONE_TRAIN,
        batch_size=8,
        max_steps=STEPS,
        checkpoint_every=100,
        low_noise_fraction=0.5,
        pairing_probability=0.5,
        pair_loss_weight=0.25,
    )
    denoiser = dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, pairing=True, edge_updates=True)
    chains = [c for c in load_backbone_npz() if len(c) <= 64][:32]
    return BackboneTrainer, chains, dataclasses.replace(TINY_BACKBONE_MODEL, denoiser=denoiser), cfg


def _rank_main(rank, world, port, out_dir, kind):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        trainer_cls, data, model, cfg = _setup(kind)
        trainer_cls(data, out_dir, model, cfg).train()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.distributed
@pytest.mark.parametrize("kind", ["molecules", "backbones"])
def test_two_gloo_ranks_match_single_process_training(tmp_path, kind):
    from safetensors.torch import load_file

    ctx = mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path / "ddp"), kind), nprocs=2, join=False)
    deadline = time.monotonic() + 180
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            pytest.fail("DDP ranks did not finish within 180 s")
    trainer_cls, data, model, cfg = _setup(kind)
    single = trainer_cls(data, tmp_path / "single", model, cfg)
    single.train()
    a = load_file(str(tmp_path / "ddp" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "single" / "model" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    torch.manual_seed(cfg.seed)
    initial = build_denoiser(single.model_config).state_dict()  # its vocabulary from the data
    assert any(not torch.allclose(a[k], initial[k]) for k in a), "training must have moved the weights"
    # rank 0 alone wrote outputs
    assert (tmp_path / "ddp" / "metrics.csv").read_text().count("\n") == STEPS + 1
