"""The `Detector` extension point: a batch of records in, signals out, no I/O.

Keeping detectors free of I/O lets the same object run in-process, in a process pool, or in
`map_partitions` on a Dask cluster; the stage around it reads batches and writes signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from undertow.records import Signal


@runtime_checkable
class Detector(Protocol):
    """Finds signals in a batch of records of the kind it declares."""

    name: str
    version: str

    def detect(self, batch: Sequence[Any]) -> list[Signal]:
        """Signals for the records of `batch` (none for records it has nothing to say about)."""
        ...
