"""The `Source` extension point and what a source gets to work with while it reads a file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from undertow.enrich.evidence import EvidenceStore
from undertow.enrich.pseudonym import Pseudonymiser
from undertow.records import ChannelRecord, MessageRecord, TitleObservation
from undertow.settings import Settings

SourceItem = ChannelRecord | TitleObservation | MessageRecord


class RecordError(ValueError):
    """One record of an input is unusable; the importer adds the file and the record's place."""


@dataclass
class ImportContext:
    """Services a source uses while reading: pseudonyms, evidence store, progress, notices."""

    settings: Settings
    pseudonyms: Pseudonymiser
    evidence: EvidenceStore
    on_bytes: Callable[[int], None] | None = None
    notice: Callable[[str], None] | None = None
    defer_media: bool = False
    """Leave files beside the export `pending` (with `source_path`) for the importer to hash."""

    def tell(self, message: str) -> None:
        if self.notice is not None:
            self.notice(message)


@runtime_checkable
class Source(Protocol):
    """Reads one kind of input file and yields canonical records in file order.

    A `ChannelRecord` comes before the messages and titles of that channel.  Bad input raises
    `ValueError` (`RecordError` or a format error) naming what was wrong; the importer rolls
    the whole file back.
    """

    name: str

    def discover(self, paths: Sequence[Path]) -> list[Path]:
        """The files under `paths` this source can read."""
        ...

    def read(self, path: Path, context: ImportContext) -> Iterator[SourceItem]:
        """Yield the records of one file."""
        ...
