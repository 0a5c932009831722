"""Scores for 3D molecules, the same for molgen's samples, another tool's SDF, or real data.

Per molecule (every SDF record, unreadable ones included and counted as failures):

* ``atoms_stable`` / ``stable``: EDM-protocol stability from coordinates and elements only
  (:mod:`molgen.benchmark.edm`), ignoring bonds stored in the file.
* ``valid``: the whole molecule sanitises in RDKit; ``valid_largest``: its largest fragment does
  (EDM's lenient number); ``connected``: valid and a single fragment. Bonds come from the file
  when it has any (a model's own bonds), otherwise from coordinates with EDM's distance rule.
* ``clashes``: non-bonded atom pairs far too close (:mod:`molgen.benchmark.distributions`).
* ``smiles``: canonical SMILES (no stereo) of the largest fragment of valid-largest molecules.

Aggregates state their denominators: stability and validity over all records; atom stability
over all atoms of readable records; uniqueness over valid-largest molecules; novelty over
unique SMILES, against a reference SMILES set (QM9's training split by default).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem, rdBase
from tqdm.auto import tqdm

from molgen.benchmark import edm, own_bonds
from molgen.benchmark.distributions import DistributionStats, count_clashes
from molgen.benchmark.extras import fcd_score, internal_diversity, posebusters_pass_rate
from molgen.runtime import atomic_path
from molgen.structures.bond_lengths import bond_orders
from molgen.structures.molecule import Molecule, canonical_smiles

logger = logging.getLogger("molgen")


@dataclass
class MoleculeScore:
    """One record's scores; ``problem`` says why it failed (empty when it passed everything)."""

    index: int
    num_atoms: int = 0
    atoms_stable: int = 0
    stable: bool = False
    valid: bool = False
    valid_largest: bool = False
    connected: bool = False
    fragments: int = 0
    clashes: int = 0
    bonds_from: str = ""
    smiles: str = ""
    problem: str = ""
    has_file_bonds: bool = False
    strict_valid: bool = False  # the strict own-bond protocol (molgen.benchmark.own_bonds)
    bonds_match_rule: bool = False  # the file's bonds equal EDM's distance-rule bonds
    rings_known: bool = False  # valid, and every ring system occurs in the reference


BOND_SOURCES = ("auto", "file", "coordinates")
FCD_NEEDS_REFERENCE = "--fcd needs reference SMILES: install molgen[qm9] or pass --reference"


def score_molecule(
    index: int,
    molecule: Molecule | None,
    stats: DistributionStats | None = None,
    bonds: str = "auto",
    ring_reference: set[str] | None = None,
) -> MoleculeScore:
    """Score one molecule (``None`` = an unreadable record); accumulate it into ``stats``.

    ``bonds`` chooses the bonds for validity: ``"auto"`` (the file's when it has any, else
    coordinates), ``"file"`` or ``"coordinates"`` (EDM's distance rule, no formal charges). The
    file's own bonds are also put through the strict protocol and compared with the distance rule;
    ``ring_reference``: ring systems of the training set (:func:`own_bonds.ring_systems`).
    """
    if molecule is None or molecule.num_atoms == 0:
        return MoleculeScore(index, problem="unreadable record")
    symbols, pos = molecule.symbols, molecule.pos
    orders = bond_orders(symbols, pos)
    if stats is not None:
        clashes = stats.add(symbols, pos, orders)
    else:
        clashes = count_clashes(symbols, np.linalg.norm(pos[:, None] - pos[None], axis=-1), orders > 0)
    stable_atoms = edm.atom_stability(symbols, orders)
    score = MoleculeScore(
        index, molecule.num_atoms, int(stable_atoms.sum()), bool(stable_atoms.all()), clashes=clashes
    )
    problems = [f"{clashes} clashing pairs"] if clashes else []
    if not score.stable:
        bad = [f"{symbols[i]}{i}" for i in np.flatnonzero(~stable_atoms)[:5]]
        problems.append(f"unstable atoms {','.join(bad)}")
    score.has_file_bonds = molecule.bonds is not None and len(molecule.bonds) > 0
    if score.has_file_bonds:
        score.strict_valid = not own_bonds.strict_problem(molecule)
        score.bonds_match_rule = own_bonds.bonds_match(molecule, orders)
    mol, score.bonds_from = with_bonds(molecule, bonds, orders)
    fragments = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    score.fragments = len(fragments)
    score.valid, error = _sanitises(mol)
    if score.valid and ring_reference is not None:
        score.rings_known = own_bonds.ring_systems(sanitised_copy(mol)) <= ring_reference
    largest = max(fragments, key=lambda f: f.GetNumAtoms())
    score.valid_largest, _ = _sanitises(largest)
    score.connected = score.valid and score.fragments == 1
    if score.valid_largest:
        score.smiles = _smiles(largest)
    if not score.valid:
        problems.append(f"sanitisation: {error}")
    elif score.fragments > 1:
        problems.append(f"{score.fragments} fragments")
    score.problem = "; ".join(problems)
    return score


