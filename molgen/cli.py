"""The ``molgen`` command line: a thin layer over the Python API.

User errors print one line on stderr and exit with status 2; internal errors exit 1 with a
hint to rerun with ``--verbose`` for the traceback.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="molgen: equivariant diffusion for 3D molecules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sample_app = typer.Typer(help="Generate structures with a trained model.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model on your data.", no_args_is_help=True)
app.add_typer(sample_app, name="sample")
benchmark_app = typer.Typer(help="Score generated structures.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(benchmark_app, name="benchmark")

_state = {"verbose": False}


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging and full tracebacks.")
    ] = False,
) -> None:
    _state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s: %(message)s",
    )


def cli_errors(fn: Callable) -> Callable:
    """Turn user errors (ValueError, OSError) into one stderr line + exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, OSError, ModuleNotFoundError) as err:
            if _state["verbose"]:
                raise
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as err:
            if _state["verbose"]:
                raise
            typer.echo(
                f"internal error: {type(err).__name__}: {err} (rerun with --verbose for the traceback)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper


SamplerOption = Annotated[str, typer.Option(help="ancestral | ancestral-mean | ddim | dpm2m")]
BackboneSteps = Annotated[int, typer.Option(help="Denoiser evaluations per design.")]
PrecisionOption = Annotated[str, typer.Option(help="fp32 | bf16 (denoiser under bfloat16 autocast)")]


@sample_app.command("molecules")
@cli_errors
def sample_molecules(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output SDF file.")],
    num_molecules: Annotated[int, typer.Option("--num-molecules", "-n", help="Molecules to generate.")] = 100,
    model: Annotated[
        str, typer.Option(help="Bundled model name (qm9, qm9-heavy) or a model folder.")
    ] = "qm9",
    steps: Annotated[
        int | None, typer.Option(help="Denoiser evaluations per molecule (default 50; 20 with --fragment).")
    ] = None,
    sampler: Annotated[
        str | None,
        typer.Option(
            help="ancestral | ancestral-mean | ddim | dpm2m (default dpm2m; ancestral with --fragment)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same file).")] = None,
    num_atoms: Annotated[
        str | None,
        typer.Option(
            help="Atoms per molecule: N or a range A-B (heavy atoms for implicit-hydrogen models "
            "such as qm9-heavy; default: training histogram)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Molecules per batch.")] = 256,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    prop: Annotated[
        list[str] | None,
        typer.Option(
            "--property",
            help="Target property of a property-conditioned model, NAME=VALUE (repeatable); "
            "names and units: alpha (Bohr^3), gap, homo, lumo (Hartree), mu (Debye), cv (cal/(mol K)).",
        ),
    ] = None,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance weight for --property.")] = 1.0,
    fragment: Annotated[
        Path | None, typer.Option(help="SDF whose first molecule every sample must contain (kept rigid).")
    ] = None,
    resample: Annotated[
        int | None,
        typer.Option(help="RePaint resampling per step (ancestral only) (default 1; 10 with --fragment)."),
    ] = None,
    precision: PrecisionOption = "fp32",
) -> None:
    """Sample molecules into an SDF file (SD tags: index, seed, model, steps, valid, smiles;
    target_NAME and guidance with --property; fixed_atoms and resample with --fragment)."""
    from molgen.generators.molecules import MoleculeGenerator
    from molgen.io.sdf import SDFWriter, read_first_molecule

    sizes = _parse_num_atoms(num_atoms)
    targets = _parse_properties(prop or [])
    fixed = read_first_molecule(fragment) if fragment is not None else None
    gen = MoleculeGenerator.from_pretrained(model, device=device, precision=precision)
    gen.conditions(targets)  # bad requests fail before the output file is opened
    writer = SDFWriter(out)
    start = time.perf_counter()
    valid, smiles = 0, set()
    with writer:
        batches = gen.iter_batches(
            num_molecules,
            num_atoms=sizes,
            properties=targets,
            guidance=guidance,
            fixed=fixed,
            steps=steps,
            sampler=sampler,
            resample=resample,
            seed=seed,
            batch_size=batch_size,
            progress=True,
        )
        for mols in batches:
            for mol in mols:
                writer.write(mol)
                if mol.GetIntProp("valid"):
                    valid += 1
                    smiles.add(mol.GetProp("smiles"))
    seconds = time.perf_counter() - start
    n = writer.count
    typer.echo(
        f"wrote {n} molecules to {out} in {seconds:.1f} s ({seconds / n:.3f} s/molecule, {gen.device})"
    )
    typer.echo(f"valid (bond orders assigned, sanitises, neutral): {valid}/{n} = {100 * valid / n:.1f} %")
    typer.echo(f"unique among valid: {len(smiles)}/{valid}")


def _parse_num_atoms(text: str | None) -> int | range | None:
    """``"15"`` -> 15, ``"15-20"`` -> range(15, 21), None -> None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise ValueError(f"--num-atoms {text!r}: expected N or A-B, e.g. 15 or 15-20")
    lo, hi = int(match[1]), match[2]
    if lo < 1 or (hi is not None and int(hi) < lo):
        raise ValueError(f"--num-atoms {text!r}: need 1 <= A <= B")
    return lo if hi is None else range(lo, int(hi) + 1)


def _parse_properties(items: list[str]) -> dict[str, float]:
    """``["alpha=80", "gap=0.25"]`` -> ``{"alpha": 80.0, "gap": 0.25}``."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValueError(f"--property {item!r}: expected NAME=VALUE, e.g. alpha=80")
    return out


TrainOut = Annotated[Path, typer.Option(help="Run folder: metrics.csv, checkpoints/, model/.")]
TrainConfigFile = Annotated[Path | None, typer.Option(help="YAML with model: and train: sections.")]
Resume = Annotated[bool, typer.Option(help="Continue from OUT/checkpoints/last.pt.")]
MaxSteps = Annotated[int | None, typer.Option(help="Override train.max_steps.")]
MaxMinutes = Annotated[float | None, typer.Option(help="Override train.max_minutes.")]
CooldownSteps = Annotated[
    int | None,
    typer.Option(help="Override train.cooldown_steps (learning rate to zero over the last N steps)."),
]
TrainDevice = Annotated[str, typer.Option(help="auto | cpu | cuda")]
InitFrom = Annotated[str | None, typer.Option(help="Start from a model folder or a bundled model's name.")]


@train_app.command("molecules")
@cli_errors
def train_molecules(
    data: Annotated[
        str,
        typer.Option(
            help="qm9 (full, needs molgen[qm9]) | qm9-train-a / qm9-train-b (halves of its "
            "training split) | qm9-subset | FILE.sdf | FILE.smi"
        ),
    ],
    out: TrainOut,
    config: TrainConfigFile = None,
    resume: Resume = False,
    max_steps: MaxSteps = None,
    max_minutes: MaxMinutes = None,
    cooldown_steps: CooldownSteps = None,
    device: TrainDevice = "auto",
    init_from: InitFrom = None,
) -> None:
    """Train a molecule denoiser (torchrun-aware: DDP when WORLD_SIZE > 1)."""
    from molgen.config import RunConfig
    from molgen.training.trainer import MoleculeTrainer

    dataset = _load_training_molecules(data)
    limits = {"max_steps": max_steps, "max_minutes": max_minutes, "cooldown_steps": cooldown_steps}
    _train(MoleculeTrainer, RunConfig, dataset, out, config, resume, limits, device, init_from)


@train_app.command("regressor")
@cli_errors
def train_regressor(
    data: Annotated[str, typer.Option(help="qm9-train-b (EDM's protocol) | qm9 | qm9-train-a | qm9-subset")],
    out: TrainOut,
    config: TrainConfigFile = None,
    resume: Resume = False,
    max_steps: MaxSteps = None,
    max_minutes: MaxMinutes = None,
    cooldown_steps: CooldownSteps = None,
    device: TrainDevice = "auto",
    init_from: InitFrom = None,
) -> None:
    """Train a property regressor (scores property-conditioned generators; torchrun-aware)."""
    from molgen.config import RegressorRunConfig
    from molgen.training.trainer import RegressorTrainer

    dataset = _load_training_molecules(data)
    limits = {"max_steps": max_steps, "max_minutes": max_minutes, "cooldown_steps": cooldown_steps}
    _train(RegressorTrainer, RegressorRunConfig, dataset, out, config, resume, limits, device, init_from)


@train_app.command("backbones")
@cli_errors
def train_backbones(
    data: Annotated[
        str, typer.Option(help="A backbones .npz (format in data/README.md) or a folder of PDB/mmCIF files.")
    ],
    out: TrainOut,
    config: TrainConfigFile = None,
    resume: Resume = False,
    max_steps: MaxSteps = None,
    max_minutes: MaxMinutes = None,
    cooldown_steps: CooldownSteps = None,
    device: TrainDevice = "auto",
    init_from: InitFrom = None,
) -> None:
    """Train a backbone denoiser (torchrun-aware: DDP when WORLD_SIZE > 1)."""
    from molgen.config import BackboneRunConfig
    from molgen.datasets.backbones import load_backbone_npz, read_backbone_folder
    from molgen.training.backbone_trainer import BackboneTrainer

    path = Path(data)
    if path.is_dir():
        chains = read_backbone_folder(path)
    elif path.suffix == ".npz" and path.is_file():
        chains = load_backbone_npz(path)
    else:
        raise ValueError(f"--data {data!r}: not a folder of structures or an existing .npz file")
    limits = {"max_steps": max_steps, "max_minutes": max_minutes, "cooldown_steps": cooldown_steps}
    _train(BackboneTrainer, BackboneRunConfig, chains, out, config, resume, limits, device, init_from)


def _train(trainer_cls, run_cls, dataset, out, config, resume, limits, device, init_from) -> None:
    """``limits``: the ``--max-steps`` / ``--max-minutes`` / ``--cooldown-steps`` values (None =
    the config's), applied to the run's config, a resumed checkpoint's included."""
    import dataclasses

    from molgen.config import load_config
    from molgen.runtime import resolve_device
    from molgen.training.distributed import distributed_context

    run = load_config(run_cls, config) if config else run_cls()
    overrides = {k: v for k, v in limits.items() if v is not None}
    with distributed_context(resolve_device(device)) as dev:
        trainer = trainer_cls(
            dataset,
            out,
            run.model if config or not init_from else None,  # --init-from alone keeps its model
            run.train,
            resume=resume,
            device=dev,
            init_from=init_from,
        )
        trainer.config = dataclasses.replace(trainer.config, **overrides)  # limits only act in train()
        folder = trainer.train(progress=True)
    typer.echo(f"trained {trainer.step} steps; model saved to {folder}")


@sample_app.command("backbones")
@cli_errors
def sample_backbones(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (PDB files + manifest.csv).")],
    length: Annotated[
        str | None,
        typer.Option(
            help="Residues per design: N (e.g. 80) or MIN-MAX (e.g. 60-100); bounds a contig's total."
        ),
    ] = None,
    num_samples: Annotated[int, typer.Option("--num-samples", "-n", help="Designs to generate.")] = 8,
    motif: Annotated[
        Path | None, typer.Option(help="PDB/mmCIF file holding the motif residues named by --contig.")
    ] = None,
    contig: Annotated[
        str | None, typer.Option(help="RFdiffusion contig, e.g. 10-40/A163-181/10-40 (needs --motif).")
    ] = None,
    ss: Annotated[
        str | None,
        typer.Option(help="Secondary structure per residue: H, E, L, -/X free (fixes the length)."),
    ] = None,
    ss_fraction: Annotated[
        str | None, typer.Option(help="Overall secondary structure, e.g. helix=0.3,strand=0.4.")
    ] = None,
    guidance: Annotated[
        float, typer.Option(help="Classifier-free guidance weight on --ss/--ss-fraction (1: none).")
    ] = 1.0,
    model: Annotated[
        str, typer.Option(help="Bundled model name (backbones) or a model folder.")
    ] = "backbones",
    steps: BackboneSteps = 200,  # = molgen.generators.backbones.DEFAULT_STEPS (tested)
    sampler: SamplerOption = "ancestral-mean",  # = DEFAULT_SAMPLER (tested)
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same designs).")] = None,
    refine: Annotated[
        bool,
        typer.Option(help="Polish bond lengths/angles by restrained minimisation (--no-refine: raw output)."),
    ] = True,
    batch_size: Annotated[int, typer.Option(help="Designs per batch.")] = 16,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out folder.")] = False,
    precision: PrecisionOption = "fp32",
) -> None:
    """Sample protein backbones (N, CA, C, O; chain A) as PDB files plus manifest.csv:
    by length, around a motif (--motif + --contig) and/or with secondary structure (--ss)."""
    from molgen.generators.backbones import BackboneGenerator
    from molgen.generators.conditioners import Length, Motif, SecondaryStructure, parse_ss_fraction
    from molgen.io.pdb import write_pdb
    from molgen.io.tables import write_rows
    from molgen.runtime import atomic_dir
    from molgen.structures.backbone_quality import score_backbone
    from molgen.structures.secondary_structure import ss_agreement

    if (motif is None) != (contig is None):
        raise ValueError("--motif and --contig go together")
    if length is None and contig is None and ss is None:
        raise ValueError("say how long the designs are: --length (or --contig / --ss)")
    if guidance != 1.0 and ss is None and ss_fraction is None:
        raise ValueError("--guidance applies to --ss / --ss-fraction; give one of them")
    conditioners = [Length(length)] if length is not None else []
    if ss is not None or ss_fraction is not None:
        fraction = parse_ss_fraction(ss_fraction) if ss_fraction is not None else None
        conditioners.append(SecondaryStructure(ss, fraction))
    if motif is not None:  # after a secondary-structure string, which fixes the length
        conditioners.append(Motif.from_contig(motif, contig))
    gen = BackboneGenerator.from_pretrained(model, device=device, precision=precision)
    plans = gen.plan_designs(num_samples, conditioners, seed)
    start = time.perf_counter()
    rows = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        batches = gen.iter_designs(
            plans,
            guidance=guidance,
            steps=steps,
            sampler=sampler,
            seed=seed,
            batch_size=batch_size,
            refine=refine,
            progress=True,
        )
        for designs in batches:
            for design in designs:
                name = f"design_{design.metadata['index']:04d}.pdb"
                write_pdb(design, tmp / name)
                quick = score_backbone(design)
                meta = design.metadata
                row = {
                    "file": name,
                    "length": len(design),
                    "seed": "" if seed is None else seed,
                    "steps": steps,
                    "sampler": sampler,
                    "model": model,
                    "refined": int(refine),
                    **{
                        k: quick[k]
                        for k in ("geometry_ok", "clashes", "chain_breaks", "helix", "strand", "rg", "ss")
                    },
                }
                if motif is not None:
                    mapping = zip(meta["motif_labels"], meta["motif_index"])
                    row |= {
                        "contig": meta["contig"],
                        "motif_mapping": " ".join(f"{label}:{i + 1}" for label, i in mapping),
                        "motif_rmsd": round(meta["motif_rmsd"], 3),
                    }
                if ss is not None:
                    row |= {"ss_requested": ss, "ss_agreement": ss_agreement(ss, quick["ss"])["all"]}
                if ss_fraction is not None:
                    row |= {"ss_fraction_requested": ss_fraction}
                if ss is not None or ss_fraction is not None:
                    row |= {"guidance": guidance}
                rows.append(row)
        write_rows(rows, tmp / "manifest.csv")
    seconds = time.perf_counter() - start
    typer.echo(
        f"wrote {len(rows)} backbones to {out}/ in {seconds:.1f} s "
        f"({seconds / len(rows):.2f} s/design incl. scoring, {gen.device})"
    )


