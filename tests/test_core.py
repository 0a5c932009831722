"""The diffusion core both domains share: denoiser interface, guidance, rigid inpainting,
conditioning objects, sampling options and the loss helpers."""

import dataclasses

import numpy as np
import pytest
import torch

from molgen.config import BackboneDenoiserConfig, DenoiserConfig, ModelConfig
from molgen.core.denoiser import Denoiser, DenoiserOutput
from molgen.core.graph import batch_vector, remove_mean
from molgen.core.state import State
from molgen.diffusion.guidance import guided_x0
from molgen.diffusion.inpainting import RigidParts, group_rigid, impose_rigid
from molgen.diffusion.sde import VPSDE
from molgen.diffusion.targets import predict_x0
from molgen.generators.backbones import BackboneGenerator
from molgen.generators.base import SamplingOptions
from molgen.generators.conditioners import Length, SecondaryStructure
from molgen.generators.molecules import MoleculeGenerator
from molgen.models.backbone_conditions import BackboneConditions
from molgen.models.backbone_denoiser import BackboneDenoiser
from molgen.models.molecule_conditions import MoleculeConditions
from molgen.models.molecule_denoiser import MoleculeDenoiser
from molgen.structures.secondary_structure import ss_indices
from molgen.structures.vocab import QM9_VOCAB
from molgen.testing import random_rotation
from molgen.training.losses import graph_mean, stratified_times

TINY_MOLECULES = ModelConfig(QM9_VOCAB.symbols, DenoiserConfig(hidden=16, edge_hidden=8, num_layers=1))
SAMPLE_METADATA = ["index", "seed", "model", "steps", "sampler", "time_power", "molgen_version"]


def molecule_batch(gen: torch.Generator, counts=(5, 7), num_types=5) -> State:
    batch = batch_vector(torch.tensor(counts))
    pos = remove_mean(torch.randn(len(batch), 3, generator=gen), batch, len(counts))
    return State(pos, torch.randn(len(batch), num_types, generator=gen), batch, len(counts))


def backbone_batch(gen: torch.Generator, lengths=(12, 9)) -> State:
    batch = batch_vector(torch.tensor(lengths) * 3)
    pos = remove_mean(torch.randn(len(batch), 3, generator=gen), batch, len(lengths))
    return State(pos, pos.new_zeros(len(batch), 0), batch, len(lengths))


@pytest.mark.parametrize("domain", ["molecules", "backbones"])
def test_both_denoisers_implement_the_interface(domain):
    gen = torch.Generator().manual_seed(0)
    if domain == "molecules":
        net = MoleculeDenoiser(
            ModelConfig(QM9_VOCAB.symbols, DenoiserConfig(hidden=16, edge_hidden=8, num_layers=1))
        )
        z = molecule_batch(gen)
    else:
        net = BackboneDenoiser(
            BackboneDenoiserConfig(hidden=16, edge_hidden=8, num_layers=1, num_neighbors=4)
        )
        z = backbone_batch(gen)
    out = net(z, torch.tensor([0.5, -1.0]))
    assert isinstance(net, Denoiser) and isinstance(out, DenoiserOutput)
    assert out.disp.shape == z.pos.shape and out.logits.shape == z.feat.shape
    assert out.pair_logits is None  # neither network has a pair state yet
    torch.testing.assert_close(remove_mean(out.disp, z.batch, 2), out.disp)


def test_the_molecule_denoiser_refuses_a_self_conditioning_input():
    net = MoleculeDenoiser(
        ModelConfig(QM9_VOCAB.symbols, DenoiserConfig(hidden=16, edge_hidden=8, num_layers=1))
    )
    z = molecule_batch(torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="self-conditioning"):
        net(z, torch.zeros(2), None, z)