def with_bonds(
    molecule: Molecule, bonds: str = "auto", orders: np.ndarray | None = None
) -> tuple[Chem.Mol, str]:
    """Unsanitised RDKit Mol with the file's bonds (``bonds="file"``, or ``"auto"`` when the
    file has any) or EDM's distance bonds; and where the bonds came from."""
    if bonds not in BOND_SOURCES:
        raise ValueError(f"unknown bond source {bonds!r}; choose from {list(BOND_SOURCES)}")
    has_file_bonds = molecule.bonds is not None and len(molecule.bonds) > 0
    if bonds == "file" or (bonds == "auto" and has_file_bonds):
        return molecule.to_rdkit_raw(), "file"
    if orders is None:
        orders = bond_orders(molecule.symbols, molecule.pos)
    return edm.to_rdkit(molecule.symbols, molecule.pos, orders), "coordinates"


def sanitised(molecule: Molecule | None, bonds: str = "auto") -> Chem.Mol | None:
    """The molecule with its benchmark bonds, sanitised; None when unreadable or invalid."""
    if molecule is None or molecule.num_atoms == 0:
        return None
    mol = Chem.Mol(with_bonds(molecule, bonds)[0])
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # RDKit raises several exception types here
            return None
    return mol


def aggregate(
    scores: list[MoleculeScore], reference: set[str] | None, ring_reference: set[str] | None = None
) -> dict[str, dict]:
    """Aggregate metrics, each as ``{"value": fraction, "numerator": n, "denominator": d}``.
    The own-bond metrics appear when some record has bonds in its file; ring-system
    plausibility when ``ring_reference`` is given."""
    n = len(scores)
    atoms = sum(s.num_atoms for s in scores)
    valid_smiles = [s.smiles for s in scores if s.valid_largest]
    unique = set(valid_smiles)

    def metric(num: int, den: int) -> dict:
        return {"value": num / den if den else float("nan"), "numerator": num, "denominator": den}

    out = {
        "atom_stability": metric(sum(s.atoms_stable for s in scores), atoms),
        "molecule_stability": metric(sum(s.stable for s in scores), n),
        "validity": metric(sum(s.valid for s in scores), n),
        "validity_largest_fragment": metric(len(valid_smiles), n),
        "connected_validity": metric(sum(s.connected for s in scores), n),
        "uniqueness": metric(len(unique), len(valid_smiles)),
    }
    if reference is not None:
        out["novelty"] = metric(len(unique - reference), len(unique))
    with_bonds_in_file = [s for s in scores if s.has_file_bonds]
    if with_bonds_in_file:
        out["strict_validity"] = metric(sum(s.strict_valid for s in scores), n)
        out["bonds_match_distance_rule"] = metric(
            sum(s.bonds_match_rule for s in with_bonds_in_file), len(with_bonds_in_file)
        )
    if ring_reference is not None:
        out["ring_systems_known"] = metric(sum(s.rings_known for s in scores), sum(s.valid for s in scores))
    return out