@benchmark_app.command("backbones")
@cli_errors
def benchmark_backbones_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder of PDB/mmCIF designs (any tool's).")],
    reference: Annotated[
        Path | None,
        typer.Option(help="Training set (.npz or folder) for Rg law, SS and novelty (default: bundled)."),
    ] = None,
    novelty_reference: Annotated[
        int,
        typer.Option(
            help="TM-align each design against at most N similar-length reference chains (0: skip)."
        ),
    ] = 64,
    diversity: Annotated[bool, typer.Option(help="Pairwise TM-score among designs.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics as JSON.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the per-design table as CSV.")] = None,
) -> None:
    """Score backbones: geometry, breaks, clashes, Rg, DSSP, helix handedness, TM diversity/novelty."""
    import json

    from molgen.benchmark.backbones import BackboneReference, benchmark_backbones
    from molgen.benchmark.report import value_table
    from molgen.datasets.backbones import STRUCTURE_SUFFIXES, load_backbone_npz, read_backbone_folder
    from molgen.io.pdb import read_backbone
    from molgen.io.tables import write_rows
    from molgen.runtime import atomic_path

    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in STRUCTURE_SUFFIXES)
    if not files:
        raise ValueError(f"no PDB/mmCIF files in {folder}")
    designs = [read_backbone(p) for p in files]
    if reference is None or reference.suffix == ".npz":
        chains = load_backbone_npz() if reference is None else load_backbone_npz(reference)
    else:
        chains = read_backbone_folder(reference)
    result = benchmark_backbones(
        designs, BackboneReference.from_backbones(chains), novelty_reference, diversity, progress=True
    )
    typer.echo(f"{folder}: {len(designs)} designs")
    typer.echo(value_table(result.metrics))
    if json_out:
        with atomic_path(json_out) as tmp:
            tmp.write_text(json.dumps({"folder": str(folder), "metrics": result.metrics}, indent=2) + "\n")
    if csv_out:
        write_rows([{"file": p.name, **row} for p, row in zip(files, result.rows)], csv_out)


