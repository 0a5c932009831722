"""Conditional backbones: contig strings, conditioners (alone and composed), motif scaffolding,
secondary structure, the motif benchmark and the CLI's errors."""

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from Bio.Data.PDBData import protein_letters_3to1
from Bio.PDB import PDBParser
from typer.testing import CliRunner

from molgen.benchmark.motifs import BUNDLED_PROBLEMS, MotifProblem, load_problems, run_problem
from molgen.cli import app
from molgen.generators.backbones import BackboneGenerator
from molgen.generators.conditioners import (
    DesignPlan,
    Length,
    Motif,
    SecondaryStructure,
    compose,
    parse_range,
    parse_ss_fraction,
)
from molgen.generators.contig import format_contig, parse_contig, sample_lengths, total_length_range
from molgen.io.pdb import read_backbone
from molgen.runtime import bundled_data
from molgen.structures.secondary_structure import ss_agreement
from molgen.structures.superpose import rmsd_after_superposition

runner = CliRunner()
MOTIF_5TPN = BUNDLED_PROBLEMS / "5tpn.pdb"  # residues A163-181
HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "heldout_chains"


@pytest.fixture(scope="module")
def gen(tiny_backbone_model_dir):
    return BackboneGenerator.from_pretrained(tiny_backbone_model_dir, device="cpu")


# ---------------------------------------------------------------- contig strings
def test_contig_segments_parse_in_order():
    segments = parse_contig("10-40/A163-181/5/B7")
    assert [(s.chain, s.first, s.last) for s in segments] == [
        (None, 10, 40),
        ("A", 163, 181),
        (None, 5, 5),
        ("B", 7, 7),
    ]
    assert total_length_range(segments) == (10 + 19 + 5 + 1, 40 + 19 + 5 + 1)
    assert format_contig(segments, [12, 19, 5, 1]) == "12/A163-181/5/B7"
    assert format_contig(parse_contig("0-5/A1-3"), [0, 3]) == "A1-3"


@pytest.mark.parametrize(
    ("contig", "message"),
    [
        ("10-40/A16x-181", "'A16x-181'"),
        ("10-40/A181-163/5", "'A181-163': residue range runs backwards"),
        ("40-10/A1-5", "'40-10': length range runs backwards"),
        ("10-20/A5-15/3/A10-12", "'A5-15' and 'A10-12' overlap"),
        ("10-40/20", "names no motif residues"),
        ("", "empty contig"),
        ("10/A1-5/", "has an empty segment"),
        ("A1-10/0 B1-10", "multi-chain designs"),
    ],
)
def test_contig_errors_name_the_offending_segment(contig, message):
    with pytest.raises(ValueError, match=message):
        parse_contig(contig)


def test_segment_lengths_are_drawn_within_the_total_bounds():
    segments = parse_contig("10-40/A163-181/10-40")
    rng = np.random.default_rng(0)
    totals = [sum(sample_lengths(segments, (50, 75), rng)) for _ in range(200)]
    assert min(totals) >= 50 and max(totals) <= 75 and len(set(totals)) > 10
    with pytest.raises(ValueError, match="does not meet the length bounds 120-130"):
        sample_lengths(segments, (120, 130), rng)
    many = parse_contig("8-15/A92-99/16-30/A123-130/16-30/A47-54/16-30/A18-25/8-15")  # 1BCF
    for total in (total_length_range(many)[0], 100, total_length_range(many)[1]):  # exact totals
        lengths = sample_lengths(many, (total, total), rng)
        assert sum(lengths) == total
        assert all(s.length_range[0] <= n <= s.length_range[1] for s, n in zip(many, lengths))


# ---------------------------------------------------------------- conditioners
def test_motif_reads_the_contig_residues_from_the_structure():
    motif = Motif.from_contig(MOTIF_5TPN, "5-10/A163-181/5-10")
    chain = read_backbone(MOTIF_5TPN)
    plan = compose([motif], (20, 64), np.random.default_rng(0))
    assert 5 + 19 + 5 <= plan.length <= 10 + 19 + 10 and plan.ss is None
    assert plan.motif_labels == tuple(f"A{n}" for n in range(163, 182))
    np.testing.assert_allclose(plan.motif_xyz, chain.coords[:19])
    first = plan.motif_index[0]
    assert 5 <= first <= 10 and list(plan.motif_index) == list(range(first, first + 19))
    assert plan.motif_sequence == chain.sequence[:19] and plan.contig.split("/")[1] == "A163-181"


