"""Importing files into the store: one transaction per file, so a bad file changes nothing.

`ingest_paths` finds the files a source can read, imports each in its own transaction and
reports per file; a file that fails is rolled back (database rows and the evidence blobs it
added) and the others go on.
"""

from __future__ import annotations

import mimetypes
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from undertow.enrich.evidence import EvidenceStore
from undertow.enrich.pseudonym import Pseudonymiser, load_or_create_key
from undertow.plugins import PluginError, get_source
from undertow.records import (
    MEDIA_MISSING,
    MEDIA_PENDING,
    MEDIA_STORED,
    ChannelRecord,
    MessageRecord,
    TitleObservation,
)
from undertow.settings import Settings
from undertow.sources.base import ImportContext, Source, SourceItem
from undertow.sources.child_reader import read_in_child
from undertow.store import Store, schema
from undertow.store.writer import RecordWriter


class IngestError(Exception):
    """A file could not be imported; the message names the file, the record and the problem."""


@dataclass
class FileReport:
    """What importing one file did."""

    path: Path
    chats: int = 0
    messages: int = 0
    media_stored: int = 0
    media_missing: int = 0
    notices: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def pseudonymiser_for(settings: Settings) -> Pseudonymiser:
    key = settings.pseudonym_key or load_or_create_key(settings.pseudonym_key_file)
    return Pseudonymiser(key)


def ingest_file(
    store: Store,
    settings: Settings,
    path: Path,
    *,
    source: Source | None = None,
    pseudonyms: Pseudonymiser | None = None,
    on_bytes: Callable[[int], None] | None = None,
    evidence: EvidenceStore | None = None,
) -> FileReport:
    """Import one file in one transaction; on any error roll everything of it back."""
    source = source or get_source(settings, settings.source)
    report = FileReport(path=path)
    evidence = evidence or EvidenceStore(settings.evidence_dir)
    context = ImportContext(
        settings=settings,
        pseudonyms=pseudonyms or pseudonymiser_for(settings),
        evidence=evidence,
        on_bytes=on_bytes,
        notice=report.notices.append,
    )
    started = time.time()
    try:
        items = _read(source, path, settings, context)
        with store.engine.begin() as conn:
            writer = RecordWriter(conn, batch_size=settings.batch_size)
            for item in items:
                if type(item) is MessageRecord:
                    if item.media:
                        store_pending_media(item, evidence)
                    writer.add_message(item)
                elif type(item) is TitleObservation:
                    writer.add_title(item)
                elif type(item) is ChannelRecord:
                    writer.add_channel(item)
                    report.chats += 1
            writer.finish()
            conn.execute(
                sa.insert(schema.imports).values(
                    source=source.name,
                    path=str(path),
                    size=path.stat().st_size,
                    started_at=int(started),
                    finished_at=int(time.time()),
                    chats=report.chats,
                    messages=writer.messages,
                    media_stored=writer.media_stored,
                    media_missing=writer.media_missing,
                )
            )
        evidence.commit()
    except (ValueError, OSError) as exc:
        evidence.discard()
        raise IngestError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from exc
    except sa.exc.SQLAlchemyError as exc:
        evidence.discard()
        raise IngestError(
            f"{path}: the store refused a record: {exc.__class__.__name__}: "
            f"{getattr(exc, 'orig', None) or exc}"
        ) from exc
    except BaseException:
        evidence.discard()
        raise
    report.messages = writer.messages
    report.media_stored = writer.media_stored
    report.media_missing = writer.media_missing
    report.seconds = time.time() - started
    return report


def store_pending_media(record: MessageRecord, evidence: EvidenceStore) -> None:
    """Hash and store the files a source left `pending`; absent ones become `missing`."""
    for ref in record.media:
        if ref.status != MEDIA_PENDING or ref.source_path is None:
            continue
        try:
            ref.sha256, ref.size = evidence.add_file(ref.source_path)
            ref.status = MEDIA_STORED
            if ref.mime is None and ref.path is not None:
                ref.mime = mimetypes.guess_type(ref.path)[0]
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            ref.status = MEDIA_MISSING
        ref.source_path = None


def _read(
    source: Source, path: Path, settings: Settings, context: ImportContext
) -> Iterator[SourceItem]:
    """The file's records: from a child process for large files on a multi-core machine."""
    threshold = settings.parallel_ingest_bytes
    if threshold <= 0 or (os.cpu_count() or 1) < 2 or path.stat().st_size < threshold:
        return source.read(path, context)
    try:
        get_source(settings, source.name)  # the child finds the source by its registered name
    except PluginError:
        return source.read(path, context)
    return read_in_child(
        source.name,
        path,
        settings,
        context.pseudonyms.key,
        context.evidence,
        on_bytes=context.on_bytes,
        notice=context.notice,
    )


def ingest_paths(
    store: Store,
    settings: Settings,
    paths: Sequence[Path],
    *,
    source: Source | None = None,
    on_file: Callable[[Path, int], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> list[FileReport]:
    """Import every file found under `paths`; failures are reported, not raised."""
    source = source or get_source(settings, settings.source)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise IngestError(f"no such file or folder: {', '.join(map(str, missing))}")
    files = source.discover(paths)
    pseudonyms = pseudonymiser_for(settings)
    evidence = EvidenceStore(settings.evidence_dir)
    reports: list[FileReport] = []
    for path in files:
        if on_file is not None:
            on_file(path, path.stat().st_size)
        try:
            reports.append(
                ingest_file(
                    store,
                    settings,
                    path,
                    source=source,
                    pseudonyms=pseudonyms,
                    on_bytes=on_bytes,
                    evidence=evidence,
                )
            )
        except IngestError as exc:
            reports.append(FileReport(path=path, error=str(exc)))
    return reports
