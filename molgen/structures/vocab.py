"""Atom-type vocabularies: the map between atom types (an element with a formal charge) and
model type indices.

A type is written as its element symbol followed by its formal charge, if any: ``"C"``,
``"N+"`` (charge +1), ``"O-"`` (charge -1), ``"Fe+2"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rdkit import Chem

_PERIODIC = Chem.GetPeriodicTable()
_TOKEN = re.compile(r"([A-Z][a-z]?)(?:([+-])(\d*))?")


def parse_type(token: str) -> tuple[str, int]:
    """``"N+"`` -> ``("N", 1)``, ``"O-"`` -> ``("O", -1)``, ``"C"`` -> ``("C", 0)``; ValueError
    for anything else."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise ValueError(f"atom type {token!r}: expected an element symbol and an optional charge, e.g. N+")
    symbol, sign, size = match.groups()
    try:
        _PERIODIC.GetAtomicNumber(symbol)
    except RuntimeError:
        raise ValueError(f"atom type {token!r}: {symbol!r} is not an element") from None
    charge = 0 if sign is None else int(size or 1) * (1 if sign == "+" else -1)
    return symbol, charge


def type_token(symbol: str, charge: int = 0) -> str:
    """The inverse of :func:`parse_type`."""
    if charge == 0:
        return symbol
    size = "" if abs(charge) == 1 else str(abs(charge))
    return f"{symbol}{'+' if charge > 0 else '-'}{size}"


@dataclass(frozen=True)
class AtomVocab:
    """An ordered list of atom types (element symbols with optional charges, see the module
    docstring); index ``i`` is model type ``i``."""

    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"duplicate symbols in vocabulary {self.symbols}")
        for token in self.symbols:
            parse_type(token)

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def elements(self) -> tuple[str, ...]:
        """The element symbol of every type."""
        return tuple(parse_type(t)[0] for t in self.symbols)

    @property
    def charges(self) -> tuple[int, ...]:
        """The formal charge of every type."""
        return tuple(parse_type(t)[1] for t in self.symbols)

    @property
    def atomic_numbers(self) -> tuple[int, ...]:
        return tuple(_PERIODIC.GetAtomicNumber(s) for s in self.elements)

    @staticmethod
    def symbol_of(atomic_number: int) -> str:
        return _PERIODIC.GetElementSymbol(atomic_number)

    def index(self, symbol: str, charge: int = 0) -> int:
        """Type index of an element with a formal charge; ValueError names the unknown type."""
        token = type_token(symbol, charge)
        try:
            return self.symbols.index(token)
        except ValueError:
            raise ValueError(
                f"atom type {token!r} is not in the model's vocabulary {list(self.symbols)}"
            ) from None


QM9_VOCAB = AtomVocab(("H", "C", "N", "O", "F"))
