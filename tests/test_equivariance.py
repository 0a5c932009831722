import pytest
import torch

from molgen.config import DenoiserConfig, ModelConfig
from molgen.core.state import State
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.testing import assert_equivariant


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(1)
    counts = torch.tensor([5, 9, 3])
    n = int(counts.sum())
    return {
        "pos": torch.randn(n, 3, generator=gen, dtype=torch.float64),
        "feat": torch.randn(n, 5, generator=gen, dtype=torch.float64),
        "batch": torch.repeat_interleave(torch.arange(3), counts),
        "logsnr": torch.tensor([-3.0, 0.5, 4.0], dtype=torch.float64),
    }


def state(batch, pos=None, feat=None):
    """The fixture's molecules as a State (``pos`` / ``feat`` replace the fixture's)."""
    pos = batch["pos"] if pos is None else pos
    return State(pos, batch["feat"] if feat is None else feat, batch["batch"], 3)


def make_net(seed=0):
    torch.manual_seed(seed)
    config = ModelConfig(
        ("H", "C", "N", "O", "F"), DenoiserConfig(hidden=32, edge_hidden=16, num_layers=3, num_rbf=8)
    )
    net = MoleculeDenoiser(config).double()
    # zero-initialised coordinate gates would make the vector output trivially zero
    for layer in net.layers:
        torch.nn.init.normal_(layer.coord_gate.weight, std=0.5)
    return net


def test_denoiser_is_se3_equivariant(batch):
    net = make_net()

    def fn(pos):
        return net(state(batch, pos), batch["logsnr"])

    disp = fn(batch["pos"]).disp
    assert disp.abs().max() > 1e-3, "vector output must be non-trivial for the test to mean anything"
    assert_equivariant(fn, batch["pos"], atol=1e-10)


def test_assert_equivariant_catches_a_non_equivariant_function(batch):
    def broken(pos):
        return pos[:, [0, 0, 0]], pos.sum(-1, keepdim=True)

    with pytest.raises(AssertionError):
        assert_equivariant(broken, batch["pos"])


def test_denoiser_is_permutation_equivariant(batch):
    net = make_net()
    out = net(state(batch), batch["logsnr"])
    # permute atoms within each molecule (nodes must stay grouped by graph)
    perm = torch.cat([torch.tensor([4, 0, 3, 1, 2]), 5 + torch.randperm(9), 14 + torch.tensor([2, 0, 1])])
    permuted = net(state(batch, batch["pos"][perm], batch["feat"][perm]), batch["logsnr"])
    torch.testing.assert_close(permuted.disp, out.disp[perm], atol=1e-10, rtol=0)
    torch.testing.assert_close(permuted.logits, out.logits[perm], atol=1e-10, rtol=0)


def test_molecules_in_a_batch_do_not_interact(batch):
    net = make_net()
    disp = net(state(batch), batch["logsnr"]).disp
    moved = batch["pos"].clone()
    moved[14:] += 5.0 * torch.randn(3, 3, dtype=torch.float64)  # change only the third molecule
    disp2 = net(state(batch, moved), batch["logsnr"]).disp
    torch.testing.assert_close(disp2[:14], disp[:14], atol=1e-12, rtol=0)
