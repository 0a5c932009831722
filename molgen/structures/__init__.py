"""Domain objects: molecules, atom vocabularies."""

from molgen.structures.molecule import Molecule
from molgen.structures.vocab import QM9_VOCAB, AtomVocab

__all__ = ["AtomVocab", "Molecule", "QM9_VOCAB"]
