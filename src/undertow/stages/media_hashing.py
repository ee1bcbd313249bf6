"""Stage: hash every stored media file that has no hashes yet (MD5, SHA-256 check, PDQ).

Files are read from the evidence store and hashed in a process pool (decoding and PDQ are CPU
work that holds the GIL); results are written in batches, each batch its own transaction, so
an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from undertow.enrich.media_hash import MediaHashes, hash_file
from undertow.settings import Settings
from undertow.store import Store, schema

BATCH = 1024


@dataclass
class HashingReport:
    hashed: int = 0
    with_pdq: int = 0
    errors: int = 0
    missing_blobs: int = 0
    dihedral_added: int = 0


def _hash_one(path: str, dihedral: bool) -> MediaHashes | None:
    """Worker: hashes of one evidence blob (None if the blob is gone)."""
    try:
        return hash_file(Path(path), dihedral=dihedral)
    except OSError:
        return None


def _hash_many(paths: Sequence[str], dihedral: bool = False) -> list[MediaHashes | None]:
    return [_hash_one(p, dihedral) for p in paths]


def pending_media(
    store: Store, limit: int = BATCH, *, after: tuple[int, str] | None = None
) -> list[tuple[int, str, str]]:
    """(first seen, sha256, blob path) of stored media without hashes, oldest first, after
    the given (first seen, sha256) position."""
    m, h = schema.media, schema.media_hashes
    query = sa.select(m.c.first_seen, m.c.sha256, m.c.blob).where(
        ~sa.exists().where(h.c.sha256 == m.c.sha256)
    )
    if after is not None:
        query = query.where(sa.tuple_(m.c.first_seen, m.c.sha256) > sa.tuple_(*after))
    query = query.order_by(m.c.first_seen, m.c.sha256).limit(limit)
    with store.engine.connect() as conn:
        return [(row.first_seen, row.sha256, row.blob) for row in conn.execute(query)]


def hash_stored_media(
    store: Store,
    settings: Settings,
    *,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> HashingReport:
    """Hash all stored media lacking hashes; safe to interrupt and re-run.

    With several workers the next batch is already being hashed while this process writes
    the previous one, so the workers do not wait for the database.
    """
    report = HashingReport()
    count = workers if workers is not None else (settings.hash_workers or os.cpu_count() or 1)
    pool = ProcessPoolExecutor(max_workers=count) if count > 1 else None
    previous: tuple[list[tuple[int, str, str]], Callable[[], list[MediaHashes | None]]] | None = (
        None
    )
    try:
        for batch in _batches(store):
            paths = [str(settings.evidence_dir / blob) for _, _, blob in batch]
            job = _start(pool, paths, count, settings.pdq_dihedral)
            if previous is not None:
                _finish(store, previous, report, on_progress)
            previous = (batch, job)
        if previous is not None:
            _finish(store, previous, report, on_progress)
        if settings.pdq_dihedral:
            report.dihedral_added = _backfill_dihedral(store, settings, pool, count)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return report


def _finish(
    store: Store,
    job: tuple[list[tuple[int, str, str]], Callable[[], list[MediaHashes | None]]],
    report: HashingReport,
    on_progress: Callable[[int], None] | None,
) -> None:
    batch, results = job
    _write(store, [(sha, blob) for _, sha, blob in batch], results(), report)
    if on_progress is not None:
        on_progress(len(batch))


def _batches(store: Store) -> Iterator[list[tuple[int, str, str]]]:
    after: tuple[int, str] | None = None
    while batch := pending_media(store, after=after):
        after = (batch[-1][0], batch[-1][1])
        yield batch


def _start(
    pool: ProcessPoolExecutor | None, paths: list[str], workers: int, dihedral: bool
) -> Callable[[], list[MediaHashes | None]]:
    """Begin hashing `paths`; the returned function waits for and returns the results."""
    if pool is None:
        results = _hash_many(paths, dihedral)
        return lambda: results
    # Small tasks keep both workers busy to the end of a batch.
    size = max(1, min(32, len(paths) // (workers * 8)))
    futures = [
        pool.submit(_hash_many, paths[i : i + size], dihedral) for i in range(0, len(paths), size)
    ]
    return lambda: [result for future in futures for result in future.result()]


def _write(
    store: Store,
    batch: list[tuple[str, str]],
    results: list[MediaHashes | None],
    report: HashingReport,
) -> None:
    now = int(time.time())
    rows = []
    for (sha, _blob), hashes in zip(batch, results, strict=True):
        row = {"sha256": sha, "md5": "", "kind": "missing", "pdq": None, "pdq_quality": None,
               "pdq_dihedral": None, "vpdq": None, "error": None, "hashed_at": now}  # fmt: skip
        if hashes is None:
            report.missing_blobs += 1
            row["error"] = "evidence blob is missing"
        elif hashes.sha256 != sha:
            report.errors += 1
            row |= {"md5": hashes.md5, "kind": hashes.kind}
            row["error"] = f"evidence blob changed: its SHA-256 is now {hashes.sha256}"
        else:
            report.hashed += 1
            report.with_pdq += hashes.pdq is not None
            report.errors += hashes.error is not None
            row |= {
                "md5": hashes.md5,
                "kind": hashes.kind,
                "pdq": hashes.pdq,
                "pdq_quality": hashes.pdq_quality,
                "pdq_dihedral": " ".join(hashes.pdq_dihedral) if hashes.pdq_dihedral else None,
                "vpdq": None
                if hashes.vpdq is None
                else " ".join(f"{h},{q},{t:g}" for h, q, t in hashes.vpdq),
                "error": hashes.error,
            }
        rows.append(row)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(schema.media_hashes), rows)


def _backfill_dihedral(
    store: Store, settings: Settings, pool: ProcessPoolExecutor | None, workers: int
) -> int:
    """Add rotated/flipped PDQ hashes to images hashed without them (rotation-robust matching
    was switched on later), and have the matching stage look at all media again."""
    from undertow.stages.media_matching import MEDIA_STAGE
    from undertow.stages.watermarks import set_watermark

    h, m = schema.media_hashes, schema.media
    query = (
        sa.select(h.c.sha256, m.c.blob)
        .join(m, m.c.sha256 == h.c.sha256)
        .where(h.c.pdq.is_not(None), h.c.pdq_dihedral.is_(None))
        .order_by(h.c.seq)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    added = 0
    for start in range(0, len(rows), BATCH):
        part = rows[start : start + BATCH]
        results = _start(pool, [str(settings.evidence_dir / r.blob) for r in part], workers, True)()
        updates = [
            {"key": row.sha256, "variants": " ".join(result.pdq_dihedral)}
            for row, result in zip(part, results, strict=True)
            if result is not None and result.pdq_dihedral
        ]
        if updates:
            with store.engine.begin() as conn:
                conn.execute(
                    sa.update(h)
                    .where(h.c.sha256 == sa.bindparam("key"))
                    .values(pdq_dihedral=sa.bindparam("variants")),
                    updates,
                )
            added += len(updates)
    if added:
        with store.engine.begin() as conn:
            set_watermark(conn, MEDIA_STAGE, 0)
    return added
