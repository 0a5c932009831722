"""The ``molgen`` command line: a thin layer over the Python API (it parses options, calls the
API and prints or writes what the API returns).

User errors print one line on stderr and exit with status 2; internal errors exit 1 with a
hint to rerun with ``--verbose`` for the traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from tqdm.auto import tqdm

from molgen.benchmark.backbones import BackboneReference, benchmark_backbones, read_designs
from molgen.benchmark.molecules import benchmark_sdf
from molgen.benchmark.motifs import BUNDLED_PROBLEMS, load_problems, run_problem
from molgen.benchmark.motifs import summary as motif_summary
from molgen.benchmark.pictures import GRID_MOLECULES, backbone_plot, molecule_grid
from molgen.benchmark.report import (
    distance_table,
    markdown_table,
    rows_table,
    value_table,
    write_csv,
    write_json,
    write_plot,
)
from molgen.config import BackboneRunConfig, RegressorRunConfig, RunConfig, load_config
from molgen.console import counted_third_party_warnings
from molgen.datasets.backbones import BUNDLED_SET_NAME, load_backbone_set
from molgen.datasets.molecules import TRAINING_SETS, load_training_molecules
from molgen.generators import backbones as backbone_api
from molgen.generators import molecules as molecule_api
from molgen.generators.conditioners import (
    Length,
    Motif,
    SecondaryStructure,
    parse_pairs,
    parse_ss_fraction,
    topology_from,
)
from molgen.io.partial import PartialRun, first_records, sdf_tags
from molgen.io.pdb import write_pdb
from molgen.io.sdf import check_output_file, read_first_molecule, sdf_record
from molgen.io.tables import read_rows, write_rows
from molgen.models.pretrained import SAMPLING_KEYS
from molgen.runtime import (
    atomic_dir,
    atomic_path,
    bundled_data,
    check_output_dir,
    check_precision,
    file_or_bundled,
    molgen_version,
    resolve_device,
)
from molgen.training.backbone_trainer import BackboneTrainer
from molgen.training.distributed import distributed_context
from molgen.training.trainer import MoleculeTrainer, RegressorTrainer

app = typer.Typer(
    help="molgen: equivariant diffusion for 3D molecules and protein backbones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sample_app = typer.Typer(help="Generate structures with a trained model.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model on your data.", no_args_is_help=True)
benchmark_app = typer.Typer(help="Score generated structures.", no_args_is_help=True)
app.add_typer(sample_app, name="sample")
app.add_typer(train_app, name="train")
app.add_typer(benchmark_app, name="benchmark")

_state = {"verbose": False}


def opt(text: str, *names: str) -> typer.models.OptionInfo:
    """A typer option with help ``text`` (and the given flag names)."""
    return typer.Option(*names, help=text)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"molgen {molgen_version()}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, opt("Debug logging and full tracebacks.", "--verbose", "-v")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    _state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s: %(message)s",
    )


def cli_errors(fn: Callable) -> Callable:
    """Turn user errors (ValueError, OSError) into one stderr line + exit 2; third-party warnings
    are counted and summarised in one line (in full with --verbose)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with counted_third_party_warnings(_state["verbose"]) as tally:
                try:
                    return fn(*args, **kwargs)
                finally:
                    if not _state["verbose"] and (summary := tally.summary()) is not None:
                        typer.echo(summary, err=True)
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


SAMPLERS = "ancestral | ancestral-mean | ddim | dpm2m"


