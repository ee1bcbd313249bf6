"""The audit log's hash chain on real SQLite and PostgreSQL: appends, verification, and every
kind of tampering (edit, delete in the middle, delete the newest, reorder, rewrite)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import sqlalchemy as sa

from undertow.store import Store, open_store, schema
from undertow.triage import audit


def _fill(store: Store, count: int = 5) -> list[audit.AuditEntry]:
    out = []
    with store.engine.begin() as conn:
        for n in range(count):
            details = {"n": n, "why": "test", "nested": {"b": 1, "a": [1, 2]}}
            out.append(audit.append(conn, f"user{n % 2}", "case.view", f"case:{n}", details))
    return out


def _verify(store: Store, anchor: Any = None) -> audit.Verification:
    with store.engine.connect() as conn:
        return audit.verify(conn, anchor)


def test_entries_chain_and_verify(store: Store) -> None:
    made = _fill(store)
    assert [e.seq for e in made] == [1, 2, 3, 4, 5]
    assert made[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(made))
    result = _verify(store)
    assert result.ok and result.entries == 5 and result.head == made[-1].hash
    with store.engine.connect() as conn:
        assert audit.head(conn) == (5, made[-1].hash)
        assert [e.details["n"] for e in audit.entries(conn, since=2)] == [2, 3, 4]


def test_an_empty_log_verifies(store: Store) -> None:
    result = _verify(store)
    assert result.ok and result.entries == 0 and result.head is None


def test_an_edited_entry_is_found(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(schema.audit_log.update().where(schema.audit_log.c.seq == 3)
                     .values(actor="someone-else"))  # fmt: skip
    result = _verify(store)
    assert not result.ok and result.first_bad == 3 and "edited" in (result.problem or "")


def test_edited_details_are_found(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(schema.audit_log.update().where(schema.audit_log.c.seq == 2)
                     .values(details={"n": 99}))  # fmt: skip
    assert _verify(store).first_bad == 2


def test_a_deleted_entry_in_the_middle_is_found(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(schema.audit_log.delete().where(schema.audit_log.c.seq == 2))
    result = _verify(store)
    assert not result.ok and result.first_bad == 2 and "missing" in (result.problem or "")


def test_deleting_the_newest_entries_is_found(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(schema.audit_log.delete().where(schema.audit_log.c.seq >= 4))
    result = _verify(store)
    assert not result.ok and result.first_bad == 4 and "head" in (result.problem or "")


def test_renumbering_after_a_deletion_is_found(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(schema.audit_log.delete().where(schema.audit_log.c.seq == 3))
        conn.execute(schema.audit_log.update().where(schema.audit_log.c.seq > 3)
                     .values(seq=schema.audit_log.c.seq - 1))  # fmt: skip
    result = _verify(store)
    assert not result.ok and result.first_bad == 3 and "link" in (result.problem or "")


def test_a_rewritten_tail_is_caught_by_an_anchor(store: Store) -> None:
    made = _fill(store)
    anchor = (3, made[2].hash)
    # Someone with write access rewrites entry 3 onwards, head included, consistently.
    with store.engine.begin() as conn:
        conn.execute(schema.audit_log.delete().where(schema.audit_log.c.seq >= 3))
        conn.execute(schema.audit_head.update().values(seq=2, hash=made[1].hash))
        audit.append(conn, "intruder", "case.view", "case:2", {"n": 2})
        audit.append(conn, "intruder", "case.view", "case:3", {"n": 3})
    assert _verify(store).ok  # the chain alone cannot tell
    result = _verify(store, anchor)
    assert not result.ok and result.first_bad == 3 and "anchored" in (result.problem or "")
    assert _verify(store, (2, made[1].hash)).ok


def test_an_anchor_past_the_end_is_reported(store: Store) -> None:
    made = _fill(store, 2)
    result = _verify(store, (7, made[-1].hash))
    assert not result.ok and result.first_bad == 7


def test_concurrent_writers_make_one_chain(settings: Any) -> None:
    store = open_store(settings.db_url)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for n in range(15):
                with store.engine.begin() as conn:
                    audit.append(conn, name, "decision", f"case:{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if store.engine.dialect.name == "sqlite" and errors:
        # SQLite serialises writers with a database lock: under load a writer may give up
        # waiting for it (an error it would see and retry), but the chain never forks.
        assert all(isinstance(e, sa.exc.SQLAlchemyError) for e in errors), errors
    else:
        assert not errors
    result = _verify(store)
    assert result.ok
    store.close()


def test_a_deleted_head_record_is_found(store: Store) -> None:
    _fill(store, 2)
    with store.engine.begin() as conn:
        conn.execute(schema.audit_head.delete())
    result = _verify(store)
    assert not result.ok and "head record is missing" in (result.problem or "")