@benchmark_app.command("motifs")
@cli_errors
def benchmark_motifs_cmd(
    num_designs: Annotated[int, typer.Option("--num-designs", "-n", help="Designs per problem.")] = 8,
    problems: Annotated[
        str | None, typer.Option(help="Comma-separated problem names (default: all 24), e.g. 5TPN,1YCR.")
    ] = None,
    folder: Annotated[
        Path | None, typer.Option(help="Folder of problem PDBs with REMARK 999 specs (default: bundled).")
    ] = None,
    model: Annotated[str, typer.Option(help="Bundled model name or a model folder.")] = "backbones",
    steps: BackboneSteps = 200,  # = molgen.generators.backbones.DEFAULT_STEPS (tested)
    sampler: SamplerOption = "ancestral-mean",  # = DEFAULT_SAMPLER (tested)
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    out: Annotated[Path | None, typer.Option(help="Also write every design as PDB into this folder.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out folder.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the table as JSON.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the table as CSV.")] = None,
) -> None:
    """RFdiffusion motif-scaffolding benchmark: per problem, motif RMSD < 1 A success, geometry, time."""
    import json

    from tqdm.auto import tqdm

    from molgen.benchmark.motifs import BUNDLED_PROBLEMS, load_problems, run_problem
    from molgen.benchmark.report import rows_table
    from molgen.generators.backbones import BackboneGenerator
    from molgen.io.tables import write_rows
    from molgen.runtime import atomic_dir, atomic_path

    names = [n.strip() for n in problems.split(",")] if problems else None
    todo = load_problems(folder or BUNDLED_PROBLEMS, names)
    for problem in todo:  # every motif readable before hours of sampling
        problem.motif()
    gen = BackboneGenerator.from_pretrained(model, device=device)
    rows = []
    with atomic_dir(out, overwrite) if out else contextlib.nullcontext() as tmp:
        for problem in tqdm(todo, desc="motif problems", unit="problem"):
            rows.append(run_problem(gen, problem, num_designs, steps, sampler, seed, tmp))
    solved = sum(r.get("solved", 0) for r in rows)
    strict = sum(r.get("solved_strict", 0) for r in rows)
    typer.echo(rows_table(rows))
    typer.echo(
        f"solved {solved}/{len(rows)} problems, {strict} with a clash-free design "
        f"({num_designs} designs each, model {model}; protocol: molgen/benchmark/motifs.py)"
    )
    if json_out:
        with atomic_path(json_out) as path:
            path.write_text(
                json.dumps({"model": model, "num_designs": num_designs, "rows": rows}, indent=2) + "\n"
            )
    if csv_out:
        write_rows(rows, csv_out)


