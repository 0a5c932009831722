"""Real multi-process DDP (gloo on CPU): 2 ranks train like 1 process on the same global batch."""

import dataclasses
import datetime
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from molgen.datasets.qm9 import load_qm9_subset
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.testing import TINY_MODEL, TINY_TRAIN
from molgen.training.trainer import MoleculeTrainer

CFG = dataclasses.replace(TINY_TRAIN, batch_size=8, max_steps=4, checkpoint_every=100)


def _rank_main(rank, world, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        trainer = MoleculeTrainer(load_qm9_subset("train").subset(range(64)), out_dir, TINY_MODEL, CFG)
        trainer.train()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.distributed
def test_two_gloo_ranks_match_single_process_training(tmp_path):
    from safetensors.torch import load_file

    ctx = mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=False)
    deadline = time.monotonic() + 180
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            pytest.fail("DDP ranks did not finish within 180 s")
    single = MoleculeTrainer(load_qm9_subset("train").subset(range(64)), tmp_path / "single", TINY_MODEL, CFG)
    single.train()
    a = load_file(str(tmp_path / "ddp" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "single" / "model" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    torch.manual_seed(CFG.seed)
    initial = MoleculeDenoiser(TINY_MODEL.denoiser).state_dict()
    assert any(not torch.allclose(a[k], initial[k]) for k in a), "training must have moved the weights"
    # rank 0 alone wrote outputs
    assert (tmp_path / "ddp" / "metrics.csv").read_text().count("\n") == CFG.max_steps + 1
