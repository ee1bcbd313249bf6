"""`undertow report transparency`: the period's public counts as a static HTML page or JSON.

A transparency report leaves the organisation, so making one is an export like any other:
it is written to the audit log with its period, format and destination.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from undertow.cli.common import OutOption, err, open_store_or_exit, state
from undertow.exchange.transparency import render_html, render_json, transparency_report
from undertow.triage import audit

REPORT_FORMATS = ("html", "json")

report_app = typer.Typer(
    help="Reports for the public: counts of what was reviewed, actioned, referred and removed.",
    no_args_is_help=True,
)


def _parse_day(value: str, option: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        err.print(f"[red]error:[/red] {option} must be a date as YYYY-MM-DD, not {value!r}")
        raise typer.Exit(2) from exc


@report_app.command("transparency")
def report_transparency(
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    date_to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), included.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="html (one static page) or json.")
    ] = "html",
    out: OutOption = None,
) -> None:
    """Items and channels reviewed, actioned, referred and removed in a period, by category,
    platform and day."""
    first, last = _parse_day(date_from, "--from"), _parse_day(date_to, "--to")
    if first > last:
        err.print(f"[red]error:[/red] --from ({first}) is after --to ({last})")
        raise typer.Exit(2)
    if fmt not in REPORT_FORMATS:
        err.print(f"[red]error:[/red] unknown format {fmt!r}; choose one of html, json")
        raise typer.Exit(2)
    store = open_store_or_exit(state.settings())
    try:
        report = transparency_report(store, first, last)
        text = render_html(report) if fmt == "html" else render_json(report)
        _write(text, out)
        with store.engine.begin() as conn:
            audit.append(
                conn, audit.cli_actor(), "export", "transparency",
                {"period": report["period"], "format": fmt, "to": str(out or "-"),
                 "totals": report["totals"]},
            )  # fmt: skip
    finally:
        store.close()
    if out is not None and not state.quiet:
        err.print(f"wrote the transparency report for {first} to {last} to {out}")


def _write(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
