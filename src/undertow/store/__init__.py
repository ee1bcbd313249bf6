"""The store: one schema, SQLite by default or PostgreSQL by URL, upgraded by Alembic."""

from __future__ import annotations

from undertow.store.database import Store, open_store

__all__ = ["Store", "open_store"]