@pytest.mark.parametrize(
    ("contig", "message"),
    [("5/A150-170/5", "residue\\(s\\) A150"), ("5/B163-170/5", "has no chain B")],
)
def test_motif_residues_missing_from_the_structure_are_named(contig, message):
    with pytest.raises(ValueError, match=message):
        Motif.from_contig(MOTIF_5TPN, contig)


def test_conditioners_compose_and_report_conflicts():
    rng = np.random.default_rng(0)
    motif = Motif.from_contig(MOTIF_5TPN, "5-10/A163-181/5-10")
    ss = "L" * 5 + "H" * 19 + "-" * 6
    plan = compose([Length("25-40"), SecondaryStructure(ss, (0.5, 0.0)), motif], (20, 64), rng)
    assert plan.length == 30 and plan.ss == ss and plan.ss_fraction == (0.5, 0.0)
    assert len(plan.motif_index) == 19 and plan.motif_index[-1] < 30
    reordered = compose([motif, SecondaryStructure(ss), Length("25-40")], (20, 64), rng)
    assert reordered.length == 30 and len(reordered.motif_index) == 19  # the order does not matter
    with pytest.raises(ValueError, match=r"needs 30 residues but the secondary-structure string \(26"):
        compose([Length("25-40"), SecondaryStructure("H" * 26), SecondaryStructure(ss)], (20, 64), rng)
    with pytest.raises(
        ValueError, match=r"string \(30 letters\) needs 30 residues, outside the allowed 50-60"
    ):
        compose([SecondaryStructure("H" * 30), Length("50-60")], (20, 64), rng)
    with pytest.raises(ValueError, match="contig 5-10/A163-181/5-10 allows 29-39 residues"):
        compose([SecondaryStructure("H" * 50), motif], (20, 64), rng)
    with pytest.raises(ValueError, match="letters must be H, E, L"):
        SecondaryStructure("HHQ")
    for fraction in ((0.8, 0.4), (float("nan"), 0.2)):
        with pytest.raises(ValueError, match="sum to <= 1"):
            SecondaryStructure(fraction=fraction)
    with pytest.raises(ValueError, match="expected N or MIN-MAX"):
        parse_range("60-")
    assert parse_ss_fraction("helix=0.3, strand=0.4") == (0.3, 0.4)
    assert parse_ss_fraction("strand=0.2") == (0.0, 0.2)
    with pytest.raises(ValueError, match="use helix=F"):
        parse_ss_fraction("coil=0.2")
    assert compose([], (20, 64), rng).length in range(20, 65)
    assert isinstance(plan, DesignPlan)


CONDITIONER_SETS = {
    "length": [Length("30")],
    "ss string": [SecondaryStructure("LLHHHHHHHHHHLLLEEEEELLEEEEELLL")],
    "ss fraction": [Length("30"), SecondaryStructure(fraction=(0.4, 0.2))],
    "motif": [Motif.from_contig(MOTIF_5TPN, "5-10/A163-181/5-10")],
    "motif + ss + length": [
        Length("30-36"),
        SecondaryStructure("-" * 5 + "H" * 19 + "-" * 6),
        Motif.from_contig(MOTIF_5TPN, "5-10/A163-181/5-10"),
    ],
}


@pytest.mark.parametrize("name", list(CONDITIONER_SETS))
@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_every_conditioner_alone_and_composed_runs_through_sampling(gen, name, guidance):
    """Contract: any list of conditioners -> plans -> a short sampling loop -> designs that
    honour the plan (length, motif exact in the unrefined output, requested SS recorded)."""
    conditioners = CONDITIONER_SETS[name]
    designs = gen.design(2, conditioners, guidance=guidance, steps=3, seed=0, refine=False)
    plans = gen.plan_designs(2, conditioners, seed=0)
    for design, plan in zip(designs, plans):
        assert len(design) == plan.length and np.isfinite(design.coords).all()
        if len(plan.motif_index):
            motif = design.coords[plan.motif_index, :3]
            assert rmsd_after_superposition(motif, plan.motif_xyz[:, :3]) < 1e-3
            assert design.metadata["motif_rmsd"] < 1e-3
            assert "".join(design.sequence[i] for i in plan.motif_index) == plan.motif_sequence
            assert design.b_factors[plan.motif_index].min() == 1.0 and design.b_factors.sum() == len(
                plan.motif_index
            )
        else:
            assert set(design.sequence) == {"G"} and "motif_rmsd" not in design.metadata
        if plan.ss is not None:
            assert design.metadata["ss_requested"] == plan.ss


