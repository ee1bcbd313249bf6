"""Per-stage watermarks: the position up to which a stage has processed its input."""

from __future__ import annotations

import time

import sqlalchemy as sa

from undertow.store import schema
from undertow.store.bulk import dialect_insert


def get_watermark(conn: sa.Connection, stage: str) -> int:
    table = schema.stage_watermarks
    value = conn.execute(sa.select(table.c.position).where(table.c.stage == stage)).scalar()
    return int(value or 0)


def set_watermark(conn: sa.Connection, stage: str, position: int) -> None:
    insert = dialect_insert(conn.dialect.name, schema.stage_watermarks)
    conn.execute(
        insert.values(
            stage=stage, position=position, updated_at=int(time.time())
        ).on_conflict_do_update(
            index_elements=["stage"], set_={"position": position, "updated_at": int(time.time())}
        )
    )
