"""`undertow cases build|list|show|decide`: the review queue from the command line."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from undertow.cli.common import err, open_store_or_exit, state
from undertow.triage import audit
from undertow.triage.cases import build_cases
from undertow.triage.decisions import VERDICTS, DecisionError, decide
from undertow.web import queries

cases_app = typer.Typer(
    help="Cases: signals grouped so that one decision covers every copy, by priority.",
    no_args_is_help=True,
)


@cases_app.command("build")
def cases_build() -> None:
    """Rebuild the cases from the stored signals (`undertow run` does this too)."""
    store = open_store_or_exit(state.settings())
    try:
        report = build_cases(store)
    finally:
        store.close()
    typer.echo(
        f"{report.item_cases} item case(s) covering {report.covered_items} message(s) "
        f"({report.signalled_items} signalled; grouping copies saves "
        f"{report.decisions_saved} decision(s)), {report.channel_cases} channel case(s), "
        f"{report.suppressed} suppressed"
    )


@cases_app.command("list")
def cases_list(
    status: Annotated[
        str,
        typer.Option(
            help="queue (open, escalated, translation), open, escalated, "
            "translation, decided, suppressed or all."
        ),
    ] = "queue",
    kind: Annotated[str | None, typer.Option(help="item, channel or account.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, highest priority first.")] = 50,
) -> None:
    """The queue as JSON Lines, highest priority first (what the review app's queue shows)."""
    where = queries.CaseFilter(status=status, kind=kind, category=category, limit=limit)
    store = open_store_or_exit(state.settings())
    try:
        with store.engine.connect() as conn:
            for case in queries.list_cases(conn, where):
                typer.echo(orjson.dumps(case).decode())
    finally:
        store.close()


@cases_app.command("show")
def cases_show(case_id: str) -> None:
    """One case with its copies, signals, decisions and channel, as JSON (the view is
    audited)."""
    store = open_store_or_exit(state.settings())
    try:
        with store.engine.begin() as conn:
            case = queries.case_detail(conn, case_id)
            if case is None:
                err.print(f"[red]error:[/red] no case {case_id!r}")
                raise typer.Exit(1)
            audit.append(conn, audit.cli_actor(), "case.view", case_id, {"via": "cli"})
        typer.echo(
            orjson.dumps(case, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
        )
    finally:
        store.close()


@cases_app.command("decide")
def cases_decide(
    case_id: str,
    verdict: Annotated[str, typer.Option(help=", ".join(VERDICTS))],
    category: Annotated[str | None, typer.Option(help="A taxonomy category id.")] = None,
    note: Annotated[str | None, typer.Option(help="Free text for the record.")] = None,
    reviewer: Annotated[str | None, typer.Option(help="Default: cli:<login name>.")] = None,
    cover_lineage: Annotated[
        bool, typer.Option("--cover-lineage", help="A channel case: decide its lineage too.")
    ] = False,
) -> None:
    """Decide a case: the decision covers every copy and is written to the audit log."""
    store = open_store_or_exit(state.settings())
    try:
        result = decide(store, case_id, verdict, reviewer or audit.cli_actor(),
                        category=category, note=note, cover_lineage=cover_lineage)  # fmt: skip
    except DecisionError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    typer.echo(
        f"decision {result.decision_id}: {result.verdict} on {result.case_id}, covering "
        f"{result.items} item(s); {result.bank_entries} hash(es) to the confirmed bank, "
        f"{result.training_examples} training example(s), {result.suppressed} suppressed"
        + (f"; also covers {', '.join(result.covered_cases)}" if result.covered_cases else "")
    )
