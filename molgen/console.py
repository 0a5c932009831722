"""Third-party warnings on the console: caught (RDKit's C++ log and Python ``warnings``), counted,
and summarised in one line at the end of a command; shown in full with ``--verbose``."""

from __future__ import annotations

import collections
import contextlib
import logging
import re
from collections.abc import Iterator

from rdkit import rdBase

THIRD_PARTY_LOGGERS = ("rdkit", "py.warnings")  # RDKit's log (LogToPythonLogger), warnings.warn
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# RDKit's "[12:00:00] " and warnings' "path/file.py:12: " before the message
_PREFIX = re.compile(r"^(?:\[\d\d:\d\d:\d\d\]\s*|\S*?:\d+: )")


class WarningTally(logging.Handler):
    """Counts warning records by message, numbers replaced by ``#`` (so "Distance between atoms 3
    and 8 (0.97 A) is suspicious" and its siblings count as one kind)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        lines = record.getMessage().strip().splitlines()
        first = _PREFIX.sub("", lines[0]) if lines else ""
        source = "python" if record.name == "py.warnings" else record.name
        self.counts[f"{source}: {_NUMBER.sub('#', first).strip()}"] += 1

    def summary(self, most: int = 3) -> str | None:
        """One line: how many warnings of which kinds (the ``most`` common), or None if none."""
        total = sum(self.counts.values())
        if not total:
            return None
        kinds = "; ".join(f"{n} x {kind}" for kind, n in self.counts.most_common(most))
        more = f"; {len(self.counts) - most} other kind(s)" if len(self.counts) > most else ""
        return f"note: {total} third-party warning(s) hidden ({kinds}{more}); --verbose shows them"


@contextlib.contextmanager
def counted_third_party_warnings(verbose: bool = False) -> Iterator[WarningTally]:
    """Route RDKit's log and Python warnings into a :class:`WarningTally`; without ``verbose`` they
    stop there, with it they also reach the console as before. Restores everything afterwards."""
    tally = WarningTally()
    loggers = [logging.getLogger(name) for name in THIRD_PARTY_LOGGERS]
    rdBase.LogToPythonLogger()  # RDKit's C++ log -> logger "rdkit" (which has RDKit's own stderr handler)
    logging.captureWarnings(True)
    saved = [(logger.handlers[:], logger.propagate) for logger in loggers]
    for logger in loggers:
        if not verbose:
            logger.handlers.clear()
            logger.propagate = False
        logger.addHandler(tally)
    try:
        yield tally
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved):
            logger.handlers[:] = handlers
            logger.propagate = propagate
        logging.captureWarnings(False)
