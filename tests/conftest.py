"""Shared fixtures: real SQLite files, and databases on the PostgreSQL server that
scripts/test.sh starts."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import sqlalchemy as sa

from undertow.settings import Settings, load_settings
from undertow.store import Store, open_store

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/datasets, or skip the test cleanly when it is absent."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"dataset folder {path} is not present")
    return path


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    server = os.environ.get("UNDERTOW_TEST_PG")
    if not server:
        if os.environ.get("CI"):
            pytest.fail("UNDERTOW_TEST_PG is not set: run the suite through scripts/test.sh")
        pytest.skip("UNDERTOW_TEST_PG is not set (scripts/test.sh starts PostgreSQL and sets it)")
    name = "ut_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(
        server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    for attempt in range(5):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            break
        except sa.exc.OperationalError:
            # Concurrent CREATE DATABASE from two test workers can briefly collide on the
            # template database; anything else fails on the last attempt.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(db_url, tmp_path / "data", environ={}).with_overrides(
        pseudonym_key=bytes(range(32))
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings.db_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return load_settings(
        f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "data", environ={}
    ).with_overrides(pseudonym_key=bytes(range(32)))


class AnalysedWorld(NamedTuple):
    folder: Path  # world/ (exports, truth), u.db (the store), data/ (evidence, keys)
    report: Any  # the RunReport of `run_stages`


@pytest.fixture(scope="session")
def analysed_world(tmp_path_factory: pytest.TempPathFactory) -> AnalysedWorld:
    """A small simulated world (seed 8, scale 1), ingested and run through every stage, once
    per test process; tests that change it work on a copy of `u.db`."""
    from undertow.ingest import ingest_paths
    from undertow.settings import sqlite_url
    from undertow.simulate import simulate_world
    from undertow.stages.run import run_stages

    folder = tmp_path_factory.mktemp("analysed-world")
    simulate_world(folder / "world", seed=8, scale=1)
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "world" / "exports"])
    report = run_stages(store, settings, workers=1)
    store.close()
    return AnalysedWorld(folder, report)