def test_plans_become_the_networks_conditioning_inputs(gen):
    from molgen.structures.secondary_structure import SS_UNSPECIFIED

    motif = Motif.from_contig(MOTIF_5TPN, "5-10/A163-181/5-10")
    plans = [
        gen.plan_designs(1, [SecondaryStructure("-" * 5 + "H" * 19 + "E" * 6, (0.6, 0.2)), motif], seed=0)[0],
        gen.plan_designs(1, [Length("25")], seed=0)[0],
    ]
    cond = gen._conditions(plans)
    first = plans[0]
    assert cond.ss.tolist() == [SS_UNSPECIFIED] * 5 + [0] * 19 + [1] * 6 + [SS_UNSPECIFIED] * 25
    assert cond.ss_fraction_given.tolist() == [True, False]
    torch.testing.assert_close(cond.ss_fraction[0], torch.tensor([0.6, 0.2]))
    assert cond.motif.nonzero().flatten().tolist() == first.motif_index.tolist()
    scaled = torch.as_tensor(first.motif_xyz[:, :3], dtype=torch.float32) / gen.stats.coord_scale
    torch.testing.assert_close(cond.motif_xyz[cond.motif], scaled)


def test_guidance_and_conditions_change_the_designs(gen):
    ss = [SecondaryStructure("H" * 30)]
    plain = gen.design(2, [Length("30")], steps=4, seed=3, refine=False)
    guided = gen.design(2, ss, guidance=3.0, steps=4, seed=3, refine=False)
    conditional = gen.design(2, ss, guidance=1.0, steps=4, seed=3, refine=False)
    assert np.abs(plain[0].coords - conditional[0].coords).max() > 1e-4
    assert np.abs(guided[0].coords - conditional[0].coords).max() > 1e-4


def test_a_model_without_conditioning_refuses_conditions(gen):
    import dataclasses

    plain_config = dataclasses.replace(
        gen.config, denoiser=dataclasses.replace(gen.config.denoiser, conditioning=False)
    )
    plain = BackboneGenerator(plain_config, gen.net, gen.stats, name="plain", device="cpu")
    with pytest.raises(ValueError, match="trained without conditioning"):
        plain.plan_designs(1, [SecondaryStructure("H" * 30)])
    assert len(plain.plan_designs(1, [Length("30")])) == 1


def test_ss_agreement_counts_specified_residues_per_class():
    agreement = ss_agreement("HHHH--EELL", "HHHLLLEEEL")
    assert agreement["all"] == pytest.approx(6 / 8)
    assert agreement["H"] == 0.75 and agreement["E"] == 1.0 and agreement["L"] == 0.5
    assert np.isnan(ss_agreement("HH--", "HHLL")["E"])


# ---------------------------------------------------------------- motif benchmark
def test_the_bundled_motif_problems_are_the_24_of_the_rfdiffusion_set(tmp_path):
    problems = load_problems()
    assert len(problems) == 24
    by_name = {p.name: p for p in problems}
    assert by_name["5TPN"].contig == "10-40/A163-181/10-40" and by_name["5TPN"].length_range == (50, 75)
    assert by_name["1BCF"].contig == "8-15/A92-99/16-30/A123-130/16-30/A47-54/16-30/A18-25/8-15"
    for p in problems:  # every spec names residues present in its file
        Motif.from_contig(p.path, p.contig)
    with pytest.raises(ValueError, match="unknown motif problem"):
        load_problems(names=["nope"])
    with pytest.raises(ValueError, match="does not exist"):
        load_problems(BUNDLED_PROBLEMS / "nope")
    with pytest.raises(ValueError, match="no motif problems"):
        load_problems(tmp_path)


def test_run_problem_scores_designs(gen, tmp_path):
    problem = MotifProblem("toy", MOTIF_5TPN, "5-10/A163-181/5-10", (25, 40))
    row = run_problem(gen, problem, 2, steps=3, sampler="ancestral-mean", seed=0, out_dir=tmp_path)
    assert row["designs"] == 2 and 0 <= row["success_rate"] <= 1 and row["solved"] in (0, 1)
    assert row["motif_rmsd_max"] < 1e-3  # the motif is imposed and refinement holds it
    assert row["solved_strict"] <= row["solved"]
    assert len(list(tmp_path.glob("toy_*.pdb"))) == 2
    too_long = MotifProblem("long", MOTIF_5TPN, "50/A163-181/50", (119, 119))
    assert run_problem(gen, too_long, 2, steps=3, sampler="dpm2m", seed=0)["designs"] == 0


# ---------------------------------------------------------------- CLI
def _sample(tmp_path: Path, model_dir, *extra: str):
    out = tmp_path / "designs"
    args = [
        "sample",
        "backbones",
        "--out",
        str(out),
        "--model",
        str(model_dir),
        "--steps",
        "3",
        "--seed",
        "0",
    ]
    return out, runner.invoke(app, [*args, "--device", "cpu", *extra])