def test_state_doubled_puts_a_copy_of_the_batch_after_it():
    z = molecule_batch(torch.Generator().manual_seed(1))
    both = z.doubled()
    assert both.num_graphs == 4 and torch.equal(both.batch, torch.cat([z.batch, z.batch + 2]))
    assert torch.equal(both.pos[len(z.pos) :], z.pos)


def test_conditioning_objects_give_their_guidance_reference_and_concatenate():
    props = MoleculeConditions(torch.tensor([[0.3, 2.0]]), torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(props.network_input(), torch.tensor([[0.3, 0.0, 1.0, 0.0]]))
    assert not props.unconditional().network_input().any()
    assert props.has_guided_parts and not props.unconditional().has_guided_parts
    assert props.cat(props.unconditional()).values.shape == (2, 2)

    cond = dataclasses.replace(
        BackboneConditions.none(6, 1),
        ss=ss_indices("HHEE--"),
        motif=torch.tensor([True, True, False, False, False, False]),
    )
    reference = cond.unconditional()
    assert cond.has_guided_parts and not reference.has_guided_parts
    assert torch.equal(reference.motif, cond.motif)  # the motif is inpainted, not guided
    both = cond.cat(reference)
    assert len(both.ss) == 12 and len(both.ss_fraction) == 2


def test_guidance_mixes_the_outputs_of_both_branches_for_backbones():
    torch.manual_seed(3)
    config = BackboneDenoiserConfig(
        hidden=16, edge_hidden=8, num_layers=2, num_neighbors=6, conditioning=True
    )
    net = BackboneDenoiser(config).double()
    for module in (net.head, net.ss_embed):
        torch.nn.init.normal_(module.weight, std=0.3)  # the zero init would make both branches equal
    z = backbone_batch(torch.Generator().manual_seed(4))
    z = State(z.pos.double(), z.feat.double(), z.batch, z.num_graphs)
    cond = dataclasses.replace(BackboneConditions.none(21, 2), ss=ss_indices("H" * 12 + "E" * 9)).to(
        "cpu", torch.float64
    )
    sde, t = VPSDE("cosine"), torch.tensor([0.3, 0.6], dtype=torch.float64)
    with torch.no_grad():
        guided = guided_x0(net, sde, z, t, 1.0, cond, guidance=2.5)
        with_c = predict_x0(net, sde, z, t, 1.0, cond)[0]
        without = predict_x0(net, sde, z, t, 1.0, cond.unconditional())[0]
        plain = guided_x0(net, sde, z, t, 1.0, cond, guidance=1.0)
        nothing_to_guide = guided_x0(net, sde, z, t, 1.0, cond.unconditional(), guidance=2.5)
    torch.testing.assert_close(guided.pos, without.pos + 2.5 * (with_c.pos - without.pos))
    torch.testing.assert_close(plain.pos, with_c.pos)
    torch.testing.assert_close(nothing_to_guide.pos, without.pos)  # one plain pass
    assert not torch.allclose(with_c.pos, without.pos)


def test_impose_rigid_places_each_body_exactly_and_leaves_the_rest():
    gen = torch.Generator().manual_seed(5)
    x0 = molecule_batch(gen, counts=(6, 8, 7))
    body = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    other = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    # graph 0: atoms 1-3 are the 3-atom body; graph 2: atoms 14-17 a 4-atom body; graph 1 free
    atoms = [torch.tensor([1, 2, 3]), torch.tensor([], dtype=torch.long), torch.tensor([14, 15, 16, 17])]
    feat = [torch.ones(3, 5), torch.ones(0, 5), torch.zeros(4, 5)]
    parts = group_rigid(atoms, [body, body[:0], other], feat)
    assert sorted(p.atoms.shape[1] for p in parts) == [3, 4]
    out = impose_rigid(x0, parts)
    for a, coords in ((atoms[0], body), (atoms[2], other)):
        placed = out.pos[a].double()
        torch.testing.assert_close(
            torch.cdist(placed, placed), torch.cdist(coords, coords), atol=1e-5, rtol=0
        )
    torch.testing.assert_close(out.feat[atoms[0]], torch.ones(3, 5))
    torch.testing.assert_close(out.feat[6:14], x0.feat[6:14])
    torch.testing.assert_close(out.pos[6:14], x0.pos[6:14])  # the free graph: untouched
    torch.testing.assert_close(remove_mean(out.pos, out.batch, 3), out.pos, atol=1e-6, rtol=0)
    assert impose_rigid(x0, []) is x0


def test_impose_rigid_lands_where_a_rotated_copy_of_the_body_already_is():
    gen = torch.Generator().manual_seed(6)
    x0 = molecule_batch(gen, counts=(9,))
    body = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    rot = random_rotation(gen)
    pos = x0.pos.clone()
    pos[2:6] = (body @ rot.T + 1.5).float()
    x0 = x0.replace(remove_mean(pos, x0.batch, 1), x0.feat)
    out = impose_rigid(x0, [RigidParts(torch.arange(2, 6)[None], body[None])])
    torch.testing.assert_close(out.pos, x0.pos, atol=1e-5, rtol=0)


def test_sampling_options_are_checked_and_both_domains_record_the_same_metadata(
    tiny_model_dir, tiny_backbone_model_dir
):
    for bad, match in (
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch size"),
        ({"sampler": "euler"}, "unknown sampler"),
        ({"guidance": float("nan")}, "guidance"),
        ({"resample": 2, "sampler": "ddim"}, "resample"),
        ({"time_power": 0.0}, "time power"),
        ({"time_power": float("inf")}, "time power"),
    ):
        with pytest.raises(ValueError, match=match):
            SamplingOptions(**({"steps": 2, "sampler": "ancestral", "batch_size": 4} | bad))
    with pytest.raises(TypeError):
        SamplingOptions(2, "ancestral", 4, None)  # only steps, sampler and batch size by position
    gen = MoleculeGenerator.from_pretrained(tiny_model_dir)
    mol = gen.sample(1, steps=2)[0]
    tags = [k for k in mol.GetPropsAsDict() if k not in ("valid", "smiles")]  # from the validity check
    assert tags[: len(SAMPLE_METADATA)] == SAMPLE_METADATA
    again = gen.sample(1, steps=2, seed=mol.GetIntProp("seed"))[0]  # an unseeded run records its seed
    np.testing.assert_array_equal(mol.GetConformer().GetPositions(), again.GetConformer().GetPositions())
    backbone = BackboneGenerator.from_pretrained(tiny_backbone_model_dir).sample([25], steps=2)[0]
    assert list(backbone.metadata)[: len(SAMPLE_METADATA)] == SAMPLE_METADATA
    assert isinstance(backbone.metadata["seed"], int)


def test_sampling_options_are_keyword_only(tiny_backbone_model_dir):
    gen = BackboneGenerator.from_pretrained(tiny_backbone_model_dir)
    plans = gen.plan_designs(1, [Length("25"), SecondaryStructure("H" * 25)], seed=0)
    with pytest.raises(TypeError):
        gen.iter_designs(plans, 2.0, 3)  # positional options would be read silently otherwise
    with pytest.raises(ValueError, match="steps"):
        gen.iter_designs(plans, steps=0)  # checked before the first batch is asked for
    with pytest.raises(TypeError, match="design"):
        gen.sample([25], guidance=2.0)  # nothing to guide towards


def test_stratified_times_put_one_time_in_each_stratum_and_graph_mean_averages_per_graph():
    t = stratified_times(8, torch.Generator().manual_seed(0))
    assert sorted(np.floor(t.numpy() * 8).astype(int).tolist()) == list(range(8))
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]])
    means = graph_mean(values, torch.tensor([0, 0, 2]), 3)
    torch.testing.assert_close(means, torch.tensor([[2.0, 3.0], [0.0, 0.0], [10.0, 0.0]]))