Device = Annotated[str, opt("auto | cpu | cuda | cuda:N")]
Seed = Annotated[int | None, opt("Random seed (same seed, same output).")]
Precision = Annotated[str, opt("fp32 | bf16 (denoiser under bfloat16 autocast)")]
Compile = Annotated[
    bool, opt("torch.compile the denoiser's layers: faster after 10-30 s; needs a C++ compiler.", "--compile")
]
JsonOut = Annotated[Path | None, opt("Write the results as JSON.", "--json")]
CsvOut = Annotated[Path | None, opt("Write the per-item table as CSV.", "--csv")]
Overwrite = Annotated[bool, opt("Replace a non-empty --out folder.")]
Grid = Annotated[Path | None, opt(f"PNG of the first {GRID_MOLECULES} molecules in 2D, with validity.")]
Resume = Annotated[bool, opt("Continue the interrupted run of this command (OUT.partial) where it stopped.")]
BackboneSteps = Annotated[int, opt("Denoiser evaluations per design.")]
BackboneSampler = Annotated[str, opt(SAMPLERS)]
MOLECULE_MODEL = molecule_api.MoleculeGenerator.DEFAULT_MODEL
BACKBONE_MODEL = backbone_api.BackboneGenerator.DEFAULT_MODEL
FRAGMENTS = ", ".join(sorted(p.stem for p in bundled_data("fragments").glob("*.sdf")))
MOTIF_FOLDERS = ("motif_benchmark", "motif_multi")  # bundled motif files, found by name
DEFAULT, AROUND_FRAGMENT = molecule_api.DEFAULT_SAMPLING, molecule_api.FRAGMENT_SAMPLING
MODEL_SET = {k: "the model's, else " for k in SAMPLING_KEYS}  # defaults a model folder may name
WITH_FRAGMENT = {
    k: f"(default: {MODEL_SET.get(k, '')}{DEFAULT[k]}; {AROUND_FRAGMENT[k]} with --fragment on a model "
    "not trained with fragments)."
    for k in DEFAULT
}
PROPERTY_HELP = (
    "Target property of a property-conditioned model, NAME=VALUE (repeatable); names and units: "
    "alpha (Bohr^3), gap, homo, lumo (Hartree), mu (Debye), cv (cal/(mol K))."
)
NUM_ATOMS_HELP = (
    "Atoms per molecule: N or a range A-B (heavy atoms for implicit-hydrogen models such as "
    "qm9-heavy; default: training histogram)."
)


def _sampling_options(steps: int | None, sampler: str | None, run: PartialRun, batch_size: int) -> dict:
    """The keyword options both sampling commands pass to their generator."""
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    return {"steps": steps, "sampler": sampler, "seed": run.seed, "batch_size": batch_size, "progress": True}