def test_cli_scaffolds_a_motif_and_records_the_mapping(tmp_path, tiny_backbone_model_dir):
    out, result = _sample(
        tmp_path,
        tiny_backbone_model_dir,
        "--motif",
        str(MOTIF_5TPN),
        "--contig",
        "5-10/A163-181/5-10",
        "-n",
        "2",
    )
    assert result.exit_code == 0, result.output
    with open(out / "manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        pairs = [p.split(":") for p in row["motif_mapping"].split()]
        assert [label for label, _ in pairs] == [f"A{n}" for n in range(163, 182)]
        residues = list(PDBParser(QUIET=True).get_structure("d", str(out / row["file"]))[0]["A"])
        motif = read_backbone(MOTIF_5TPN)
        for (_, position), want in zip(pairs, motif.sequence):
            residue = residues[int(position) - 1]
            assert residue.id[1] == int(position) and residue["CA"].get_bfactor() == 1.0
            assert protein_letters_3to1[residue.get_resname()] == want
        assert float(row["motif_rmsd"]) < 1e-3 and len(residues) == int(row["length"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--motif", str(MOTIF_5TPN), "--contig", "5/A150-170/5"], "A150"),
        (["--motif", str(MOTIF_5TPN), "--contig", "5/A163-170/A168-175/5"], "overlap"),
        (["--motif", str(MOTIF_5TPN), "--contig", "50-60/A163-181/50-60"], "does not meet the length bounds"),
        (["--contig", "5/A163-170/5"], "--motif and --contig go together"),
        (["--ss", "HHHHQ"], "letters must be H, E, L"),
        (["--length", "30", "--ss", "HHHH"], "needs 4 residues"),
        (["--length", "30", "--ss-fraction", "coil=1"], "use helix=F"),
        (["--length", "30", "--guidance", "2"], "--guidance applies to --ss"),
        ([], "say how long the designs are"),
    ],
)
def test_cli_conditional_bad_input_exits_2_and_writes_nothing(
    tmp_path, tiny_backbone_model_dir, extra, message
):
    out, result = _sample(tmp_path, tiny_backbone_model_dir, *extra)
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_benchmark_motifs_prints_a_table(tmp_path, tiny_backbone_model_dir):
    args = ["benchmark", "motifs", "--problems", "5TPN", "-n", "2", "--steps", "3", "--device", "cpu"]
    args += ["--model", str(tiny_backbone_model_dir), "--json", str(tmp_path / "m.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| 5TPN |" in result.output and "(2 designs each" in result.output
    assert (tmp_path / "m.json").exists()


def test_refinement_holds_fixed_residues(real_chains):
    from molgen.structures.backbone_geometry import idealize

    coords = real_chains[0].coords[:40, :3]
    noisy = coords + np.random.default_rng(0).normal(scale=0.2, size=coords.shape)
    fixed = np.zeros(40, dtype=bool)
    fixed[10:20] = True
    refined = idealize(noisy, fixed=fixed)
    np.testing.assert_array_equal(refined[fixed], noisy[fixed])
    assert np.abs(refined[~fixed] - noisy[~fixed]).max() > 0.01


def test_the_readme_scaffold_command_runs_as_written(tmp_path):
    """README "Design a scaffold in one command", with the bundled model (output folder moved)."""
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("molgen sample backbones --motif"))
    args = shlex.split(line)[1:]
    args[args.index("--out") + 1] = str(tmp_path / "scaffolds")
    result = runner.invoke(app, args)  # --motif 5tpn: the bundled problem, found by name
    assert result.exit_code == 0, result.output
    with open(tmp_path / "scaffolds" / "manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    for row in rows:
        assert 50 <= int(row["length"]) <= 75 and "A163-181" in row["contig"]
        assert float(row["motif_rmsd"]) < 1e-3 and int(row["chain_breaks"]) == 0


def test_cli_backbone_sampling_defaults_are_the_generators():
    import inspect

    from molgen import cli
    from molgen.generators.backbones import DEFAULT_SAMPLER, DEFAULT_STEPS

    for command in (cli.sample_backbones, cli.benchmark_motifs_cmd):
        params = inspect.signature(command).parameters
        assert (params["steps"].default, params["sampler"].default) == (DEFAULT_STEPS, DEFAULT_SAMPLER)


def test_backbones_sample_on_their_models_time_grid_unless_told(tmp_path):
    gen = BackboneGenerator.from_pretrained("backbones")
    assert gen.sampling["time_power"] == 2.0  # measured: docs/benchmarks.md, "The time grid"
    own, uniform = (
        gen.sample(40, steps=3, seed=0, refine=False, **power)[0] for power in ({}, {"time_power": 1.0})
    )
    assert (own.metadata["time_power"], uniform.metadata["time_power"]) == (2.0, 1.0)
    assert not np.allclose(own.coords, uniform.coords)


# ------------------------------------------------------------ multi-motif
MULTI_MOTIF = bundled_data("motif_multi", "1bcf_2groups.pdb")
MULTI_CONTIG = "8-15/A92-99@A/16-30/A123-130@A/16-30/A47-54@B/16-30/A18-25@B/8-15"


def test_contig_groups_make_one_rigid_body_each_and_unlabelled_segments_share_one():
    segments = parse_contig("5/A163-170@x/5/A175-181/3/A171-174@x")
    assert [s.group for s in segments if s.is_motif] == ["x", "", "x"]
    plan = Motif.from_contig(MOTIF_5TPN, "5/A163-170@x/5/A175-181/3/A171-174@x").plan(
        DesignPlan((20, 60)), np.random.default_rng(0)
    )
    assert plan.motif_group.tolist() == [0] * 8 + [1] * 7 + [0] * 4
    assert (
        Motif.from_contig(MOTIF_5TPN, "5/A163-181/5")
        .plan(DesignPlan((20, 60)), np.random.default_rng(0))
        .motif_group.max()
        == 0
    )
    with pytest.raises(ValueError, match="does not meet the length bounds"):  # a request no design can hold
        Motif.from_contig(MOTIF_5TPN, "5/A163-181@a/5").plan(DesignPlan((40, 60)), np.random.default_rng(0))


def test_the_multi_motif_example_reads_its_group_letters_and_places_the_groups_independently(gen):
    (problem,) = load_problems(MULTI_MOTIF.parent)
    assert problem.contig == MULTI_CONTIG and problem.length_range == (96, 152)
    short = "1/A92-99@A/2/A123-130@A/2/A47-54@B/2/A18-25@B/1"  # fits the tiny model's 20-64 residues
    designs = gen.design(3, [Motif.from_contig(MULTI_MOTIF, short)], steps=3, seed=0)
    whole = []
    for d in designs:
        index, groups = np.array(d.metadata["motif_index"]), np.array(d.metadata["motif_groups"])
        motif = read_backbone(MULTI_MOTIF).coords[:, :3]  # file order = contig order here
        assert groups.tolist() == [0] * 16 + [1] * 16
        for g in (0, 1):  # each group is imposed exactly ...
            assert rmsd_after_superposition(d.coords[index[groups == g], :3], motif[groups == g]) < 1e-3
        whole.append(rmsd_after_superposition(d.coords[index, :3], motif))
    assert d.metadata["motif_rmsd"] < 1e-3
    assert max(whole) > 0.5  # ... but not the two together: an untrained model places them apart


def test_motif_groups_hide_each_others_pose_from_the_network():
    from molgen.models.backbone_conditions import BackboneConditions

    cond = BackboneConditions.none(6, 1)
    cond = dataclasses.replace(
        cond,
        motif=torch.tensor([1, 1, 0, 1, 1, 0], dtype=torch.bool),
        motif_group=torch.tensor([0, 0, 0, 1, 1, 0]),
    )
    src, dst = torch.tensor([0, 0, 3, 2]), torch.tensor([1, 3, 4, 1])
    assert cond.motif_pairs(src, dst).tolist() == [True, False, True, False]


def test_cli_benchmark_runs_the_multi_motif_example_with_the_bundled_model():
    args = ["benchmark", "motifs", "--folder", str(MULTI_MOTIF.parent), "-n", "1", "--steps", "3"]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| 1BCF_2groups |"))
    assert "A92-99@A" in row and "| 1 |" in row  # one design made


def test_missed_secondary_structure_requests_are_reported_per_class():
    from molgen.generators.backbones import missed_requests, requested_fractions

    assert requested_fractions({"ss_requested": "HHHHEE--LL"}) == (0.4, 0.2)
    assert requested_fractions({"ss_fraction_requested": (0.3, 0.1), "ss_requested": "HH"}) == (0.3, 0.1)
    fraction = {
        "ss_fraction_requested": "helix=0.2,strand=0.4",
        "helix_requested": 0.2,
        "strand_requested": 0.4,
    }
    rows = [
        fraction | {"helix": 0.25, "strand": 0.30},  # within 20 points on both
        fraction | {"helix": 0.70, "strand": 0.00},  # too much helix, too little strand
        {
            "helix_requested": 0.4,
            "strand_requested": 0.2,
            "helix": 0.9,
            "strand": 0.1,
        },  # a string: more is fine
    ]
    helix, strand = missed_requests(rows)
    assert helix.startswith("1/3 designs missed the requested helix share") and "achieved 0.70-0.70" in helix
    assert strand.startswith("1/3 designs missed the requested strand share") and "requested 0.40" in strand
    assert missed_requests(rows[:1]) == []


def test_cli_warns_when_designs_miss_the_requested_secondary_structure(tmp_path, tiny_backbone_model_dir):
    out, result = _sample(
        tmp_path, tiny_backbone_model_dir, "--length", "30", "--ss-fraction", "strand=0.9", "-n", "2"
    )
    assert result.exit_code == 0, result.output
    assert "designs missed the requested strand share" in result.stderr  # an untrained model makes no sheets
    with open(out / "manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert all(float(r["strand_requested"]) == 0.9 for r in rows)


# ------------------------------------------------------------ strand pairing (issue 21)
def test_pairs_grammar_reads_strand_numbers_and_directions():
    from molgen.generators.conditioners import format_pairs, parse_pairs
    from molgen.structures.secondary_structure import ANTIPARALLEL, PARALLEL

    pairs = parse_pairs("E1:E2, e3:E2:parallel,E1:E4:antiparallel")
    assert pairs == ((0, 1, ANTIPARALLEL), (1, 2, PARALLEL), (0, 3, ANTIPARALLEL))
    assert parse_pairs(format_pairs(pairs)) == pairs
    for bad in ("E1:E1", "E0:E2", "E1-E2", "E1:E2:sideways", ""):
        with pytest.raises(ValueError):
            parse_pairs(bad)
    with pytest.raises(ValueError, match="has 2 strand"):
        SecondaryStructure("LEEEELLEEEEL", pairs=parse_pairs("E1:E3"))


def test_a_template_gives_its_topology_with_jittered_loops(real_chains):
    from molgen.generators.conditioners import Topology
    from molgen.structures.secondary_structure import strand_pairing

    path = HELD_OUT / "2kl8_A.pdb"
    topology = Topology.from_structure(path)
    assert topology.pairs == tuple(
        (a, b, k) for (a, b), k in sorted(strand_pairing(read_backbone(path)).items())
    )
    plans = [topology.plan(DesignPlan((20, 200)), np.random.default_rng(s)) for s in range(6)]
    strip = topology.ss.replace("L", "")
    assert all(p.ss.replace("L", "") == strip and p.strand_pairs == topology.pairs for p in plans)
    assert len({p.length for p in plans}) > 1  # loops are jittered per design


def test_a_template_topology_is_fitted_to_the_allowed_length(real_chains):
    from molgen.generators.conditioners import Topology

    topology = Topology.from_structure(HELD_OUT / "2kl8_A.pdb", jitter=0)
    n, strip = len(topology.ss), topology.ss.replace("L", "")
    for want in (n - 3, n + 7):
        plan = compose([Length(str(want)), topology], (20, 300), np.random.default_rng(0))
        assert plan.length == want == len(plan.ss) and plan.ss.replace("L", "") == strip
    with pytest.raises(ValueError, match="needs at least"):
        compose([Length(str(len(strip) - 1)), topology], (20, 300), np.random.default_rng(0))


def test_a_chain_set_gives_each_design_the_topology_of_a_chain_that_fits(real_chains):
    from molgen.generators.conditioners import TopologySet, topology_from

    chains = topology_from("pdb-chains")
    assert isinstance(chains, TopologySet) and len(chains.chains) == len(real_chains)
    rng = np.random.default_rng(0)
    plans = [compose([Length("60-128"), chains], (40, 256), rng) for _ in range(12)]
    assert all(60 <= p.length <= 128 and len(p.ss) == p.length for p in plans)
    assert len({p.length_source for p in plans}) > 6  # a different chain per design
    assert any(p.strand_pairs for p in plans) and any("E" in p.ss for p in plans)
    fixed = compose([Length("90"), chains], (40, 256), rng)
    assert fixed.length == 90
    with pytest.raises(ValueError, match="no chains"):
        TopologySet((), "empty")


def test_a_template_registers_move_with_their_strands():
    from molgen.generators.conditioners import Topology
    from molgen.structures.secondary_structure import strand_elements

    chain = read_backbone(HELD_OUT / "1qjg_A.pdb")
    topology = Topology.from_backbone(chain, "1qjg")
    assert len(topology.bridges) > 10
    element = strand_elements(topology.ss)
    for seed in range(4):
        plan = topology.plan(DesignPlan((20, 300)), np.random.default_rng(seed))
        moved = strand_elements(plan.ss)
        assert len(plan.strand_bridges) == len(topology.bridges)
        for (i, j), (a, b) in zip(topology.bridges, plan.strand_bridges):
            assert (moved[a], moved[b]) == (element[i], element[j])  # same strands ...
            # ... and the same place within them
            assert a - np.flatnonzero(moved == moved[a])[0] == i - np.flatnonzero(element == element[i])[0]


def test_a_register_model_reads_the_bridged_pairs_of_its_training_chains(tmp_path, real_chains):
    from molgen.structures.secondary_structure import BRIDGED, bridge_partners
    from molgen.testing import TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN
    from molgen.training.backbone_trainer import BackboneTrainer

    denoiser = dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, pairing=True, registers=True)
    model = dataclasses.replace(TINY_BACKBONE_MODEL, denoiser=denoiser)
    train = dataclasses.replace(
        TINY_BACKBONE_TRAIN, pairing_probability=1.0, register_probability=1.0, batch_size=4
    )
    chains = [c for c in real_chains if bridge_partners(c)[0].shape[0] > 8][:8]
    trainer = BackboneTrainer(chains, tmp_path, model, train)
    kind = trainer.local_inputs(0).cond.pair_kind
    assert (kind > BRIDGED).any() and (kind <= BRIDGED).any()  # the register inside the blocks
    encoded = trainer.encoded
    assert list(encoded.lengths[:2]) == [len(chains[0]), len(chains[1])]
    whole = encoded.batch(np.arange(2), np.zeros(2), 10**6)
    everyone = np.ones(len(whole.row), dtype=bool)
    index, kind = encoded.pairs_of(whole.element, everyone, whole.row, everyone)
    blocks = {tuple(p) for p in index.T.tolist()}
    bridges = {(int(i), int(j)) for i, j in bridge_partners(chains[0])[0]}
    bridges |= {(int(i) + len(chains[0]), int(j) + len(chains[0])) for i, j in bridge_partners(chains[1])[0]}
    marked = {tuple(p) for p in index[:, kind > BRIDGED].T.tolist()}
    assert marked and marked == bridges & blocks
    _, unmarked = encoded.pairs_of(whole.element, everyone, whole.row, ~everyone)
    assert torch.equal(unmarked, torch.where(kind > BRIDGED, kind - BRIDGED, kind))
    loss, _ = trainer.loss(0)
    loss.backward()
    assert trainer.net.register_embed.weight.grad.abs().sum() > 0
    # sampling: a template's registers reach the network
    from molgen.generators.conditioners import Topology

    gen = BackboneGenerator.from_pretrained(trainer.train())
    topology = Topology.from_structure(HELD_OUT / "1qjg_A.pdb")
    plan = topology.plan(DesignPlan((20, 300)), np.random.default_rng(0))
    kind = gen._conditions([plan]).pair_kind
    assert 0 < int((kind > BRIDGED).sum()) <= len(plan.strand_bridges) < int((kind > 0).sum())


def test_a_pairing_model_trains_on_the_real_pairing_and_reads_it(tmp_path, real_chains):
    from molgen.structures.backbone import Backbone, ideal_oxygens
    from molgen.structures.secondary_structure import bridge_partners
    from molgen.testing import TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN
    from molgen.training.backbone_trainer import BackboneTrainer

    model = dataclasses.replace(
        TINY_BACKBONE_MODEL, denoiser=dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, pairing=True)
    )
    train = dataclasses.replace(TINY_BACKBONE_TRAIN, pairing_probability=1.0, batch_size=4)
    trainer = BackboneTrainer(real_chains[:16], tmp_path, model, train)
    batch = trainer.local_inputs(0)
    cond, rbatch = batch.cond, batch.x0.batch[::3]
    assert cond.pair_kind.numel() > 0 and (cond.pair_index[0] < cond.pair_index[1]).all()
    assert (rbatch[cond.pair_index[0]] == rbatch[cond.pair_index[1]]).all()
    # every DSSP bridge of a crop between two strands lies inside the given block adjacency
    xyz = (batch.x0.pos * trainer.stats.coord_scale).reshape(-1, 3, 3).double().numpy()
    given = {tuple(p) for p in cond.pair_index.T.tolist()}
    g = int(rbatch[cond.pair_index[0, 0]])
    first = int(torch.nonzero(rbatch == g)[0])
    crop = xyz[(rbatch == g).numpy()]
    o = ideal_oxygens(crop[:, 0], crop[:, 1], crop[:, 2])
    bridges, _ = bridge_partners(Backbone(np.concatenate([crop, o[:, None]], 1), "G" * len(crop)))
    inside = [(i + first, j + first) in given for i, j in bridges.tolist()]
    assert np.mean(inside) > 0.8  # the crop's own DSSP agrees with the full chain's on most bridges
    loss, _ = trainer.loss(0)
    loss.backward()
    assert trainer.net.pairing_embed.weight.grad.abs().sum() > 0
    assert cond.has_guided_parts and not cond.unconditional().has_guided_parts
    doubled = cond.cat(cond)
    assert torch.equal(doubled.pair_index[:, cond.pair_kind.numel() :], cond.pair_index + len(cond.ss))


def test_cli_pairs_need_a_pairing_model_and_are_reported(tmp_path, tiny_backbone_model_dir):
    ss = "LLEEEEEELLLEEEEEELLLEEEEEELL"
    out, result = _sample(tmp_path, tiny_backbone_model_dir, "--ss", ss, "--pairs", "E1:E2,E2:E3", "-n", "1")
    assert result.exit_code == 2 and "trained without strand pairing" in result.output
    out, result = _sample(tmp_path, tiny_backbone_model_dir, "--length", "30", "--pairs", "E1:E2")
    assert result.exit_code == 2 and "give --ss too" in result.output


def test_a_pairing_model_samples_with_pairs_and_the_manifest_reports_them(tmp_path, real_chains):
    from molgen.io.pdb import write_pdb
    from molgen.testing import TINY_BACKBONE_MODEL, TINY_BACKBONE_TRAIN
    from molgen.training.backbone_trainer import BackboneTrainer

    model = dataclasses.replace(
        TINY_BACKBONE_MODEL, denoiser=dataclasses.replace(TINY_BACKBONE_MODEL.denoiser, pairing=True)
    )
    train = dataclasses.replace(TINY_BACKBONE_TRAIN, pairing_probability=0.5)
    model_dir = BackboneTrainer(real_chains[:16], tmp_path / "run", model, train).train()
    ss = "LLEEEEEELLLEEEEEELLLEEEEEELL"
    out, result = _sample(tmp_path, model_dir, "--ss", ss, "--pairs", "E1:E2,E2:E3:parallel", "-n", "2")
    assert result.exit_code == 0, result.output
    with open(out / "manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert all(r["pairs_requested"] == "E1:E2,E2:E3:parallel" for r in rows)
    requested = {"E1:E2", "E2:E3:parallel"}
    assert all(set(filter(None, r["pairs_achieved"].split(","))) <= requested for r in rows)
    missed = any(r["pairs_achieved"] != r["pairs_requested"] for r in rows)
    assert missed == ("lack a requested strand pairing" in result.stderr)
    template = write_pdb(read_backbone(HELD_OUT / "3ixt_L.pdb")[:55], tmp_path / "t.pdb")
    (tmp_path / "templated").mkdir()
    out2, result = _sample(tmp_path / "templated", model_dir, "--ss-from", str(template), "-n", "2")
    assert result.exit_code == 0, result.output
    with open(out2 / "manifest.csv") as handle:
        assert all(r["pairs_requested"] for r in csv.DictReader(handle))
    (tmp_path / "from_set").mkdir()
    out3, result = _sample(tmp_path / "from_set", model_dir, "--ss-from", "pdb-chains", "-n", "3")
    assert result.exit_code == 0, result.output
    with open(out3 / "manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and len({r["template"] for r in rows}) == 3
    assert all(r["template"].startswith("pdb-chains chain ") for r in rows)


def test_compiled_layers_sample_the_designs_of_eager_ones(tmp_path, tiny_backbone_model_dir):
    args = ("--length", "20-30", "-n", "2", "--no-refine")  # the refinement's L-BFGS magnifies rounding
    eager_out, eager = _sample(tmp_path / "eager", tiny_backbone_model_dir, *args)
    out, compiled = _sample(tmp_path / "compiled", tiny_backbone_model_dir, *args, "--compile")
    assert eager.exit_code == 0 and compiled.exit_code == 0, compiled.output
    for name in ("design_0000.pdb", "design_0001.pdb"):
        a, b = (read_backbone(folder / name) for folder in (eager_out, out))
        assert len(a) == len(b)
        np.testing.assert_allclose(a.coords, b.coords, atol=0.002)  # PDB files keep 0.001 A
    compiled_gen = BackboneGenerator.from_pretrained(tiny_backbone_model_dir, device="cpu", compile=True)
    assert all(layer._compiled_call_impl is not None for layer in compiled_gen.net.layers)
