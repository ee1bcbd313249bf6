"""Opening the store: engine set-up for SQLite or PostgreSQL and schema upgrades by Alembic."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from undertow.store import schema

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(Exception):
    """The store cannot be opened or is from an incompatible version."""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers (the web app, exports) work while an import writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk upserts touch many index pages
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def create_engine(url: str) -> sa.Engine:
    """An engine with orjson for JSON columns and sensible per-backend settings."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and url.startswith("sqlite:///"):
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, json_serializer=_dumps, json_deserializer=orjson.loads, future=True
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, json_serializer=_dumps, json_deserializer=orjson.loads)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@dataclass
class Store:
    """An open store: the engine plus the table objects code queries through."""

    engine: sa.Engine
    url: str

    tables = schema

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def open_store(url: str, *, upgrade: bool = True) -> Store:
    """Open (and by default create or upgrade) the store at `url`."""
    try:
        engine = create_engine(url)
        if upgrade:
            with engine.begin() as conn:
                command.upgrade(alembic_config(conn), "head")
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open store {_safe_url(url)}: {exc.__class__.__name__}: {exc}"
        ) from exc
    return Store(engine=engine, url=url)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid URL>"
