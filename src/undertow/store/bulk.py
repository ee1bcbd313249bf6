"""Compiled bulk statements run through the driver's own `executemany`.

SQLAlchemy builds and compiles each statement once for the connection's dialect; rows then go
to the DB-API cursor as plain tuples (or dicts for named-parameter drivers), skipping
per-row parameter processing, which dominates ingest time otherwise.  JSON values must
already be serialised (see `json_text`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """An INSERT that supports ON CONFLICT on this dialect (SQLite or PostgreSQL)."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


def json_text(value: Any) -> str | None:
    """A JSON column value as text, or None for SQL NULL."""
    if value is None:
        return None
    return orjson.dumps(value).decode()


_COMPILED: dict[tuple[str, str], tuple[str, list[int] | None, bool]] = {}


class BulkStatement:
    """One compiled INSERT ... ON CONFLICT statement and its column order.

    Compilation is cached per dialect and `key`, so opening a writer per imported file
    costs nothing after the first.
    """

    def __init__(
        self, conn: sa.Connection, key: str, build: Callable[[], sa.Insert], columns: Sequence[str]
    ) -> None:
        self.conn = conn
        self.columns = tuple(columns)
        cache_key = (conn.dialect.name, key)
        if cache_key not in _COMPILED:
            compiled = build().inline().compile(dialect=conn.dialect, column_keys=list(columns))
            positional = conn.dialect.positional
            order = compiled.positiontup if positional else None
            reorder = None
            if order is not None and tuple(order) != self.columns:
                index = {name: i for i, name in enumerate(self.columns)}
                reorder = [index[name] for name in order]
            _COMPILED[cache_key] = (compiled.string, reorder, not positional)
        self.sql, self._reorder, self._named = _COMPILED[cache_key]

    def run(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        params: Sequence[Any]
        if self._named:
            params = [dict(zip(self.columns, row, strict=True)) for row in rows]
        elif self._reorder is not None:
            order = self._reorder
            params = [tuple(row[i] for i in order) for row in rows]
        else:
            params = rows
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, params)
        finally:
            cursor.close()
