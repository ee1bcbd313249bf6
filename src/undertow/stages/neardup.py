"""The network stage's first step: near-duplicate text, incremental.

Messages after the `network.neardup` watermark are read in batches, each text cleaned once:
signed (MinHash) and added to the LSH index kept in `<data dir>/index/neardup/`, their pairs
with everything indexed before written to `text_copies`, and the hash of each clean text to
`text_keys` (the mirror step groups identical texts by it).  The index and the watermark
are saved together every `SAVE_EVERY` messages; work after the last save is redone after a
failure, and its pairs are upserts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from hashlib import blake2b
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from undertow.network.minhash import clean_text
from undertow.network.neardup import IndexFormatError, NearDuplicateIndex
from undertow.settings import Settings
from undertow.stages.watermarks import get_watermark, set_watermark
from undertow.store import Store, schema
from undertow.store.bulk import BulkStatement, dialect_insert

NEARDUP_STAGE = "network.neardup"
BATCH = 20_000
SAVE_EVERY = 8 * BATCH
BULK_FLOOR = 100_000
"""New messages at least this many, and as many as are indexed, are loaded in bulk."""
MIN_KEY_CHARS = 20
"""Shortest clean text that gets a key (shorter ones are no evidence of copying)."""


def _index_folder(settings: Settings) -> Path:
    return settings.data_dir / "index" / "neardup"


def near_duplicates(
    store: Store, settings: Settings, progress: Callable[[int], None] | None
) -> tuple[int, int]:
    """Sign and pair the messages after the watermark: (messages signed, pairs found).  An
    index that is missing, damaged or from other parameters is rebuilt from the start."""
    folder = _index_folder(settings)
    with store.engine.connect() as conn:
        low = get_watermark(conn, NEARDUP_STAGE)
    index = NearDuplicateIndex()
    if low and (folder / "neardup.json").exists():
        try:
            index = NearDuplicateIndex.load(folder, expect=index.params)
        except IndexFormatError:
            low = 0  # rebuild from scratch: the pairs are upserts, nothing is lost
    elif folder.exists():
        shutil.rmtree(folder)
        low = 0
    m = schema.messages
    with store.engine.connect() as conn:
        backlog = (conn.execute(sa.select(sa.func.max(m.c.id))).scalar() or 0) - low
    # Pairs point back to early messages at random, so inserting them one by one into the
    # index on `id_b` touches pages all over it: once it outgrows the database's cache, that
    # costs more per pair the larger the store.  A load at least as large as what is indexed
    # drops it and builds it once, sorted, at the end (also after a failure: nothing waits).
    reverse = next(i for i in schema.text_copies.indexes if i.name == "ix_text_copies_b")
    if backlog >= max(BULK_FLOOR, len(index)):
        with store.engine.begin() as conn:
            reverse.drop(conn, checkfirst=True)
        # Sized once for the whole load rather than doubling as it fills (decision 64).
        index.reserve(backlog)
    try:
        return _pair_new_messages(store, index, folder, low, progress)
    finally:
        with store.engine.begin() as conn:
            reverse.create(conn, checkfirst=True)


def _pair_new_messages(
    store: Store,
    index: NearDuplicateIndex,
    folder: Path,
    low: int,
    progress: Callable[[int], None] | None,
) -> tuple[int, int]:
    m = schema.messages
    added = pairs_found = saved = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(m.c.id, m.c.text)
                .where(m.c.id > low, m.c.kind == "message")
                .order_by(m.c.id)
                .limit(BATCH)
            ).all()
        if not rows:
            break
        ids = np.array([row.id for row in rows], dtype=np.int64)
        texts = [row.text or "" for row in rows]
        # Cleaned once: for the signature and for the text key the mirror step compares.
        hasher = index.hasher
        cleaned = [clean_text(text, hasher.max_chars) for text in texts]
        signed = [hasher.clean(text, clean) for text, clean in zip(texts, cleaned, strict=True)]
        pairs = index.add_and_pair(ids, hasher.signatures_of_clean(signed))
        low = int(ids[-1])
        added += len(rows)
        pairs_found += len(pairs)
        # The index is saved (the messages since its last save appended), and the watermark
        # moved, every SAVE_EVERY messages.  Work after the last save is redone after a
        # failure; its pairs are upserts.
        due = added - saved >= SAVE_EVERY
        with store.engine.begin() as conn:
            _write_copies(conn, pairs)
            _write_keys(conn, ids, cleaned)
            if due:
                index.save(folder)
                set_watermark(conn, NEARDUP_STAGE, low)
        if due:
            saved = added
        if progress is not None:
            progress(len(rows))
    if added > saved:
        with store.engine.begin() as conn:
            index.save(folder)
            set_watermark(conn, NEARDUP_STAGE, low)
    return added, pairs_found


def _write_copies(conn: sa.Connection, pairs: np.ndarray) -> None:
    if not len(pairs):
        return

    def build() -> sa.Insert:
        insert = dialect_insert(conn.dialect.name, schema.text_copies)
        return insert.on_conflict_do_nothing(index_elements=["id_a", "id_b"])  # type: ignore[no-any-return]

    rows = [
        (int(new), int(old), round(float(max(jaccard, containment)), 4))
        for new, old, jaccard, containment in pairs.tolist()
    ]
    BulkStatement(conn, "text_copies", build, ("id_a", "id_b", "similarity")).run(rows)


def _write_keys(conn: sa.Connection, ids: np.ndarray, cleaned: list[str]) -> None:
    """Text keys of messages whose cleaned text is long enough to be evidence: the first 64
    bits of its BLAKE2b (two different texts share one with a chance of n^2 / 2^65)."""
    rows = [
        (
            message_id,
            int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little", signed=True),
        )
        for message_id, text in zip(ids.tolist(), cleaned, strict=True)
        if len(text) >= MIN_KEY_CHARS
    ]

    def build() -> sa.Insert:
        insert = dialect_insert(conn.dialect.name, schema.text_keys)
        return insert.on_conflict_do_update(  # type: ignore[no-any-return]
            index_elements=["id"], set_={"text_key": insert.excluded.text_key}
        )

    BulkStatement(conn, "text_keys", build, ("id", "text_key")).run(rows)