def _number_or_text(value):
    """A manifest value as a number where it reads as one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


@contextlib.contextmanager
def sampling_into(run: PartialRun, batch_size: int, overwrite: bool = False) -> Iterator[int]:
    """Sample into ``run``'s partial output: yields the records kept from an interrupted run; on
    success the output is moved into place. SIGTERM (a scheduler's time limit) and Ctrl-C keep
    the complete batches for ``--resume``; an error before the first record removes everything."""
    kept = run.begin(batch_size)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield kept
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: the complete batches are kept in {run.partial}; "
            "the same command with --resume finishes the run",
            err=True,
        )
        raise typer.Exit(130) from None
    except BaseException:
        if not run.resuming and not run.has_records():
            run.discard()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    run.finish(overwrite)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


TIME_POWER_HELP = (
    "Time grid t_i = (1 - i/steps)^P; P > 1 puts more of the steps at low noise "
    "[default: the model's; with --fragment on a model not trained with fragments, its "
    "fragment_time_power or 1]"
)


@sample_app.command("molecules")
@cli_errors
def sample_molecules(
    out: Annotated[Path, opt("Output SDF file.", "--out", "-o")],
    num_molecules: Annotated[int, opt("Molecules to generate.", "--num-molecules", "-n")] = 100,
    model: Annotated[str, opt("Bundled model name or a model folder.")] = MOLECULE_MODEL,
    steps: Annotated[int | None, opt(f"Denoiser evaluations per molecule {WITH_FRAGMENT['steps']}")] = None,
    sampler: Annotated[str | None, opt(f"{SAMPLERS} {WITH_FRAGMENT['sampler']}")] = None,
    seed: Seed = None,
    num_atoms: Annotated[str | None, opt(NUM_ATOMS_HELP)] = None,
    batch_size: Annotated[int, opt("Molecules per batch.")] = molecule_api.DEFAULT_BATCH_SIZE,
    device: Device = "auto",
    prop: Annotated[list[str] | None, opt(PROPERTY_HELP, "--property")] = None,
    guidance: Annotated[float, opt("Classifier-free guidance weight for --property.")] = 1.0,
    fragment: Annotated[
        str | None,
        opt("SDF whose first molecule every sample contains (rigid), or a bundled one: " + FRAGMENTS),
    ] = None,
    resample: Annotated[int | None, opt(f"RePaint resamplings per step {WITH_FRAGMENT['resample']}")] = None,
    time_power: Annotated[float | None, opt(TIME_POWER_HELP)] = None,
    precision: Precision = "fp32",
    compile_layers: Compile = False,
    resume: Resume = False,
    grid: Grid = None,
) -> None:
    """Sample molecules into an SDF file (SD tags: index, seed, model, steps, sampler, time_power,
    molgen_version, bonds_vs_geometry for a model with bonds, valid, smiles; target_NAME and
    guidance with --property; fixed_atoms and resample with --fragment). An interrupted run keeps
    its complete batches in OUT.partial; --resume finishes it."""
    check_output_file(out)
    request = {
        "command": "sample molecules", "num_molecules": num_molecules, "model": model, "steps": steps,
        "sampler": sampler, "seed": seed, "num_atoms": num_atoms, "batch_size": batch_size,
        "property": prop or [], "guidance": guidance, "fragment": fragment, "resample": resample,
        "time_power": time_power, "precision": precision,
    }  # fmt: skip
    run = PartialRun(out, request, resume)
    targets = molecule_api.parse_properties(prop or [])
    gen = molecule_api.MoleculeGenerator.from_pretrained(
        model, device=device, precision=precision, compile=compile_layers
    )
    fixed = read_first_molecule(file_or_bundled(fragment, ".sdf", "fragments")) if fragment else None
    options = _sampling_options(steps, sampler, run, batch_size)
    sizes = molecule_api.parse_num_atoms(num_atoms)
    start = time.perf_counter()
    with sampling_into(run, batch_size) as kept:
        batches = gen.iter_batches(
            num_molecules,
            num_atoms=sizes,
            properties=targets,
            guidance=guidance,
            fixed=fixed,
            resample=resample,
            time_power=time_power,
            first_batch=kept // batch_size,
            **options,
        )
        with open(run.partial, "a") as handle:
            for batch in batches:
                handle.write("".join(sdf_record(mol, mol.GetIntProp("index") + 1) for mol in batch))
                handle.flush()
    tags = list(sdf_tags(out))
    if grid:
        shown = tags[:GRID_MOLECULES]
        legends = [
            f"{t['index']}: {t['smiles']}" if t.get("valid") == 1 else f"{t['index']}: invalid" for t in shown
        ]
        molecule_grid(first_records(out, len(shown)), legends, grid)
    valid = sum(t.get("valid") == 1 for t in tags)
    smiles = {t["smiles"] for t in tags if t.get("valid") == 1}
    seconds, n = time.perf_counter() - start, len(tags)
    typer.echo(
        f"wrote {n} molecules to {out} in {seconds:.1f} s ({seconds / n:.3f} s/molecule, {gen.device})"
    )
    how = "generated bonds" if gen.config.bonds else "bond orders assigned from coordinates"
    typer.echo(f"valid ({how}, sanitises, neutral): {valid}/{n} = {100 * valid / n:.1f} %")
    typer.echo(f"unique among valid: {len(smiles)}/{valid}")


def _train_command(
    name: str, run_config: type, trainer: Callable, load_data: Callable, data_help: str
) -> None:
    """Register ``molgen train NAME``: the same options for every model kind (torchrun-aware:
    DDP when WORLD_SIZE > 1)."""

    @train_app.command(name, help=f"Train a {name} model (torchrun-aware: DDP when WORLD_SIZE > 1).")
    @cli_errors
    def train(
        out: Annotated[Path, opt("Run folder: metrics.csv, checkpoints/, model/.")],
        data: str = typer.Option(..., help=data_help),  # a closure value: not in an annotation
        config: Annotated[
            Path | None,
            opt("YAML with model: and train: sections (on --resume: its train: section replaces the run's)."),
        ] = None,
        resume: Annotated[bool, opt("Continue from OUT/checkpoints/last.pt.")] = False,
        max_steps: Annotated[int | None, opt("Override train.max_steps.")] = None,
        max_minutes: Annotated[float | None, opt("Override train.max_minutes.")] = None,
        cooldown_steps: Annotated[int | None, opt("Override train.cooldown_steps.")] = None,
        precision: Annotated[
            str | None, opt("Override train.precision: fp32 | bf16 (bfloat16 autocast).")
        ] = None,
        compile_layers: Annotated[
            bool | None,
            opt(
                "Override train.compile: torch.compile the network's layers (faster steps after a "
                "slow start; needs a C++ compiler on a CPU).",
                "--compile/--no-compile",
            ),
        ] = None,
        device: Annotated[str, opt("auto | cpu | cuda")] = "auto",
        init_from: Annotated[str | None, opt("Start from a model folder or a bundled model's name.")] = None,
    ) -> None:
        given = {  # train: settings overridden on the command line
            "max_steps": max_steps,
            "max_minutes": max_minutes,
            "cooldown_steps": cooldown_steps,
            "precision": None if precision is None else check_precision(precision),
            "compile": compile_layers,
        }
        run = load_config(run_config, config) if config else run_config()  # a typo before the data loads
        dataset = load_data(data)
        overrides = {k: v for k, v in given.items() if v is not None}
        with distributed_context(resolve_device(device)) as dev:
            model = run.model if config or not init_from else None  # --init-from alone keeps its model
            # None: the defaults, or a resumed run's own
            settings = dataclasses.replace(run.train, **overrides) if config else None
            run_trainer = trainer(
                dataset, out, model, settings, resume=resume, device=dev, init_from=init_from
            )
            # the overrides apply to the run's own config (a resumed checkpoint's too), read by train()
            run_trainer.config = dataclasses.replace(run_trainer.config, **overrides)
            folder = run_trainer.train(progress=True)
        typer.echo(f"trained {run_trainer.step} steps; model saved to {folder}")


_molecules_with_progress = functools.partial(load_training_molecules, progress=True)
for _kind, _run, _trainer, _load, _help in (
    (
        "molecules",
        RunConfig,
        MoleculeTrainer,
        _molecules_with_progress,
        f"{TRAINING_SETS} | FILE.sdf | FILE.smi",
    ),
    ("regressor", RegressorRunConfig, RegressorTrainer, _molecules_with_progress, TRAINING_SETS),
    (
        "backbones",
        BackboneRunConfig,
        BackboneTrainer,
        load_backbone_set,
        f"{BUNDLED_SET_NAME} (the bundled chains) | FILE.npz | PDB/mmCIF folder",
    ),
):
    _train_command(_kind, _run, _trainer, _load, _help)


@sample_app.command("backbones")
@cli_errors
def sample_backbones(
    out: Annotated[Path, opt("Output folder (PDB files + manifest.csv).", "--out", "-o")],
    length: Annotated[str | None, opt("Residues per design: N or MIN-MAX (bounds a contig's total).")] = None,
    num_samples: Annotated[int, opt("Designs to generate.", "--num-samples", "-n")] = 8,
    motif: Annotated[
        str | None,
        opt("PDB/mmCIF file of the motif residues named by --contig, or a bundled one, e.g. 5tpn."),
    ] = None,
    contig: Annotated[str | None, opt("RFdiffusion contig, e.g. 10-40/A163-181/10-40.")] = None,
    ss: Annotated[str | None, opt("Secondary structure per residue: H, E, L, -/X free.")] = None,
    ss_fraction: Annotated[str | None, opt("Overall secondary structure, e.g. helix=0.3,strand=0.4.")] = None,
    pairs: Annotated[
        str | None, opt("Strands of --ss that pair, e.g. E1:E2,E2:E3 (add :parallel to a pair).")
    ] = None,
    ss_from: Annotated[
        Path | None,
        opt(
            "Template PDB/mmCIF: its DSSP string and strand pairing, loops jittered; or a chain "
            f"set ({BUNDLED_SET_NAME}: the bundled training chains, FILE.npz, a folder): a random "
            "chain's per design."
        ),
    ] = None,
    guidance: Annotated[float, opt("Classifier-free guidance weight on --ss/--ss-fraction (1: none).")] = 1.0,
    model: Annotated[str, opt("Bundled model name or a model folder.")] = BACKBONE_MODEL,
    steps: BackboneSteps = backbone_api.DEFAULT_STEPS,
    sampler: BackboneSampler = backbone_api.DEFAULT_SAMPLER,
    seed: Seed = None,
    refine: Annotated[bool, opt("Polish bonds and angles by restrained minimisation.")] = True,
    batch_size: Annotated[int, opt("Designs per batch.")] = backbone_api.DEFAULT_BATCH_SIZE,
    time_power: Annotated[
        float | None,
        opt(
            "Time grid t_i = (1 - i/steps)^P; P > 1 puts more of the steps at low noise "
            "[default: the model's, else 1]"
        ),
    ] = None,
    device: Device = "auto",
    overwrite: Overwrite = False,
    precision: Precision = "fp32",
    compile_layers: Compile = False,
    resume: Resume = False,
) -> None:
    """Sample protein backbones (N, CA, C, O; chain A) as PDB files plus manifest.csv:
    by length, around a motif (--motif + --contig) and/or with secondary structure (--ss). An
    interrupted run keeps its complete batches in OUT.partial/; --resume finishes it."""
    check_output_dir(out, overwrite)
    request = {
        "command": "sample backbones", "num_samples": num_samples, "length": length, "motif": motif,
        "contig": contig, "ss": ss, "ss_fraction": ss_fraction, "pairs": pairs,
        "ss_from": None if ss_from is None else str(ss_from), "guidance": guidance, "model": model,
        "steps": steps, "sampler": sampler, "seed": seed, "refine": refine, "batch_size": batch_size,
        "time_power": time_power, "precision": precision,
    }  # fmt: skip
    run = PartialRun(out, request, resume, folder=True)
    if (motif is None) != (contig is None):
        raise ValueError("--motif and --contig go together")
    if length is None and contig is None and ss is None and ss_from is None:
        raise ValueError("say how long the designs are: --length (or --contig / --ss / --ss-from)")
    if guidance != 1.0 and ss is None and ss_fraction is None and ss_from is None:
        raise ValueError("--guidance applies to --ss / --ss-fraction / --ss-from; give one of them")
    if pairs is not None and ss is None:
        raise ValueError("--pairs numbers the strands of --ss; give --ss too")
    if ss_from is not None and ss is not None:
        raise ValueError("--ss-from takes the secondary structure from the template; leave out --ss")
    conditioners = [Length(length)] if length is not None else []
    if ss is not None or ss_fraction is not None:
        fraction = parse_ss_fraction(ss_fraction) if ss_fraction is not None else None
        conditioners.append(SecondaryStructure(ss, fraction, parse_pairs(pairs) if pairs else ()))
    if ss_from is not None:
        conditioners.append(topology_from(ss_from))
    if motif is not None:  # after a secondary-structure string, which fixes the length
        conditioners.append(Motif.from_contig(file_or_bundled(motif, ".pdb", *MOTIF_FOLDERS), contig))
    gen = backbone_api.BackboneGenerator.from_pretrained(
        model, device=device, precision=precision, compile=compile_layers
    )
    plans = gen.plan_designs(num_samples, conditioners, run.seed)
    options = _sampling_options(steps, sampler, run, batch_size)
    start = time.perf_counter()
    with sampling_into(run, batch_size, overwrite) as kept:
        batches = gen.iter_designs(
            plans,
            guidance=guidance,
            refine=refine,
            first_batch=kept // batch_size,
            time_power=time_power,
            **options,
        )
        rows = read_rows(run.partial / "manifest.csv")
        for batch in batches:
            for design in batch:
                name = f"design_{design.metadata['index']:04d}.pdb"
                write_pdb(design, run.partial / name)
                rows.append(backbone_api.manifest_row(design, name))
            write_rows(rows, run.partial / "manifest.csv")
    seconds = time.perf_counter() - start
    typer.echo(
        f"wrote {len(rows)} backbones to {out}/ in {seconds:.1f} s "
        f"({seconds / len(rows):.2f} s/design incl. scoring, {gen.device})"
    )
    rows = [{k: _number_or_text(v) for k, v in row.items()} for row in rows]  # resumed rows are text
    for line in backbone_api.missed_requests(rows):
        typer.echo(f"warning: {line}; manifest.csv has requested and achieved shares per design", err=True)


def _write_json(path: Path | None, data: dict) -> None:
    if path:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n")


@benchmark_app.command("backbones")
@cli_errors
def benchmark_backbones_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder of PDB/mmCIF designs (any tool's).")],
    reference: Annotated[Path | None, opt("Training set (.npz or folder; default: bundled).")] = None,
    novelty_reference: Annotated[int, opt("TM-align against <= N similar-length chains (0: skip).")] = 64,
    diversity: Annotated[bool, opt("Pairwise TM-score among designs.")] = True,
    json_out: JsonOut = None,
    csv_out: CsvOut = None,
    plot: Annotated[
        Path | None, opt("PNG: DSSP strip and CA contact map per design, SS shares (molgen[bench]).")
    ] = None,
) -> None:
    """Score backbones: geometry, breaks, clashes, Rg, DSSP, helix handedness, TM diversity/novelty."""
    files, designs = read_designs(folder)
    chains = load_backbone_set(reference)
    ref = BackboneReference.from_backbones(chains)
    result = benchmark_backbones(designs, ref, novelty_reference, diversity, progress=True)
    typer.echo(f"{folder}: {len(designs)} designs")
    typer.echo(value_table(result.metrics))
    _write_json(json_out, {"folder": str(folder), "metrics": result.metrics})
    if csv_out:
        write_rows([{"file": p.name, **row} for p, row in zip(files, result.rows)], csv_out)
    if plot:
        backbone_plot(designs, [p.stem for p in files], plot, (ref.helix, ref.strand))


@benchmark_app.command("motifs")
@cli_errors
def benchmark_motifs_cmd(
    num_designs: Annotated[int, opt("Designs per problem.", "--num-designs", "-n")] = 8,
    problems: Annotated[str | None, opt("Problem names, e.g. 5TPN,1YCR (default: all).")] = None,
    folder: Annotated[
        str | None,
        opt("Folder of problem PDBs (default: the bundled 24; motif_multi: the bundled multi-motif one)."),
    ] = None,
    model: Annotated[str, opt("Bundled model name or a model folder.")] = BACKBONE_MODEL,
    steps: BackboneSteps = backbone_api.DEFAULT_STEPS,
    sampler: BackboneSampler = backbone_api.DEFAULT_SAMPLER,
    seed: Annotated[int | None, opt("Random seed.")] = 0,
    device: Device = "auto",
    out: Annotated[Path | None, opt("Also write every design as PDB into this folder.")] = None,
    overwrite: Overwrite = False,
    json_out: JsonOut = None,
    csv_out: CsvOut = None,
) -> None:
    """RFdiffusion motif-scaffolding benchmark: per problem, motif RMSD < 1 A success, geometry, time."""
    names = [n.strip() for n in problems.split(",")] if problems else None
    if folder is not None and not Path(folder).is_dir() and folder in MOTIF_FOLDERS:
        folder = bundled_data(folder)
    todo = load_problems(folder or BUNDLED_PROBLEMS, names)
    for problem in todo:  # every motif readable before hours of sampling
        problem.motif()
    gen = backbone_api.BackboneGenerator.from_pretrained(model, device=device)
    with atomic_dir(out, overwrite) if out else contextlib.nullcontext() as tmp:
        rows = [
            run_problem(gen, problem, num_designs, steps, sampler, seed, tmp)
            for problem in tqdm(todo, desc="motif problems", unit="problem")
        ]
    typer.echo(rows_table(rows))
    typer.echo(motif_summary(rows, num_designs, model))
    _write_json(json_out, {"model": model, "num_designs": num_designs, "rows": rows})
    if csv_out:
        write_rows(rows, csv_out)


@benchmark_app.command("molecules")
@cli_errors
def benchmark_molecules_cmd(
    sdf: Annotated[Path, typer.Argument(help="SDF file to score (any tool's).")],
    reference: Annotated[Path | None, opt("Reference SMILES or SDF (default: QM9 train split).")] = None,
    json_out: JsonOut = None,
    csv_out: CsvOut = None,
    plot: Annotated[Path | None, opt("Write distribution plots as PNG (needs molgen[bench]).")] = None,
    bonds: Annotated[str, opt("Bonds: auto (the file's if any) | file | coordinates (EDM's rule).")] = "auto",
    fcd: Annotated[bool, opt("Frechet ChemNet Distance to the reference.", "--fcd")] = False,
    posebusters: Annotated[int, opt("PoseBusters' checks on the first N records (~4 s each).")] = 0,
    grid: Grid = None,
) -> None:
    """Score molecules: EDM stability, validity, uniqueness, novelty (denominators stated)."""
    result, ref_stats = benchmark_sdf(sdf, reference, bonds, fcd, posebusters, progress=True)
    unreadable = [s.index for s in result.scores if s.problem == "unreadable record"]
    typer.echo(f"{sdf}: {len(result.scores)} records")
    typer.echo(markdown_table(result.metrics))
    if result.distances:
        typer.echo()
        typer.echo(distance_table(result.distances))
    if json_out:
        extra = {"file": str(sdf), "records": len(result.scores), "unreadable": unreadable}
        write_json(result, json_out, extra)
    if csv_out:
        write_csv(result.scores, csv_out)
    if plot:
        write_plot(result, ref_stats, plot)
    if grid:
        scores = result.scores[:GRID_MOLECULES]
        legends = [
            f"{s.index}: {s.smiles}" if s.valid else f"{s.index}: {s.problem or 'invalid'}" for s in scores
        ]
        molecule_grid(first_records(sdf, len(scores)), legends, grid)


if __name__ == "__main__":
    app()