@dataclass
class BenchmarkResult:
    """Aggregate fractions (with denominators); distances to the reference distributions
    (without a reference only ``internal_diversity``); per-molecule scores; the accumulated
    distributions."""

    metrics: dict[str, dict]
    distances: dict[str, float]
    scores: list[MoleculeScore]
    stats: DistributionStats


def benchmark_molecules(
    molecules: Iterable[Molecule | None],
    reference: set[str] | None = None,
    reference_stats: DistributionStats | None = None,
    progress: bool = False,
    bonds: str = "auto",
    ring_reference: set[str] | None = None,
) -> BenchmarkResult:
    """Score a stream of molecules against optional reference SMILES, distributions and ring
    systems (``bonds``, ``ring_reference``: see :func:`score_molecule`)."""
    stats = DistributionStats()
    scores = [
        score_molecule(i, m, stats, bonds, ring_reference)
        for i, m in enumerate(tqdm(molecules, disable=not progress, desc="scoring", unit="mol"))
    ]
    if not scores:
        raise ValueError("nothing to score: the input holds no records")
    distances = stats.compare(reference_stats) if reference_stats is not None else {}
    distances["internal_diversity"] = internal_diversity(sorted({s.smiles for s in scores if s.smiles}))
    return BenchmarkResult(aggregate(scores, reference, ring_reference), distances, scores, stats)


def reference_distributions(molecules: Iterable[Molecule]) -> DistributionStats:
    stats = DistributionStats()
    for m in molecules:
        stats.add(m.symbols, m.pos)
    return stats


def qm9_subset_distributions() -> DistributionStats:
    """Reference distributions of the 3,000 bundled QM9 training molecules (no qm9pack needed)."""
    from molgen.datasets.qm9 import load_qm9_subset

    data = load_qm9_subset("train")
    return reference_distributions(data.molecule(i) for i in range(len(data)))


def reference_smiles_from_molecules(molecules: Iterable[Molecule]) -> set[str]:
    """Reference SMILES computed with the benchmark's own pipeline (so real data is not 'novel')."""
    return {s.smiles for s in (score_molecule(i, m) for i, m in enumerate(molecules)) if s.smiles}


def qm9_train_reference() -> set[str]:
    """SMILES of QM9's training split through this pipeline; cached in molgen's cache folder."""
    from molgen.datasets.qm9 import cache_dir, load_qm9

    path = cache_dir() / "qm9_train_smiles_v1.txt"
    if not path.exists():
        data = load_qm9("train")
        smiles = reference_smiles_from_molecules(data.molecule(i) for i in range(len(data)))
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(sorted(smiles)) + "\n")
    return set(path.read_text().split())


def qm9_train_ring_systems() -> set[str]:
    """Ring systems of QM9's training split (from the dataset's SMILES, i.e. its true bonds);
    cached in molgen's cache folder."""
    from molgen.datasets.qm9 import cache_dir, load_qm9

    path = cache_dir() / "qm9_train_ring_systems_v2.txt"
    if not path.exists():
        rings = own_bonds.ring_systems_of_smiles(load_qm9("train").smiles)
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(sorted(rings)) + "\n")
    return set(path.read_text().split())


def read_reference(path: str | os.PathLike) -> set[str]:
    """A reference set from a SMILES file (canonicalised) or an SDF (through this pipeline)."""
    from molgen.io.sdf import read_sdf
    from molgen.io.smiles import read_smiles

    path = Path(path)
    if path.suffix.lower() == ".sdf":
        return reference_smiles_from_molecules(read_sdf(path))
    return {_smiles(m) for m in read_smiles(path)}


