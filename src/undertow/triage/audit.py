"""The audit log: who did what, when, in an append-only hash chain (DESIGN.md §4, `AuditEntry`).

Every entry commits to the previous one: its `hash` is the SHA-256 of its own fields and the
previous entry's hash (`canonical` below says exactly which bytes).  Editing an entry breaks
its hash, deleting one breaks the numbering or the next entry's link, and deleting the newest
entries leaves `audit_head` (written with every entry) pointing past the end.  `verify` walks
the chain and names the first entry that does not check out.

What the chain cannot stop is someone with write access rewriting every entry from some
point on, head included: anchor the head elsewhere now and then (`undertow audit head`
prints it; a ticket, an e-mail or a partner's log will do) and `verify --head` checks the log
still contains that entry unchanged.

Entries are numbered by the writer (last + 1) inside the caller's transaction.  Writers
queue on a row lock on `audit_head` (PostgreSQL; SQLite has one writer at a time anyway), so
under contention they take turns instead of racing; should two still pick the same number
(the very first entry, before the head row exists), the primary key refuses the second and
`append` retries on the new last entry, so concurrent writers always make one chain.
"""

from __future__ import annotations

import getpass
import hashlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from undertow.store import schema

GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""
_RETRIES = 20
_HEAD_ROW = 1


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: int
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    ok: bool
    first_bad: int | None = None
    problem: str | None = None
    head: str | None = None


def canonical(
    seq: int,
    at: int,
    actor: str,
    action: str,
    target: str | None,
    details: Mapping[str, Any],
    prev_hash: str,
) -> bytes:
    """The bytes an entry's hash is taken of: a JSON array of its fields, keys sorted."""
    return orjson.dumps(
        [seq, at, actor, action, target, details, prev_hash], option=orjson.OPT_SORT_KEYS
    )


def entry_hash(
    seq: int,
    at: int,
    actor: str,
    action: str,
    target: str | None,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    return hashlib.sha256(canonical(seq, at, actor, action, target, details, prev_hash)).hexdigest()


def cli_actor() -> str:
    """Who runs a command-line action: `cli:<login name>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (some containers)
        return "cli:unknown"


def append(
    conn: sa.Connection,
    actor: str,
    action: str,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
    *,
    at: int | None = None,
) -> AuditEntry:
    """Add one entry at the end of the chain, in the caller's transaction."""
    # Round-trip through JSON so that what is hashed is exactly what the database gives back.
    stored: dict[str, Any] = orjson.loads(orjson.dumps(dict(details or {})))
    when = int(time.time()) if at is None else at
    for _ in range(_RETRIES):
        conn.execute(  # wait for the other writers' transactions (no-op on SQLite)
            sa.select(schema.audit_head.c.seq)
            .where(schema.audit_head.c.id == _HEAD_ROW)
            .with_for_update()
        )
        last = conn.execute(
            sa.select(schema.audit_log.c.seq, schema.audit_log.c.hash)
            .order_by(schema.audit_log.c.seq.desc())
            .limit(1)
        ).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        digest = entry_hash(seq, when, actor, action, target, stored, prev)
        entry = AuditEntry(seq, when, actor, action, target, stored, prev, digest)
        try:
            with conn.begin_nested():
                conn.execute(schema.audit_log.insert().values(**_row(entry)))
        except sa.exc.IntegrityError:
            continue  # another writer took this number: chain onto its entry instead
        _move_head(conn, seq, digest)
        return entry
    raise RuntimeError(f"could not append to the audit log after {_RETRIES} tries")


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in AuditEntry.__slots__}


def _move_head(conn: sa.Connection, seq: int, digest: str) -> None:
    head = schema.audit_head
    moved = conn.execute(
        head.update().where(head.c.id == _HEAD_ROW).values(seq=seq, hash=digest)
    ).rowcount
    if not moved:
        conn.execute(head.insert().values(id=_HEAD_ROW, seq=seq, hash=digest))


def entries(
    conn: sa.Connection, *, since: int = 0, limit: int | None = None
) -> Iterator[AuditEntry]:
    """Entries after number `since`, oldest first."""
    log = schema.audit_log
    query = sa.select(log).where(log.c.seq > since).order_by(log.c.seq)
    if limit is not None:
        query = query.limit(limit)
    for row in conn.execute(query):
        yield AuditEntry(
            row.seq, row.at, row.actor, row.action, row.target, dict(row.details or {}),
            row.prev_hash, row.hash,
        )  # fmt: skip


def head(conn: sa.Connection) -> tuple[int, str] | None:
    """(number, hash) of the newest entry, as the head row records it."""
    row = conn.execute(
        sa.select(schema.audit_head.c.seq, schema.audit_head.c.hash).where(
            schema.audit_head.c.id == _HEAD_ROW
        )
    ).first()
    return (int(row.seq), str(row.hash)) if row else None


def verify(conn: sa.Connection, anchor: tuple[int, str] | None = None) -> Verification:
    """Check the whole chain (and, if given, that entry `anchor[0]` still has hash
    `anchor[1]`); the first entry that fails is reported."""
    previous, expected_seq, count = GENESIS, 1, 0
    anchored = anchor is None
    for entry in entries(conn):
        count += 1
        if entry.seq != expected_seq:
            return _broken(count, expected_seq, f"entry {expected_seq} is missing "
                           f"(the next one is {entry.seq})")  # fmt: skip
        if entry.prev_hash != previous:
            return _broken(count, entry.seq, "it does not link to the entry before it")
        recomputed = entry_hash(entry.seq, entry.at, entry.actor, entry.action, entry.target,
                                entry.details, entry.prev_hash)  # fmt: skip
        if recomputed != entry.hash:
            return _broken(count, entry.seq, "its content does not match its hash (edited)")
        if anchor is not None and entry.seq == anchor[0]:
            if entry.hash != anchor[1]:
                return _broken(count, entry.seq, "its hash differs from the anchored head")
            anchored = True
        previous, expected_seq = entry.hash, entry.seq + 1
    recorded = head(conn)
    last = expected_seq - 1
    if recorded is None:
        return _broken(count, last + 1, "the head record is missing")
    if recorded != (last, previous):
        return _broken(
            count, min(recorded[0], last + 1),
            f"the head records entry {recorded[0]}, the log ends at entry {last} "
            "(entries deleted or rewritten)",
        )  # fmt: skip
    if not anchored:
        assert anchor is not None
        return _broken(count, anchor[0], f"the anchored entry {anchor[0]} is missing")
    return Verification(count, True, head=previous if last else None)


def _broken(count: int, seq: int, problem: str) -> Verification:
    return Verification(count, False, first_bad=seq, problem=problem)
