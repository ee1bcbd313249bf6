"""`undertow audit verify|head|list`: check and read the hash-chained audit log."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from undertow.cli.common import err, open_store_or_exit, state
from undertow.store import Store
from undertow.triage import audit

audit_app = typer.Typer(
    help="The audit log: every ingest, export, case view and decision, hash-chained.",
    no_args_is_help=True,
)
_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def record(store: Store, action: str, target: str | None, details: Mapping[str, Any]) -> None:
    """Append one entry for a command-line action (actor `cli:<login>`)."""
    with store.engine.begin() as conn:
        audit.append(conn, audit.cli_actor(), action, target, details)


@audit_app.command("verify")
def audit_verify(
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="An anchored head, SEQ:HASH as `undertow audit head` printed it earlier: "
            "the log must still hold that entry unchanged.",
        ),
    ] = None,
) -> None:
    """Check the whole chain; exit 1 naming the first broken entry if it does not hold."""
    anchor = None
    if head is not None:
        match = _ANCHOR.match(head.strip())
        if not match:
            err.print("[red]error:[/red] --head must be SEQ:HASH (a number, a colon, 64 hex)")
            raise typer.Exit(2)
        anchor = (int(match.group(1)), match.group(2))
    store = open_store_or_exit(state.settings())
    try:
        with store.engine.connect() as conn:
            result = audit.verify(conn, anchor)
    finally:
        store.close()
    if result.ok:
        typer.echo(f"audit log intact: {result.entries} entries, head {result.head or '-'}")
        return
    typer.echo(
        f"audit log BROKEN at entry {result.first_bad}: {result.problem} "
        f"({result.entries} entries read)"
    )
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head() -> None:
    """Print SEQ:HASH of the newest entry, to keep somewhere else as an anchor."""
    store = open_store_or_exit(state.settings())
    try:
        with store.engine.connect() as conn:
            current = audit.head(conn)
    finally:
        store.close()
    typer.echo(f"{current[0]}:{current[1]}" if current else "0:" + audit.GENESIS)


@audit_app.command("list")
def audit_list(
    since: Annotated[int, typer.Option(help="Only entries after this number.")] = 0,
    limit: Annotated[int | None, typer.Option(help="At most this many entries.")] = None,
) -> None:
    """Entries as JSON Lines, oldest first."""
    store = open_store_or_exit(state.settings())
    try:
        with store.engine.connect() as conn:
            for entry in audit.entries(conn, since=since, limit=limit):
                row = {
                    "seq": entry.seq,
                    "at": datetime.fromtimestamp(entry.at, UTC).isoformat().replace("+00:00", "Z"),
                    "actor": entry.actor,
                    "action": entry.action,
                    "target": entry.target,
                    "details": entry.details,
                    "hash": entry.hash,
                }
                typer.echo(orjson.dumps(row).decode())
    finally:
        store.close()