def reference_sets(
    reference: str | os.PathLike | None,
) -> tuple[set[str] | None, DistributionStats, set[str] | None]:
    """The references of ``molgen benchmark molecules``: (SMILES for novelty, geometry
    distributions, ring systems), the sets None when unavailable. Default: QM9's training split
    (needs molgen[qm9]; without it novelty and ring systems are skipped with a warning) and the
    bundled QM9 molecules. A SMILES reference has no geometry: its distributions fall back to the
    bundled QM9 molecules."""
    from molgen.io.sdf import read_sdf

    if reference is not None:
        is_sdf = Path(reference).suffix.lower() == ".sdf"
        stats = reference_distributions(read_sdf(reference)) if is_sdf else qm9_subset_distributions()
        smiles = read_reference(reference)
        return smiles, stats, own_bonds.ring_systems_of_smiles(smiles)
    try:
        smiles, rings = qm9_train_reference(), qm9_train_ring_systems()
    except ModuleNotFoundError:
        logger.warning(
            "novelty and ring systems skipped: the QM9 reference needs molgen[qm9] (or --reference)"
        )
        smiles = rings = None
    return smiles, qm9_subset_distributions(), rings


def benchmark_sdf(
    path: str | os.PathLike,
    reference: str | os.PathLike | None = None,
    bonds: str = "auto",
    fcd: bool = False,
    posebusters: int = 0,
    progress: bool = False,
) -> tuple[BenchmarkResult, DistributionStats]:
    """``molgen benchmark molecules``: score an SDF file against the references of
    :func:`reference_sets`, with the optional metrics of
    :func:`add_optional_scores`. Returns the result and the reference distributions. Unreadable
    records count as failures (and are logged); a missing or empty file, or one without a
    readable record, is a ValueError."""
    from molgen.io.sdf import iter_sdf_records

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"SDF file {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"SDF file {path} is empty")
    if bonds not in BOND_SOURCES:
        raise ValueError(f"unknown bond source {bonds!r}; choose from {list(BOND_SOURCES)}")
    if posebusters < 0:
        raise ValueError(f"--posebusters counts records: it must be >= 0, got {posebusters}")
    smiles, stats, rings = reference_sets(reference)
    if fcd and smiles is None:
        raise ValueError(FCD_NEEDS_REFERENCE)
    records = iter_sdf_records(path)
    result = benchmark_molecules(records, smiles, stats, progress=progress, bonds=bonds, ring_reference=rings)
    unreadable = [s.index for s in result.scores if s.problem == "unreadable record"]
    if len(unreadable) == len(result.scores):
        raise ValueError(f"{path}: no readable molecule record ({len(unreadable)} unreadable)")
    if unreadable:
        logger.warning("%d unreadable record(s), counted as failures: %s", len(unreadable), unreadable[:20])
    add_optional_scores(result, iter_sdf_records(path), smiles, fcd, posebusters, bonds)
    return result, stats


def add_optional_scores(
    result: BenchmarkResult,
    records: Iterable[Molecule | None],
    reference: set[str] | None,
    fcd: bool = False,
    posebusters: int = 0,
    bonds: str = "auto",
) -> None:
    """Add the optional metrics to ``result``: the Frechet ChemNet Distance to ``reference``
    (needs molgen[bench]) and PoseBusters' pass rate over the first ``posebusters`` records."""
    if fcd:
        if reference is None:
            raise ValueError(FCD_NEEDS_REFERENCE)
        result.distances["fcd"] = fcd_score([s.smiles for s in result.scores if s.smiles], sorted(reference))
    if posebusters:
        subset = [sanitised(m, bonds) for m in itertools.islice(records, posebusters)]
        result.metrics["posebusters_pass"] = posebusters_pass_rate(subset)


def sanitised_copy(mol: Chem.Mol) -> Chem.Mol:
    """A sanitised copy of a molecule known to sanitise."""
    copy = Chem.Mol(mol)
    with rdBase.BlockLogs():
        Chem.SanitizeMol(copy)
    return copy


def _sanitises(mol: Chem.Mol) -> tuple[bool, str]:
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(Chem.Mol(mol))
            return True, ""
        except Exception as err:  # RDKit raises several exception types here
            return False, str(err).splitlines()[0] if str(err) else type(err).__name__


def _smiles(mol: Chem.Mol) -> str:
    return canonical_smiles(mol, isomeric=False)