@benchmark_app.command("molecules")
@cli_errors
def benchmark_molecules_cmd(
    sdf: Annotated[Path, typer.Argument(help="SDF file to score (any tool's).")],
    reference: Annotated[
        Path | None, typer.Option(help="Reference SMILES or SDF for novelty (default: QM9 train split).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all numbers as JSON.")] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the per-molecule table as CSV.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write distribution plots as PNG (needs molgen[bench]).")
    ] = None,
    bonds: Annotated[
        str, typer.Option(help="Bonds for validity: auto (file's if any) | file | coordinates (EDM's rule).")
    ] = "auto",
    fcd: Annotated[bool, typer.Option("--fcd", help="Frechet ChemNet Distance to the reference.")] = False,
    posebusters: Annotated[
        int, typer.Option(help="Run PoseBusters' molecule checks on the first N records (slow, ~4 s each).")
    ] = 0,
) -> None:
    """Score molecules: EDM stability, validity, uniqueness, novelty (denominators stated)."""
    from molgen.benchmark.molecules import (
        benchmark_molecules,
        qm9_subset_distributions,
        qm9_train_reference,
        read_reference,
        reference_distributions,
    )
    from molgen.benchmark.report import distance_table, markdown_table, write_csv, write_json, write_plot
    from molgen.io.sdf import iter_sdf_records, read_sdf

    if not sdf.is_file():
        raise ValueError(f"SDF file {sdf} does not exist")
    if sdf.stat().st_size == 0:
        raise ValueError(f"SDF file {sdf} is empty")
    if reference is not None:
        ref = read_reference(reference)
        # a SMILES reference has no geometry: distributions fall back to the bundled QM9 molecules
        if reference.suffix.lower() == ".sdf":
            ref_stats = reference_distributions(read_sdf(reference))
        else:
            ref_stats = qm9_subset_distributions()
    else:
        ref_stats = qm9_subset_distributions()
        try:
            ref = qm9_train_reference()
        except ModuleNotFoundError:
            logging.getLogger("molgen").warning(
                "novelty skipped: QM9 reference needs molgen[qm9] (or --reference)"
            )
            ref = None
    result = benchmark_molecules(iter_sdf_records(sdf), ref, ref_stats, progress=True, bonds=bonds)
    scores = result.scores
    unreadable = [s.index for s in scores if s.problem == "unreadable record"]
    if unreadable:
        logging.getLogger("molgen").warning(
            "%d unreadable record(s), counted as failures: %s", len(unreadable), unreadable[:20]
        )
    if fcd or posebusters:
        from itertools import islice

        from molgen.benchmark.extras import fcd_score, posebusters_pass_rate
        from molgen.benchmark.molecules import sanitised

        if fcd:
            if ref is None:
                raise ValueError("--fcd needs reference SMILES: install molgen[qm9] or pass --reference")
            result.distances["fcd"] = fcd_score([s.smiles for s in scores if s.smiles], sorted(ref))
        if posebusters:
            subset = [sanitised(m, bonds) for m in islice(iter_sdf_records(sdf), posebusters)]
            result.metrics["posebusters_pass"] = posebusters_pass_rate(subset)
    typer.echo(f"{sdf}: {len(scores)} records")
    typer.echo(markdown_table(result.metrics))
    if result.distances:
        typer.echo()
        typer.echo(distance_table(result.distances))
    if json_out:
        write_json(result, json_out, {"file": str(sdf), "records": len(scores), "unreadable": unreadable})
    if csv_out:
        write_csv(scores, csv_out)
    if plot:
        write_plot(result, ref_stats, plot)


def _load_training_molecules(data: str):
    from molgen.datasets.molecules import load_molecule_file
    from molgen.datasets.qm9 import load_qm9, load_qm9_subset

    if data == "qm9":
        return load_qm9("train")
    if data in ("qm9-train-a", "qm9-train-b"):
        return load_qm9(data[4:])
    if data == "qm9-subset":
        return load_qm9_subset("train")
    if not os.path.exists(data):
        raise ValueError(
            f"--data {data!r}: not qm9, qm9-train-a, qm9-train-b, qm9-subset or an existing file"
        )
    return load_molecule_file(data, progress=True)


if __name__ == "__main__":
    app()
