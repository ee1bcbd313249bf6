"""What `undertow demo` prints: the store's contents and the hash-bank showcase."""

from __future__ import annotations

from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from undertow.exchange.banks import add_files, create_bank
from undertow.exchange.records_export import iter_signals
from undertow.settings import Settings
from undertow.stages.run import run_stages
from undertow.store import Store
from undertow.summary import StoreSummary


def show_hash_bank(store: Store, settings: Settings, truth_path: Path) -> None:
    """Bank the official outlet's own pictures, then find every re-post of them."""
    truth = orjson.loads(truth_path.read_bytes())
    outlet = next(c for c in truth["channels"] if c["role"] == "outlet")
    photos = sorted((truth_path.parent / "exports" / outlet["slug"] / "photos").glob("*"))
    create_bank(
        store, "demo-outlet-originals", source="simulated outlet", category="terrorist_content"
    )
    add_files(store, "demo-outlet-originals", photos)
    report = run_stages(store, settings)
    signals = list(iter_signals(store))
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
