"""Sampling output that survives an interruption.

While a run samples, its records go to ``<out>.partial`` (an SDF file, or a folder of PDB files
with its ``manifest.csv``) batch by batch, and the request that made them to
``<out>.partial.json``. A finished run renames the partial output onto ``out`` and deletes the
request; an interrupted one leaves both, never anything under ``out``. Resuming with the same
request keeps the complete batches and samples the rest: every batch's noise depends only on the
seed and the batch's index, so the finished output equals an uninterrupted run's byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from rdkit import Chem, rdBase

from molgen.io.tables import read_rows, write_rows
from molgen.runtime import atomic_path, replace_path, resolve_seed

SDF_END = b"$$$$\n"  # the line closing every SDF record


class PartialRun:
    """The partial output and stored request of one sampling run (see the module docstring).

    Args:
        out: the final output, an SDF file or (``folder``) a folder.
        request: everything that decides the output (JSON-able; ``seed`` None: drawn, or taken
            from the interrupted run when resuming).
        resume: continue the interrupted run of ``out``; False refuses to start over one.
        folder: the output is a folder (of PDB files and a manifest.csv).
    """

    def __init__(self, out: str | os.PathLike, request: dict, resume: bool, folder: bool = False) -> None:
        self.out, self.folder = Path(out), folder
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.request_file = self.out.with_name(self.out.name + ".partial.json")
        interrupted = self.request_file.is_file() and self.partial.exists()
        if resume and not interrupted:
            raise ValueError(f"--resume: no interrupted run of {self.out} ({self.partial} is missing)")
        if not resume and interrupted:
            raise ValueError(
                f"{self.partial} holds an interrupted run: the same command with --resume continues it "
                "(or delete it to start over)"
            )
        self.resuming = resume
        if resume:
            stored = json.loads(self.request_file.read_text())
            request = {**request, "seed": stored["seed"] if request["seed"] is None else request["seed"]}
            changed = sorted(k for k in request.keys() | stored.keys() if request.get(k) != stored.get(k))
            if changed:
                raise ValueError(f"--resume: the request differs from the interrupted run's in {changed}")
        self.request = {**request, "seed": resolve_seed(request["seed"])}

    @property
    def seed(self) -> int:
        return self.request["seed"]

    def begin(self, batch_size: int) -> int:
        """Create (or, resuming, cut back to its complete batches) the partial output; returns the
        number of records kept, a multiple of ``batch_size``."""
        if not self.resuming:
            try:
                self.out.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ValueError(f"cannot create output folder {self.out}: {err.strerror}") from None
            with atomic_path(self.request_file) as tmp:
                tmp.write_text(json.dumps(self.request, indent=1) + "\n")
            if self.folder:
                self.partial.mkdir()
            else:
                self.partial.write_bytes(b"")
            return 0
        return (_cut_folder if self.folder else _cut_sdf)(self.partial, batch_size)

    def has_records(self) -> bool:
        """Whether the partial output holds anything yet."""
        if self.partial.is_dir():
            return any(self.partial.iterdir())
        return self.partial.is_file() and self.partial.stat().st_size > 0

    def discard(self) -> None:
        """Remove the partial output and the request (a run that failed before its first record)."""
        if self.partial.is_dir():
            shutil.rmtree(self.partial)
        else:
            self.partial.unlink(missing_ok=True)
        self.request_file.unlink(missing_ok=True)

    def finish(self, overwrite: bool = True) -> None:
        """Move the complete output onto ``out`` and forget the request."""
        replace_path(self.partial, self.out, overwrite)
        self.request_file.unlink()


def _cut_sdf(path: Path, batch_size: int) -> int:
    """Truncate an SDF file after its last complete batch of records; returns the records kept."""
    data = path.read_bytes()
    ends, start = [], 0
    while (found := data.find(SDF_END, start)) >= 0:
        start = found + len(SDF_END)
        ends.append(start)
    kept = len(ends) // batch_size * batch_size
    with open(path, "r+b") as handle:
        handle.truncate(ends[kept - 1] if kept else 0)
    return kept


def _cut_folder(folder: Path, batch_size: int) -> int:
    """Keep a design folder's manifest rows and PDB files of its complete batches; returns how many."""
    manifest = folder / "manifest.csv"
    rows = read_rows(manifest)
    kept = len(rows) // batch_size * batch_size
    keep = {row["file"] for row in rows[:kept]}
    for path in folder.glob("*.pdb"):
        if path.name not in keep:
            path.unlink()
    if kept:
        write_rows(rows[:kept], manifest)
    elif manifest.exists():
        manifest.unlink()
    return kept


def sdf_tags(path: Path) -> Iterator[dict]:
    """Each record's SD tags (as text) of an SDF file, in order."""
    with open(path, "rb") as handle:
        for mol in Chem.ForwardSDMolSupplier(handle, sanitize=False, removeHs=False):
            yield {} if mol is None else mol.GetPropsAsDict(includePrivate=False, includeComputed=False)


def first_records(path: Path, count: int) -> list[Chem.Mol | None]:
    """The first ``count`` records of an SDF file, unsanitised (None where unreadable)."""
    with open(path, "rb") as handle, rdBase.BlockLogs():
        supplier = Chem.ForwardSDMolSupplier(handle, sanitize=False, removeHs=False)
        return [mol for _, mol in zip(range(count), supplier)]
