"""`undertow audit` on a real store: ingest and exports are logged, verify exits 1 on tamper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from undertow.cli import app
from undertow.settings import sqlite_url
from undertow.store import open_store, schema

from export_builder import chat, message, write_export

runner = CliRunner()


def _cli(db: Path, data: Path, *args: str) -> Any:
    return runner.invoke(
        app,
        ["--db", sqlite_url(db), "--data-dir", str(data), *args],
        env={"UNDERTOW_PSEUDONYM_KEY": "11" * 32},
    )


def test_ingest_and_export_are_logged_and_tampering_is_caught(tmp_path: Path) -> None:
    db, data = tmp_path / "u.db", tmp_path / "data"
    write_export(tmp_path / "exports" / "chan", chat([message(1, "hello")], chat_id=7))
    assert _cli(db, data, "ingest", str(tmp_path / "exports")).exit_code == 0
    assert _cli(db, data, "export", "channels", "--out", str(tmp_path / "c.jsonl")).exit_code == 0
    listed = _cli(db, data, "audit", "list")
    assert '"action":"ingest"' in listed.stdout and '"action":"export"' in listed.stdout
    verified = _cli(db, data, "audit", "verify")
    assert verified.exit_code == 0 and "intact: 2 entries" in verified.stdout
    head = _cli(db, data, "audit", "head").stdout.strip()
    assert _cli(db, data, "audit", "verify", "--head", head).exit_code == 0
    assert _cli(db, data, "audit", "verify", "--head", "nonsense").exit_code == 2

    store = open_store(sqlite_url(db))
    with store.engine.begin() as conn:
        conn.execute(sa.update(schema.audit_log).where(schema.audit_log.c.seq == 1)
                     .values(target="elsewhere"))  # fmt: skip
    store.close()
    broken = _cli(db, data, "audit", "verify")
    assert broken.exit_code == 1 and "BROKEN at entry 1" in broken.stdout
