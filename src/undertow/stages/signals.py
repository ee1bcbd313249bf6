"""Writing signals: one upsert per (detector, key), so re-running a stage replaces, never adds."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from undertow.records import Signal
from undertow.store import schema
from undertow.store.bulk import BulkStatement, dialect_insert, json_text


def write_signals(conn: sa.Connection, signals: list[Signal]) -> None:
    if not signals:
        return
    columns = ("detector", "detector_version", "key", "target_kind", "channel_id", "message_id",
               "sha256", "score", "category", "explanation", "created_at")  # fmt: skip

    def statement() -> Any:
        insert = dialect_insert(conn.dialect.name, schema.signals)
        keep = ("detector_version", "score", "category", "explanation")
        return insert.on_conflict_do_update(
            index_elements=["detector", "key"], set_={k: insert.excluded[k] for k in keep}
        )

    now = int(time.time())
    BulkStatement(conn, "signals", statement, columns).run(
        [
            (
                s.detector,
                s.version,
                s.key,
                s.target_kind,
                s.channel_id,
                s.message_id,
                s.sha256,
                s.score,
                s.category,
                json_text(s.explanation),
                now,
            )
            for s in signals
        ]
    )
