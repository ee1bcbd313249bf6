"""Users, roles and API tokens on real SQLite and PostgreSQL, and `undertow user` end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from undertow.cli import app
from undertow.settings import sqlite_url
from undertow.store import Store, open_store, schema
from undertow.triage import audit
from undertow.web import users

PASSWORD = "correct horse battery"


def test_add_authenticate_and_roles(store: Store) -> None:
    alice = users.add_user(store, "Alice", PASSWORD, "reviewer", actor="cli:admin")
    assert alice.username == "alice" and alice.may("decide") and not alice.may("admin")
    assert users.authenticate(store, "alice", PASSWORD) == alice
    assert users.authenticate(store, "alice", PASSWORD + "x") is None
    assert users.authenticate(store, "nobody", PASSWORD) is None
    viewer = users.add_user(store, "vic", PASSWORD, "viewer", actor="cli:admin")
    assert viewer.may("read") and not viewer.may("decide")
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(schema.users.c.password_hash)).scalars().all()
        actions = [e.action for e in audit.entries(conn)]
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)
    assert actions == ["user.add", "user.add"]


def test_bad_input_is_refused(store: Store) -> None:
    with pytest.raises(users.UserError, match="12 characters"):
        users.add_user(store, "bob", "short", "reviewer", actor="x")
    with pytest.raises(users.UserError, match="role"):
        users.add_user(store, "bob", PASSWORD, "boss", actor="x")
    with pytest.raises(users.UserError, match="user name"):
        users.add_user(store, "<script>", PASSWORD, "viewer", actor="x")
    users.add_user(store, "bob", PASSWORD, "viewer", actor="x")
    with pytest.raises(users.UserError, match="exists"):
        users.add_user(store, "BOB", PASSWORD, "viewer", actor="x")


def test_disabled_users_and_tokens(store: Store) -> None:
    users.add_user(store, "carol", PASSWORD, "admin", actor="x")
    token = users.create_token(store, "carol", "nightly export", actor="x")
    assert users.user_for_token(store, token).username == "carol"  # type: ignore[union-attr]
    assert users.user_for_token(store, token + "x") is None
    with store.engine.connect() as conn:
        digests = conn.execute(sa.select(schema.api_tokens.c.token_hash)).scalars().all()
    assert token not in digests
    users.set_disabled(store, "carol", True, actor="x")
    assert users.authenticate(store, "carol", PASSWORD) is None
    assert users.user_for_token(store, token) is None
    users.set_disabled(store, "carol", False, actor="x")
    assert users.revoke_tokens(store, "carol", actor="x") == 1
    assert users.user_for_token(store, token) is None
    with pytest.raises(users.UserError):
        users.create_token(store, "nobody", "x", actor="x")


def test_user_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--db", sqlite_url(tmp_path / "u.db"), "--data-dir", str(tmp_path / "d")]

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(app, [*base, *args], input=stdin)

    added = run("user", "add", "dora", "--role", "reviewer", "--password-stdin",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert run("user", "add", "eve", "--password-stdin", stdin="short\n").exit_code == 2
    listed = run("user", "list")
    assert '"username":"dora"' in listed.stdout and "argon2" not in listed.stdout
    token = run("user", "token", "dora").stdout.strip()
    assert token.startswith("utk_")
    assert run("user", "disable", "dora").exit_code == 0
    assert run("user", "disable", "nobody").exit_code == 2
    store = open_store(sqlite_url(tmp_path / "u.db"))
    assert users.user_for_token(store, token) is None
    with store.engine.connect() as conn:
        assert audit.verify(conn).ok
    store.close()
