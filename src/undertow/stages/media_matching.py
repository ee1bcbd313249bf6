"""Stage: match collected media against the hash banks, and against each other.

Incremental both ways: media hashed since the last run are matched against every bank entry,
and bank entries added since the last run are matched against all earlier media.  The banks'
PDQ index is kept on disk (`<data dir>/index/bank-pdq`, NumPy arrays) and extended with new
entries instead of being rebuilt.  Near-identical media pairs within the collection go to
`media_matches`, which the network analysis uses to find mirrors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from undertow.detect.hashmatch import BankEntryInfo, BankSnapshot, HashMatchDetector
from undertow.detect.pdq_index import PDQIndex, codes_from_hex
from undertow.records import MediaItem
from undertow.settings import Settings
from undertow.stages.signals import write_signals
from undertow.stages.watermarks import get_watermark, set_watermark
from undertow.store import Store, schema
from undertow.store.bulk import dialect_insert

MEDIA_STAGE = "hashmatch.media"
ENTRY_STAGE = "hashmatch.entries"
PAIRS_STAGE = "media_pairs.media"
BATCH = 2000


@dataclass
class MatchingReport:
    media_checked: int = 0
    new_entries: int = 0
    signals: int = 0
    media_pairs: int = 0


def bank_entries(conn: sa.Connection, *, after: int = 0) -> list[BankEntryInfo]:
    """Entries of enabled banks with id > `after`."""
    b, e = schema.banks, schema.bank_entries
    query = (
        sa.select(
            e.c.id,
            b.c.name,
            e.c.hash_type,
            e.c.value,
            e.c.category,
            b.c.category.label("bank_category"),
            e.c.note,
        )
        .join(b, b.c.id == e.c.bank_id)
        .where(b.c.enabled.is_(True), e.c.id > after)
        .order_by(e.c.id)
    )
    return [
        BankEntryInfo(
            row.id, row.name, row.hash_type, row.value, row.category or row.bank_category, row.note
        )
        for row in conn.execute(query)
    ]


def bank_pdq_index(
    settings: Settings, entries: list[BankEntryInfo], enabled: list[str]
) -> PDQIndex:
    """The persisted PDQ index of `entries`, extended with new entries or rebuilt if stale."""
    folder = settings.data_dir / "index" / "bank-pdq"
    pdq = [(e.entry_id, e.value) for e in entries if e.hash_type == "pdq"]
    index: PDQIndex | None = None
    try:
        index, meta = PDQIndex.load(folder)
        known = int(meta.get("max_entry_id", 0))
        already = [item for item in pdq if item[0] <= known]
        if (
            meta.get("enabled_banks") != enabled
            or len(already) != len(index)
            or not _same_ids(index, already)
        ):
            index = None
        else:
            fresh = [item for item in pdq if item[0] > known]
            if fresh:
                index.add(codes_from_hex([v for _, v in fresh]), np.array([i for i, _ in fresh]))
    except (OSError, ValueError, KeyError):
        index = None
    if index is None:
        index = PDQIndex(
            codes_from_hex([v for _, v in pdq]), np.array([i for i, _ in pdq], dtype=np.int64)
        )
    max_id = max((e.entry_id for e in entries), default=0)
    index.save(folder, {"max_entry_id": max_id, "enabled_banks": enabled})
    return index


def _previously_enabled(settings: Settings) -> set[str] | None:
    """The banks the last run matched against (from the saved index), if known."""
    try:
        header = json.loads((settings.data_dir / "index" / "bank-pdq" / "index.json").read_text())
    except (OSError, ValueError):
        return None
    banks = header.get("enabled_banks")
    return set(banks) if isinstance(banks, list) else None


def _same_ids(index: PDQIndex, items: list[tuple[int, str]]) -> bool:
    return bool(
        np.array_equal(np.sort(index.ids), np.sort(np.array([i for i, _ in items], dtype=np.int64)))
    )


def occurrences(conn: sa.Connection, low_seq: int, high_seq: int) -> Iterator[list[MediaItem]]:
    """Media occurrences (message, file) whose hashes have seq in (low_seq, high_seq]."""
    h, mm = schema.media_hashes, schema.message_media
    start = low_seq
    while start < high_seq:
        end = min(start + BATCH, high_seq)
        query = (
            sa.select(
                mm.c.channel_id, mm.c.message_id, h.c.sha256, h.c.md5, h.c.pdq, h.c.pdq_dihedral,
                h.c.vpdq,
            )
            .join(h, h.c.sha256 == mm.c.sha256)
            # Files that failed to decode still match by exact hash.
            .where(h.c.seq > start, h.c.seq <= end)
            .order_by(h.c.seq, mm.c.channel_id, mm.c.message_id)
        )  # fmt: skip
        batch = [
            MediaItem(
                row.channel_id,
                row.message_id,
                row.sha256,
                row.md5,
                row.pdq,
                row.pdq_dihedral.split() if row.pdq_dihedral else None,
                _frames(row.vpdq),
            )
            for row in conn.execute(query)
        ]
        if batch:
            yield batch
        start = end


def _frames(stored: str | None) -> list[tuple[str, int]] | None:
    """(hex, quality) of each frame of a stored vPDQ value ("hex,quality,seconds ...")."""
    if not stored:
        return None
    frames = []
    for item in stored.split():
        digest, quality, _seconds = item.split(",")
        frames.append((digest, int(quality)))
    return frames


def match_banks(store: Store, settings: Settings) -> MatchingReport:
    report = MatchingReport()
    with store.engine.begin() as conn:
        media_mark = get_watermark(conn, MEDIA_STAGE)
        entry_mark = get_watermark(conn, ENTRY_STAGE)
        top_seq = int(conn.execute(sa.select(sa.func.max(schema.media_hashes.c.seq))).scalar() or 0)
        entries = bank_entries(conn)
        enabled = sorted({e.bank for e in entries})
        before = _previously_enabled(settings)
        detector = HashMatchDetector.from_settings(
            settings, BankSnapshot.build(entries, bank_pdq_index(settings, entries, enabled))
        )
        # Entries added since the last run, and every entry of a bank switched (back) on since.
        fresh = [
            e
            for e in entries
            if e.entry_id > entry_mark or (before is not None and e.bank not in before)
        ]
        report.new_entries = len(fresh)
        # 1. New media against every entry.
        for batch in occurrences(conn, media_mark, top_seq):
            report.media_checked += len(batch)
            found = detector.detect(batch)
            write_signals(conn, found)
            report.signals += len(found)
        # 2. Earlier media against the entries added since.
        if fresh and media_mark > 0:
            only_new = HashMatchDetector.from_settings(settings, BankSnapshot.build(fresh))
            for batch in occurrences(conn, 0, media_mark):
                found = only_new.detect(batch)
                write_signals(conn, found)
                report.signals += len(found)
        set_watermark(conn, MEDIA_STAGE, top_seq)
        set_watermark(conn, ENTRY_STAGE, max((e.entry_id for e in entries), default=entry_mark))
    return report


def match_collected_media(store: Store, settings: Settings) -> int:
    """Record pairs of collected images within the PDQ threshold of each other."""
    h = schema.media_hashes
    with store.engine.begin() as conn:
        mark = get_watermark(conn, PAIRS_STAGE)
        rows = conn.execute(
            sa.select(h.c.seq, h.c.sha256, h.c.pdq).where(h.c.pdq.is_not(None)).order_by(h.c.seq)
        ).all()
        if not rows:
            return 0
        shas = [r.sha256 for r in rows]
        index = PDQIndex(codes_from_hex([r.pdq for r in rows]), np.arange(len(rows)))
        new = [i for i, r in enumerate(rows) if r.seq > mark]
        pairs: set[tuple[str, str, int]] = set()
        for match in index.search(
            codes_from_hex([rows[i].pdq for i in new]), settings.pdq_threshold
        ):
            a, b = shas[new[match.query]], shas[match.entry]
            if a != b:
                pairs.add((min(a, b), max(a, b), match.distance))
        if pairs:
            insert = dialect_insert(conn.dialect.name, schema.media_matches).on_conflict_do_nothing(
                index_elements=["sha256_a", "sha256_b"]
            )
            conn.execute(
                insert,
                [
                    {"sha256_a": a, "sha256_b": b, "method": "pdq", "distance": d}
                    for a, b, d in pairs
                ],
            )
        set_watermark(conn, PAIRS_STAGE, rows[-1].seq)
    return len(pairs)
