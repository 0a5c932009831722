"""Streaming readers' shared rule: skip unreadable records, count them, fail when none is left."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

logger = logging.getLogger("molgen")

T = TypeVar("T")


def readable(
    records: Iterable[T | None], path: str | os.PathLike, skipped: str, nothing: str, bad: str
) -> Iterator[T]:
    """The records that are not None. At the end, a warning ``"{path}: skipped N {skipped}, read
    M"`` when some were unreadable, and ``ValueError("{nothing} (N {bad})")`` when none was
    readable."""
    unreadable = good = 0
    for record in records:
        if record is None:
            unreadable += 1
            continue
        good += 1
        yield record
    if unreadable:
        logger.warning("%s: skipped %d %s, read %d", path, unreadable, skipped, good)
    if good == 0:
        raise ValueError(f"{nothing} ({unreadable} {bad})")
