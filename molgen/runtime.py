"""Devices, seeding, distributed-rank helpers, atomic file writes and the bundled data files."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.resources
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is validated."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) available")
    return dev


PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of PRECISIONS, else a ValueError."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {list(PRECISIONS)}")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` for ``precision == "bf16"``; a no-op for ``"fp32"``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=check_precision(precision) == "bf16")


class AutocastNet(torch.nn.Module):
    """Runs ``net`` under bfloat16 autocast and returns its outputs (a tuple or NamedTuple of
    tensors and Nones) with the tensors in float32."""

    def __init__(self, net: torch.nn.Module, device: torch.device) -> None:
        super().__init__()
        self.net, self.device = net, device

    def forward(self, *args, **kwargs) -> tuple:
        with autocast(self.device, "bf16"):
            out = self.net(*args, **kwargs)
        values = [None if o is None else o.float() for o in out]
        return out._make(values) if hasattr(out, "_make") else tuple(values)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator seeded with ``seed`` (fresh entropy when None)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


MAX_SEED = 2**31 - 1  # an SD tag (RDKit int property) holds a signed 32-bit integer


def resolve_seed(seed: int | None) -> int:
    """``seed``, or fresh entropy drawn once (so a run without a seed still records the one it
    used; 31 bits, as an SD tag holds it). A given seed must fit those 31 bits."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return check_seed(seed)


def check_seed(seed: int) -> int:
    """``seed`` as an int; a ValueError unless it fits the 31 bits a sample records."""
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be in [0, {MAX_SEED}], got {seed}")
    return int(seed)


def batch_generator(seed: int, batch: int) -> torch.Generator:
    """The CPU generator of batch number ``batch`` of a sampling run seeded with ``seed``: a
    function of the two alone, so an interrupted run can restart at any batch."""
    state = np.random.SeedSequence([int(seed), int(batch)]).generate_state(1, np.uint64)[0]
    return make_generator(int(state >> 1))


def rank() -> int:
    """Global rank under torchrun (0 otherwise)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def is_main_process() -> bool:
    return rank() == 0


_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: files get the permissions a plain open() would give


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched, so a
    crash never leaves a truncated file under the final name.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    An existing non-empty ``path`` is an error unless ``overwrite``. On any exception the
    temporary folder is removed and ``path`` is left untouched.
    """
    path = Path(path)
    check_output_dir(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise ValueError(f"cannot create output folder {path}: {err.strerror}") from None
    try:
        yield tmp
        replace_path(tmp, path, overwrite=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_output_dir(path: Path, overwrite: bool) -> None:
    """A ValueError unless ``path`` can become an output folder (absent, empty, or ``overwrite``)."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(f"{path} exists and is not empty (pass --overwrite to replace it)")


def replace_path(source: Path, path: Path, overwrite: bool) -> None:
    """Rename the file or folder ``source`` onto ``path`` (a folder replaces an existing one
    only with ``overwrite``; the old one is removed after the swap)."""
    if source.is_dir():
        os.chmod(source, 0o777 & ~_UMASK)
        if path.exists():
            check_output_dir(path, overwrite)
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(source, path)
            shutil.rmtree(old)
            return
    else:
        os.chmod(source, 0o666 & ~_UMASK)
    os.replace(source, path)


@functools.cache
def molgen_version() -> str:
    """The installed molgen's version (``"unknown"`` when run from a source tree that was never
    installed); written into every file the tools make."""
    try:
        return importlib.metadata.version("molgen")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def bundled_data(*parts: str) -> Path:
    """Path of a file or folder shipped in the package's data folder (``molgen/data/``, provenance
    in the repository's data/README.md), found with importlib.resources, so it works from a wheel
    as well as from a checkout (pip installs packages unzipped, so this is a real path)."""
    return Path(str(importlib.resources.files("molgen").joinpath("data", *parts)))


def file_or_bundled(value: str | os.PathLike, suffix: str, *folders: str) -> Path:
    """``value`` when it is an existing file, else the bundled ``molgen/data/<folder>/<value><suffix>``
    of the first of ``folders`` that has it (``"benzene"`` -> the bundled benzene fragment);
    neither: FileNotFoundError naming the bundled ones."""
    path = Path(value)
    if path.is_file():
        return path
    names = []
    for folder in folders:
        bundled = bundled_data(folder, f"{str(value).lower()}{suffix}")
        if bundled.is_file():
            return bundled
        names += sorted(p.name.removesuffix(suffix) for p in bundled_data(folder).glob(f"*{suffix}"))
    raise FileNotFoundError(f"{value}: no such file, nor a bundled one ({', '.join(names)})")
