"""The ``molgen`` command line: a thin layer over the Python API.

User errors print one line on stderr and exit with status 2; internal errors exit 1 with a
hint to rerun with ``--verbose`` for the traceback.
"""

from __future__ import annotations

import functools
import logging
import os
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


@sample_app.command("molecules")
@cli_errors
def sample_molecules(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output SDF file.")],
    num_molecules: Annotated[int, typer.Option("--num-molecules", "-n", help="Molecules to generate.")] = 100,
    model: Annotated[str, typer.Option(help="Bundled model name (qm9) or a model folder.")] = "qm9",
    steps: Annotated[int, typer.Option(help="Denoiser evaluations per molecule.")] = 50,
    sampler: Annotated[str, typer.Option(help="ancestral | ddim | dpm2m")] = "dpm2m",
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same file).")] = None,
    num_atoms: Annotated[
        int | None, typer.Option(help="Atoms per molecule (default: training histogram).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Molecules per batch.")] = 256,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
) -> None:
    """Sample molecules into an SDF file (SD tags: index, seed, model, steps, valid, smiles)."""
    from molgen.generators.molecules import MoleculeGenerator
    from molgen.io.sdf import SDFWriter

    gen = MoleculeGenerator.from_pretrained(model, device=device)
    writer = SDFWriter(out)
    start = time.perf_counter()
    valid, smiles = 0, set()
    with writer:
        for mols in gen.iter_batches(
            num_molecules, num_atoms, steps, sampler, seed, batch_size, progress=True
        ):
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


@train_app.command("molecules")
@cli_errors
def train_molecules(
    data: Annotated[
        str, typer.Option(help="qm9 (full, needs molgen[qm9]) | qm9-subset | FILE.sdf | FILE.smi")
    ],
    out: Annotated[Path, typer.Option(help="Run folder: metrics.csv, checkpoints/, model/.")],
    config: Annotated[Path | None, typer.Option(help="YAML with model: and train: sections.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoints/last.pt.")] = False,
    max_steps: Annotated[int | None, typer.Option(help="Override train.max_steps.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Override train.max_minutes.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    init_from: Annotated[
        str | None, typer.Option(help="Start from a model folder or bundled name (e.g. qm9).")
    ] = None,
) -> None:
    """Train a molecule denoiser (torchrun-aware: DDP when WORLD_SIZE > 1)."""
    import dataclasses

    from molgen.config import RunConfig, load_config
    from molgen.runtime import resolve_device
    from molgen.training.distributed import distributed_context
    from molgen.training.trainer import MoleculeTrainer

    run = load_config(RunConfig, config) if config else RunConfig()
    overrides = {
        k: v for k, v in {"max_steps": max_steps, "max_minutes": max_minutes}.items() if v is not None
    }
    train_cfg = dataclasses.replace(run.train, **overrides)
    dataset = _load_training_molecules(data)
    with distributed_context(resolve_device(device)) as dev:
        trainer = MoleculeTrainer(
            dataset, out, run.model, train_cfg, resume=resume, device=dev, init_from=init_from
        )
        if resume and overrides:
            trainer.config = dataclasses.replace(trainer.config, **overrides)
        folder = trainer.train(progress=True)
    typer.echo(f"trained {trainer.step} steps; model saved to {folder}")


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
    if data == "qm9-subset":
        return load_qm9_subset("train")
    if not os.path.exists(data):
        raise ValueError(f"--data {data!r}: not qm9, qm9-subset or an existing file")
    return load_molecule_file(data, progress=True)


if __name__ == "__main__":
    app()
