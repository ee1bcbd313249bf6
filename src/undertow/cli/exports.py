"""`undertow export ...`: records and analysis results as JSON Lines or CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from undertow.cli.audit import record
from undertow.cli.common import FormatOption, OutOption, err, open_store_or_exit, state
from undertow.exchange.graph_export import GRAPH_FORMATS, write_graph
from undertow.exchange.network_export import (
    LINEAGE_FIELDS,
    MIGRATION_COUNT_FIELDS,
    MIGRATION_FIELDS,
    MIRROR_FIELDS,
    REBRAND_FIELDS,
    iter_lineages,
    iter_migration_counts,
    iter_migrations,
    iter_mirrors,
    iter_rebrands,
)
from undertow.exchange.records_export import (
    CHANNEL_FIELDS,
    FORMATS,
    LINK_FIELDS,
    MESSAGE_FIELDS,
    SIGNAL_FIELDS,
    iter_channels,
    iter_links,
    iter_messages,
    iter_signals,
    write_rows,
)

export_app = typer.Typer(help="Export records as JSON Lines or CSV.", no_args_is_help=True)


def _export(kind: str, fmt: str, out: Path | None) -> None:
    if fmt not in FORMATS:
        err.print(f"[red]error:[/red] unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    store = open_store_or_exit(state.settings())
    try:
        reader, fields = {
            "channels": (iter_channels, CHANNEL_FIELDS),
            "messages": (iter_messages, MESSAGE_FIELDS),
            "signals": (iter_signals, SIGNAL_FIELDS),
            "links": (iter_links, LINK_FIELDS),
            "mirrors": (iter_mirrors, MIRROR_FIELDS),
            "rebrands": (iter_rebrands, REBRAND_FIELDS),
            "migrations": (iter_migrations, MIGRATION_FIELDS),
            "lineages": (iter_lineages, LINEAGE_FIELDS),
            "migration-counts": (iter_migration_counts, MIGRATION_COUNT_FIELDS),
        }[kind]
        rows = reader(store)
        if out is None:
            count = write_rows(rows, fields, fmt, sys.stdout)
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = write_rows(rows, fields, fmt, handle)
        record(store, "export", kind, {"format": fmt, "rows": count, "to": str(out or "-")})
    finally:
        store.close()
    if out is not None and not state.quiet:
        err.print(f"wrote {count} {kind} to {out}")


@export_app.command("channels")
def export_channels(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Channels with their title history and message counts."""
    _export("channels", fmt, out)


@export_app.command("messages")
def export_messages(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Messages with forward origin, links, hashtags, media (with sha256) and service actions."""
    _export("messages", fmt, out)


@export_app.command("signals")
def export_signals(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Detector findings: target, detector, score (0-1), category and explanation."""
    _export("signals", fmt, out)


@export_app.command("links")
def export_links(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Every link, invite and handle in messages: normalised URL, platform and kind."""
    _export("links", fmt, out)


@export_app.command("mirrors")
def export_mirrors(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Mirror relations: which channel carries whose feed, share, lag, methods, period."""
    _export("mirrors", fmt, out)


@export_app.command("rebrands")
def export_rebrands(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Title changes with the content before and after (sleepers are marked)."""
    _export("rebrands", fmt, out)


@export_app.command("migrations")
def export_migrations(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Links to other platforms and backups: who points where, when, first seen, by how many."""
    _export("migrations", fmt, out)


@export_app.command("migration-counts")
def export_migration_counts(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Links off the open web by week and platform: posts, channels, new destinations."""
    _export("migration-counts", fmt, out)


@export_app.command("lineages")
def export_lineages(fmt: FormatOption = "jsonl", out: OutOption = None) -> None:
    """Re-created channels chained into lineages, with scored links and lifetimes."""
    _export("lineages", fmt, out)


@export_app.command("graph")
def export_graph(
    fmt: Annotated[str, typer.Option("--format", "-f", help="gexf or graphml.")] = "gexf",
    out: OutOption = None,
) -> None:
    """The channel graph (forward, copy, media, mention/link, lineage, migration edges;
    hubs, communities, accounts) for Gephi or networkx."""
    if fmt not in GRAPH_FORMATS:
        err.print(f"[red]error:[/red] unknown format {fmt!r}; choose one of gexf, graphml")
        raise typer.Exit(2)
    store = open_store_or_exit(state.settings())
    try:
        summary = write_graph(store, fmt, out if out is not None else sys.stdout.buffer)
        record(store, "export", "graph", {"format": fmt, "to": str(out or "-")})
    finally:
        store.close()
    if out is not None and not state.quiet:
        nodes = sum(summary["nodes"].values())
        edges = sum(summary["edges"].values())
        err.print(f"wrote a graph of {nodes} nodes and {edges} edges to {out}")
