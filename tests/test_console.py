"""Third-party warnings are counted and summarised, not printed (unless --verbose)."""

import logging
import warnings

import pytest
from rdkit import Chem, rdBase

from molgen.console import counted_third_party_warnings


class Shown(logging.Handler):
    """What reaches the console handlers of RDKit's logger."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def shown():
    rdBase.LogToPythonLogger()
    handler = Shown()
    logger = logging.getLogger("rdkit")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_rdkit_and_python_warnings_are_counted_instead_of_shown(shown):
    with counted_third_party_warnings() as tally:
        for smiles in ("C1CC", "C2CC", "C3CC"):
            assert Chem.MolFromSmiles(smiles) is None  # RDKit logs a parse error for each
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("atoms 3 and 4 are 0.8 A apart", UserWarning, stacklevel=1)
    assert shown.messages == []
    assert tally.counts == {
        "rdkit: SMILES Parse Error: unclosed ring for input: 'C#CC'": 3,  # numbers merged into one kind
        "python: UserWarning: atoms # and # are # A apart": 1,
    }
    summary = tally.summary(most=1)
    assert summary.startswith("note: 4 third-party warning(s) hidden (3 x rdkit: SMILES Parse Error")
    assert "1 other kind(s)" in summary and "--verbose" in summary
    Chem.MolFromSmiles("C1CC")  # afterwards RDKit's log reaches its handlers again
    assert len(shown.messages) == 1


def test_verbose_shows_them_and_counts_them(shown):
    with counted_third_party_warnings(verbose=True) as tally:
        Chem.MolFromSmiles("C1CC")
    assert len(shown.messages) == 1 and sum(tally.counts.values()) == 1


def test_no_warnings_no_summary():
    with counted_third_party_warnings() as tally:
        Chem.MolFromSmiles("CCO")
    assert tally.summary() is None
