"""Alembic environment: runs migrations on the connection `open_store` hands over."""

from __future__ import annotations

from alembic import context

from undertow.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` CLI use: build an engine from the ini's URL
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///undertow.db")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
