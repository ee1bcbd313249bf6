"""Reading one large input file in a child process, so that parsing and writing share both cores.

The child runs the same `Source.read` and sends its records back in batches through a pipe
(the pipe's bounded buffer keeps memory flat: the child waits while the parent writes).  Media
blobs the child adds to the evidence store are reported with each batch, so a failed import
can remove them.  Errors come back as messages and are raised in the parent unchanged.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from undertow.enrich.evidence import EvidenceStore
from undertow.enrich.pseudonym import Pseudonymiser
from undertow.records import MediaRef, MessageRecord
from undertow.settings import Settings
from undertow.sources.base import ImportContext, SourceItem

BATCH = 1000
_MESSAGE_FIELDS = tuple(f.name for f in fields(MessageRecord))
_MEDIA_FIELDS = tuple(f.name for f in fields(MediaRef))
_MEDIA_POSITION = _MESSAGE_FIELDS.index("media")


class ChildReaderError(ValueError):
    """The child process failed; the message is the child's own error message."""


def _pack(item: SourceItem) -> Any:
    """Messages as plain tuples: several times cheaper to pickle than dataclasses."""
    if type(item) is MessageRecord:
        values = [getattr(item, name) for name in _MESSAGE_FIELDS]
        if item.media:
            values[_MEDIA_POSITION] = [
                tuple(getattr(m, n) for n in _MEDIA_FIELDS) for m in item.media
            ]
        return tuple(values)
    return item


def _unpack(packed: Any) -> SourceItem:
    if type(packed) is tuple:
        record = MessageRecord(*packed)
        if record.media:
            record.media = [MediaRef(*m) for m in record.media]  # type: ignore[misc]
        return record
    return packed  # type: ignore[no-any-return]


def _produce(conn: Connection, source_name: str, path: str, settings: Settings, key: bytes) -> None:
    """Child process body: read the file and stream packed records to the parent."""
    from undertow.plugins import get_source

    evidence = EvidenceStore(settings.evidence_dir)
    pending_bytes = 0

    def on_bytes(count: int) -> None:
        nonlocal pending_bytes
        pending_bytes += count

    def blobs() -> list[str]:
        created = [str(p) for p in evidence.created]
        evidence.commit()
        return created

    context = ImportContext(
        settings=settings,
        pseudonyms=Pseudonymiser(key),
        evidence=evidence,
        on_bytes=on_bytes,
        notice=lambda text: conn.send(("notice", text)),
        defer_media=True,  # the parent hashes files: it has time while this process parses
    )
    batch: list[Any] = []
    try:
        for item in get_source(settings, source_name).read(Path(path), context):
            batch.append(_pack(item))
            if len(batch) >= BATCH:
                conn.send(("items", batch, blobs(), pending_bytes))
                batch, pending_bytes = [], 0
        conn.send(("items", batch, blobs(), pending_bytes))
        conn.send(("done",))
    except (ValueError, OSError) as exc:
        conn.send(("error", str(exc), blobs()))
    except Exception as exc:  # anything else is a bug; the parent reports it, it must not hang
        conn.send(("error", f"reader process failed: {exc.__class__.__name__}: {exc}", blobs()))
    finally:
        conn.close()


def read_in_child(
    source_name: str,
    path: Path,
    settings: Settings,
    key: bytes,
    evidence: EvidenceStore,
    *,
    on_bytes: Callable[[int], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> Iterator[SourceItem]:
    """Yield the records of `path` as `source.read` would, read by a child process.

    Blobs the child stores are adopted by `evidence`, so `evidence.discard()` removes them.
    """
    # Fork where there is one: it starts at once and does not re-import the caller's script
    # (which "spawn" would, breaking scripts without a __main__ guard).
    methods = multiprocessing.get_all_start_methods()
    context: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # The pipe's small buffer bounds memory: the child parses one batch ahead, then waits.
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_produce, args=(send, source_name, str(path), settings, key), daemon=True
    )
    child.start()
    send.close()
    try:
        while True:
            try:
                message = receive.recv()
            except EOFError as exc:
                raise ChildReaderError(f"{path}: the reader process stopped unexpectedly") from exc
            kind = message[0]
            if kind == "items":
                evidence.adopt(Path(p) for p in message[2])
                if on_bytes is not None and message[3]:
                    on_bytes(message[3])
                for packed in message[1]:
                    yield _unpack(packed)
            elif kind == "notice":
                if notice is not None:
                    notice(message[1])
            elif kind == "error":
                evidence.adopt(Path(p) for p in message[2])
                raise ChildReaderError(message[1])
            else:
                return
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
