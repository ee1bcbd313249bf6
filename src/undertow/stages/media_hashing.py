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


def _hash_one(path: str) -> MediaHashes | None:
    """Worker: hashes of one evidence blob (None if the blob is gone)."""
    try:
        return hash_file(Path(path))
    except OSError:
        return None


def _hash_many(paths: Sequence[str]) -> list[MediaHashes | None]:
    return [_hash_one(p) for p in paths]


def pending_media(store: Store, limit: int = BATCH) -> list[tuple[str, str]]:
    """(sha256, blob path) of stored media without hashes, oldest first."""
    m, h = schema.media, schema.media_hashes
    query = (
        sa.select(m.c.sha256, m.c.blob)
        .where(~sa.exists().where(h.c.sha256 == m.c.sha256))
        .order_by(m.c.first_seen, m.c.sha256)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [(row.sha256, row.blob) for row in conn.execute(query)]


def hash_stored_media(
    store: Store,
    settings: Settings,
    *,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> HashingReport:
    """Hash all stored media lacking hashes; safe to interrupt and re-run."""
    report = HashingReport()
    count = workers if workers is not None else (settings.hash_workers or os.cpu_count() or 1)
    pool = ProcessPoolExecutor(max_workers=count) if count > 1 else None
    try:
        for batch in _batches(store):
            paths = [str(settings.evidence_dir / blob) for _, blob in batch]
            results = _run(pool, paths, count)
            _write(store, batch, results, report)
            if on_progress is not None:
                on_progress(len(batch))
    finally:
        if pool is not None:
            pool.shutdown()
    return report


def _batches(store: Store) -> Iterator[list[tuple[str, str]]]:
    seen: set[str] = set()
    while True:
        batch = [item for item in pending_media(store) if item[0] not in seen]
        if not batch:
            return
        seen.update(sha for sha, _ in batch)
        yield batch


def _run(
    pool: ProcessPoolExecutor | None, paths: list[str], workers: int
) -> list[MediaHashes | None]:
    if pool is None:
        return _hash_many(paths)
    size = max(1, len(paths) // (workers * 4))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    return [result for part in pool.map(_hash_many, chunks) for result in part]


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
