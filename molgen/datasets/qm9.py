"""QM9 (130,831 molecules, DFT geometries) from the PyPI package ``qm9pack``, with EDM's split.

The qm9pack CSVs are parsed once into a compressed ``.npz`` cache, with every molecule's bonds
and formal charges from RDKit (:mod:`molgen.datasets.bonds`; about 3 minutes); later calls load
the cache. The split follows EDM (Hoogeboom et al. 2022, via Cormorant): molecules in QM9 index
order, permuted with ``numpy.random.seed(0)``; train 100,000, valid 17,748, test 13,083.

A small bundled subset (``molgen/data/qm9_subset.npz``, 3,000 train + 1,000 test molecules) serves
tests and demos without qm9pack: :func:`load_qm9_subset`.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
from rdkit import Chem

from molgen.datasets.bonds import perceive_bonds
from molgen.datasets.packed import PackedMolecules
from molgen.runtime import bundled_data

logger = logging.getLogger("molgen")

NUM_QM9 = 130_831
SPLIT_SIZES = {"train": 100_000, "valid": 17_748, "test": 13_083}

#: qm9pack column -> molgen property name (units as in qm9pack).
PROPERTY_COLUMNS = {
    "Polarizability_bohr3": "alpha",  # Bohr^3
    "HOMO_LUMO_gap_au": "gap",  # Hartree
    "HOMO_au": "homo",  # Hartree
    "LUMO_au": "lumo",  # Hartree
    "Dipole_debye": "mu",  # Debye
    "Heatcapacity_Cv_cal_mol_K": "cv",  # cal/(mol K)
}

#: molgen property name -> unit (qm9pack's units; 1 Hartree = 27,211.386 meV).
PROPERTY_UNITS = {
    "alpha": "Bohr^3",
    "gap": "Hartree",
    "homo": "Hartree",
    "lumo": "Hartree",
    "mu": "Debye",
    "cv": "cal/(mol K)",
}

_PT = Chem.GetPeriodicTable()
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")  # qm9pack writes "0." and "2E-6"
_SUBSET_PATH = bundled_data("qm9_subset.npz")


def cache_dir() -> Path:
    """``$MOLGEN_CACHE_DIR`` or ``~/.cache/molgen``."""
    path = Path(os.environ.get("MOLGEN_CACHE_DIR", Path.home() / ".cache" / "molgen"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def qm9pack_data_dir() -> Path:
    """Folder holding qm9pack's CSV files (found without importing the package)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("full QM9 needs the qm9pack package: pip install 'molgen[qm9]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _parse_qm9pack(data_dir: Path) -> PackedMolecules:
    csv.field_size_limit(1 << 30)
    records = []
    for part in ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"):
        with open(data_dir / part, newline="") as f:
            records.extend(csv.DictReader(f))
    records.sort(key=lambda r: int(r["Index"]))
    if len(records) != NUM_QM9:
        raise ValueError(f"expected {NUM_QM9} QM9 molecules in {data_dir}, found {len(records)}")
    symbols = [json.loads(r["Elements"].replace("'", '"')) for r in records]
    pos = [np.array(_NUMBER.findall(r["XYZ_Ang"]), dtype=np.float32).reshape(-1, 3) for r in records]
    counts = np.array([len(s) for s in symbols])
    props = {name: np.array([float(r[col]) for r in records]) for col, name in PROPERTY_COLUMNS.items()}
    props["index"] = np.array([int(r["Index"]) for r in records], dtype=np.float64)
    return PackedMolecules(
        atomic_numbers=np.array([_PT.GetAtomicNumber(s) for mol in symbols for s in mol], dtype=np.uint8),
        pos=np.concatenate(pos),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        smiles=np.array([r["SMILES"] for r in records]),
        props=props,
    )


def split_indices() -> dict[str, np.ndarray]:
    """EDM's train/valid/test indices into QM9 (sorted by QM9 index)."""
    perm = np.random.RandomState(0).permutation(NUM_QM9)
    n_train, n_valid = SPLIT_SIZES["train"], SPLIT_SIZES["valid"]
    return {
        "train": perm[:n_train],
        "valid": perm[n_train : n_train + n_valid],
        "test": perm[n_train + n_valid :],
    }


def load_qm9(split: str | None = "train") -> PackedMolecules:
    """Full QM9 (or one EDM split of it) from qm9pack, cached after the first parse.

    Args:
        split: ``"train"``, ``"valid"``, ``"test"`` or ``None`` for all 130,831 molecules;
            ``"train-a"`` / ``"train-b"``: the first / second 50,000 molecules of the training
            split (EDM's protocol for property conditioning: the conditional generator learns
            from half a, the property regressor that scores it from half b).
    """
    if split in ("train-a", "train-b"):
        train = load_qm9("train")
        half = len(train) // 2
        return train.subset(np.arange(half) if split == "train-a" else np.arange(half, len(train)))
    if split is not None and split not in SPLIT_SIZES:
        raise ValueError(
            f"unknown split {split!r}; choose from {[*SPLIT_SIZES, 'train-a', 'train-b']} or None"
        )
    cache = cache_dir() / "qm9_v2.npz"
    if cache.exists():
        data = PackedMolecules.load(cache)
    else:
        logger.info("parsing QM9 from qm9pack and perceiving its bonds (once, ~3 min; cached at %s)", cache)
        data = perceive_bonds(_parse_qm9pack(qm9pack_data_dir()), progress=True)
        data.save(cache)
    return data if split is None else data.subset(split_indices()[split])


def load_qm9_subset(split: str = "train") -> PackedMolecules:
    """The bundled QM9 subset (``"train"``: 3,000 molecules, ``"test"``: 1,000)."""
    if split not in ("train", "test"):
        raise ValueError("the bundled QM9 subset has only 'train' and 'test'")
    data = PackedMolecules.load(_SUBSET_PATH)
    is_train = data.props["split"] == 0
    return data.subset(np.flatnonzero(is_train if split == "train" else ~is_train))


def make_subset(path: Path = _SUBSET_PATH, n_train: int = 3000, n_test: int = 1000) -> None:
    """Write the bundled subset: the first molecules of EDM's train and test permutations."""
    full = load_qm9(None)
    idx = split_indices()
    chosen = np.concatenate([idx["train"][:n_train], idx["test"][:n_test]])
    sub = full.subset(chosen)
    sub.props["split"] = np.concatenate([np.zeros(n_train), np.ones(n_test)])
    sub.save(path)
