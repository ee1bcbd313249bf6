"""What `undertow demo` prints: the store's contents and the hash-bank showcase."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from undertow.exchange.banks import add_files, create_bank
from undertow.exchange.records_export import iter_signals
from undertow.settings import Settings
from undertow.stages.run import RunReport, run_stages
from undertow.stages.text_signals import TextReport
from undertow.store import Store, schema
from undertow.summary import StoreSummary
from undertow.triage.cases import CaseReport


def show_hash_bank(store: Store, settings: Settings, truth_path: Path) -> RunReport:
    """Bank the official outlet's own pictures, run every stage, and show every re-post of
    those pictures that was found."""
    truth = orjson.loads(truth_path.read_bytes())
    outlet = next(c for c in truth["channels"] if c["role"] == "outlet")
    photos = sorted((truth_path.parent / "exports" / outlet["slug"] / "photos").glob("*"))
    create_bank(
        store, "demo-outlet-originals", source="simulated outlet", category="terrorist_content"
    )
    add_files(store, "demo-outlet-originals", photos)
    report = run_stages(store, settings)
    signals = [s for s in iter_signals(store) if s["detector"] == "hashmatch"]
    channels = {s["target"]["channel_id"] for s in signals} - {outlet["channel_id"]}
    perceptual = sum(1 for s in signals if s["explanation"]["method"].startswith("pdq"))
    console = Console()
    console.print(
        f"[bold]hash bank:[/bold] {len(photos)} pictures of the outlet banked; "
        f"{report.hashing.hashed} stored media hashed; {len(signals)} posts carry them, in "
        f"{len(channels)} channels besides the outlet ({perceptual} found only by PDQ: "
        "re-encoded or resized copies); "
        f"{report.media_pairs} near-identical image pairs across channels",
        soft_wrap=True,
    )
    return report


def show_text_signals(store: Store, report: TextReport) -> None:
    """Which channels the combined propaganda score ranks highest, and where links point."""
    c, f, ml = schema.channels, schema.text_features, schema.message_links
    with store.engine.connect() as conn:
        ranked = conn.execute(
            sa.select(c.c.title, sa.func.avg(f.c.propaganda).label("score"), sa.func.count())
            .join(c, c.c.channel_id == f.c.channel_id)
            .group_by(c.c.channel_id, c.c.title)
            .order_by(sa.desc("score"))
        ).all()
        platforms = conn.execute(
            sa.select(ml.c.platform, sa.func.count())
            .where(ml.c.platform != "web")
            .group_by(ml.c.platform)
            .order_by(sa.desc(sa.func.count()))
        ).all()
    console = Console()
    found = ", ".join(f"{n} {name}" for name, n in sorted(report.signals.items()))
    console.print(
        f"[bold]text:[/bold] {report.messages} messages analysed, {report.links} links "
        f"classified; signals: {found}",
        soft_wrap=True,
    )
    table = Table(title="Channels by mean propaganda score (top 8, bottom 4)")
    table.add_column("channel")
    table.add_column("mean score", justify="right")
    table.add_column("messages", justify="right")
    for title, score, count in [*ranked[:8], *ranked[-4:]]:
        table.add_row(title or "?", f"{score:.2f}", str(count))
    console.print(table)
    if platforms:
        console.print(
            "[bold]links off the open web:[/bold] "
            + ", ".join(f"{name} ({n})" for name, n in platforms),
            soft_wrap=True,
        )


def print_summary(summary: StoreSummary) -> None:
    console = Console()
    table = Table(title="What is in the store", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for kind, n in sorted(summary.channels_by_kind.items()):
        table.add_row(f"{kind}s", str(n))
    table.add_row("messages", str(summary.messages))
    table.add_row("  of which service events", str(summary.service_messages))
    table.add_row("  of which forwards", str(summary.forwards))
    table.add_row("  title changes (possible rebrands)", str(summary.title_changes))
    table.add_row(
        "media files stored (distinct)", f"{summary.media_stored} ({summary.distinct_media})"
    )
    table.add_row("media files missing", str(summary.media_missing))
    table.add_row("links", str(summary.links))
    console.print(table)
    for title, rows in (
        ("most forwarded sources", summary.top_forward_sources),
        ("top hashtags", summary.top_hashtags),
        ("top link hosts", summary.top_link_hosts),
    ):
        if rows:
            console.print(
                f"[bold]{title}:[/bold] " + ", ".join(f"{name} ({n})" for name, n in rows),
                soft_wrap=True,
            )


def show_network(store: Store) -> None:
    """Mirror networks, rebrands and lineages found in the world."""
    c = schema.channels
    console = Console()
    with store.engine.connect() as conn:
        titles = dict(conn.execute(sa.select(c.c.channel_id, c.c.title)).all())
        networks = conn.execute(sa.select(schema.networks)).all()
        rebrands = conn.execute(sa.select(schema.rebrands)).all()
        lineages = conn.execute(sa.select(schema.lineages)).all()
    for network in sorted(networks, key=lambda n: -len(n.channels)):
        score = "?" if network.propaganda is None else f"{network.propaganda:.2f}"
        console.print(
            f"[bold]network[/bold] around {titles.get(network.root_id, network.root_id)!r}: "
            f"{len(network.channels) - 1} channels carry its feed (root's mean score {score})",
            soft_wrap=True,
        )
    for rebrand in rebrands:
        console.print(f"[bold]rebrand:[/bold] {rebrand.evidence.get('summary')}", soft_wrap=True)
    for lineage in lineages:
        names = " -> ".join(repr(titles.get(channel, channel)) for channel in lineage.channels)
        console.print(f"[bold]lineage:[/bold] {names}", soft_wrap=True)


def show_cases(store: Store, report: CaseReport) -> None:
    """The review queue: how much grouping copies saves, and the top cases."""
    console = Console()
    console.print(
        f"[bold]review queue[/bold]: {report.signalled_items} signalled messages grouped into "
        f"{report.item_cases} item cases ({report.decisions_saved} reviewer decisions saved: "
        "one decision covers every copy), plus "
        f"{report.channel_cases} channel cases"
    )
    c = schema.cases
    with store.engine.connect() as conn:
        top = conn.execute(sa.select(c).order_by(c.c.priority.desc(), c.c.case_id).limit(3)).all()
    for case in top:
        console.print(
            f"  priority {case.priority:5.1f}  {case.case_id}  ({case.copies} copies in "
            f"{case.channels} channels): {'; '.join(case.reasons[:2])}"
        )
