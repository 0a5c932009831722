"""Tables of per-item rows (same-keyed dicts) as CSV files, written atomically."""

from __future__ import annotations

import csv
import os

from molgen.runtime import atomic_path


def write_rows(rows: list[dict], path: str | os.PathLike) -> None:
    """A list of dicts as a CSV file (floats to 4 decimals); the columns are the union of their keys
    in order of appearance, a row's missing ones left empty (a resumed run may add columns)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a CSV file as written (strings); none when the file does not exist."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
