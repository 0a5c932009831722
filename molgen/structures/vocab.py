"""Atom-type vocabularies: the map between elements and model type indices."""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem

_PERIODIC = Chem.GetPeriodicTable()


@dataclass(frozen=True)
class AtomVocab:
    """An ordered list of element symbols; index ``i`` is model type ``i``."""

    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"duplicate symbols in vocabulary {self.symbols}")

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def atomic_numbers(self) -> tuple[int, ...]:
        return tuple(_PERIODIC.GetAtomicNumber(s) for s in self.symbols)

    @staticmethod
    def symbol_of(atomic_number: int) -> str:
        return _PERIODIC.GetElementSymbol(atomic_number)

    def index(self, symbol: str) -> int:
        """Type index of an element symbol; ValueError names the unknown element."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise ValueError(
                f"element {symbol!r} is not in the model's vocabulary {list(self.symbols)}"
            ) from None


QM9_VOCAB = AtomVocab(("H", "C", "N", "O", "F"))
