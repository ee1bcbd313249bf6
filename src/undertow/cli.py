"""The `undertow` command line: global options first, then a command.

    undertow [--db URL] [--data-dir DIR] COMMAND ...

Command names, options and output fields are a public interface that users script against.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from undertow import __version__
from undertow.enrich.media_hash import hash_file
from undertow.exchange.banks import (
    BankError,
    add_entries,
    add_files,
    create_bank,
    iter_entries,
    list_banks,
    read_entries,
    set_enabled,
    write_entries,
)
from undertow.exchange.records_export import (
    CHANNEL_FIELDS,
    FORMATS,
    MESSAGE_FIELDS,
    SIGNAL_FIELDS,
    iter_channels,
    iter_messages,
    iter_signals,
    write_rows,
)
from undertow.ingest import FileReport, IngestError, ingest_paths
from undertow.plugins import PluginError
from undertow.settings import Settings, load_settings, sqlite_url
from undertow.simulate import SimulationSummary, estimate_messages, simulate_world
from undertow.stages.run import run_stages
from undertow.store import Store, open_store
from undertow.store.database import StoreError
from undertow.summary import StoreSummary, summarise

app = typer.Typer(
    help="Undertow: find, review and disrupt terrorist propaganda networks on Telegram and beyond.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
export_app = typer.Typer(help="Export records as JSON Lines or CSV.", no_args_is_help=True)
app.add_typer(export_app, name="export")
bank_app = typer.Typer(
    help="Hash banks: lists of known media hashes to match against.", no_args_is_help=True
)
app.add_typer(bank_app, name="bank")
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


class State:
    """Global options, resolved once per invocation."""

    db: str | None = None
    data_dir: Path | None = None
    quiet: bool = False

    def settings(self) -> Settings:
        return load_settings(self.db, self.data_dir)


state = State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"undertow {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Store URL (sqlite:///file.db or postgresql://...). Env: UNDERTOW_DB."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Evidence store and key folder. Env: UNDERTOW_DATA_DIR."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    state.db, state.data_dir, state.quiet = db, data_dir, quiet


def _open(settings: Settings) -> Store:
    try:
        return open_store(settings.db_url)
    except StoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=state.quiet or not err.is_terminal,
        transient=True,
    )


def run_ingest(store: Store, settings: Settings, paths: list[Path]) -> list[FileReport]:
    with _progress() as progress:
        task = progress.add_task("importing", total=None)

        def on_file(path: Path, size: int) -> None:
            progress.update(task, description=f"importing {path.name}", total=size, completed=0)

        return ingest_paths(
            store, settings, paths, on_file=on_file, on_bytes=lambda n: progress.advance(task, n)
        )


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Export files or folders (searched recursively for result.json)."),
    ],
    include_private: Annotated[
        bool,
        typer.Option(
            "--include-private", help="Also import one-to-one chats, bots and saved messages."
        ),
    ] = False,
) -> None:
    """Import Telegram Desktop JSON exports into the store (each file is one transaction)."""
    settings = state.settings()
    if include_private:
        settings = settings.with_overrides(include_private=True)
    store = _open(settings)
    try:
        reports = run_ingest(store, settings, paths)
    except (IngestError, PluginError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    failed = _print_reports(reports)
    if not reports:
        err.print(
            "[yellow]no Telegram export files found[/yellow] "
            "(looked for result.json and export-like .json files)"
        )
        raise typer.Exit(1)
    if failed:
        raise typer.Exit(1)


def _print_reports(reports: list[FileReport]) -> int:
    failed = 0
    for report in reports:
        for notice in report.notices:
            err.print(f"[yellow]note:[/yellow] {notice}")
        if report.error:
            failed += 1
            err.print(
                f"[red]error:[/red] {report.error}\n       nothing from this file was stored."
            )
        elif not state.quiet:
            err.print(
                f"imported {report.path}: {report.chats} chat(s), {report.messages} message(s), "
                f"{report.media_stored} media file(s) stored, {report.media_missing} missing "
                f"({report.seconds:.1f}s)"
            )
    return failed


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the synthetic world into.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same world.")] = 1,
    scale: Annotated[
        int,
        typer.Option(help="Size multiplier: 1 is a demo world, 100 about half a million messages."),
    ] = 1,
) -> None:
    """Write a synthetic propaganda ecosystem as Telegram exports plus its ground truth."""
    summary = _simulate(out_dir, seed, scale)
    err.print(
        f"wrote {summary.channels} chats, {summary.messages} messages, {summary.photos} photos to "
        f"{summary.out_dir}/exports; ground truth in {summary.truth_path}"
    )


def _simulate(out_dir: Path, seed: int, scale: int) -> SimulationSummary:

    try:
        with Progress(
            TextColumn("[bold]simulating"), BarColumn(), TextColumn("{task.completed} messages"),
            console=err, disable=state.quiet or not err.is_terminal, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("simulate", total=estimate_messages(scale))
            return simulate_world(
                out_dir, seed=seed, scale=scale, progress=lambda n: progress.advance(task, n)
            )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the demo's world and store (default: a new temporary folder)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 1,
) -> None:
    """Simulate a small world, import it, and show what Undertow sees in it."""
    folder = workdir or Path(tempfile.mkdtemp(prefix="undertow-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    db_url = state.db or sqlite_url(folder / "undertow.db")
    settings = load_settings(db_url, state.data_dir or folder / "undertow-data")
    world = folder / "world"
    err.print(f"[bold]1/2[/bold] simulating a small ecosystem into {world}")
    summary = _simulate(world, seed, 1)
    err.print(f"[bold]2/2[/bold] importing {summary.channels} exports into {db_url}")
    store = _open(settings)
    try:
        reports = run_ingest(store, settings, [world / "exports"])
        failed = sum(1 for r in reports if r.error)
        if failed:
            _print_reports(reports)
            raise typer.Exit(1)
        _print_summary(summarise(store))
        _demo_hash_bank(store, settings, summary.truth_path)
    finally:
        store.close()
    typer.echo("\nExplore it further:")
    typer.echo(f"  undertow --db {db_url} export channels --format csv")
    typer.echo(f"  undertow --db {db_url} export messages --format jsonl --out messages.jsonl")
    typer.echo(f"  undertow --db {db_url} export signals --format jsonl")
    typer.echo(f"  ground truth of the simulated world: {summary.truth_path}")


def _demo_hash_bank(store: Store, settings: Settings, truth_path: Path) -> None:
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


def _print_summary(summary: StoreSummary) -> None:
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


@app.command("hash")
def hash_files(
    files: Annotated[list[Path], typer.Argument(help="Media files to hash.")],
) -> None:
    """Print one JSON object per file: sha256, md5, pdq (64 hex digits), pdq_quality, kind."""
    failed = 0
    for path in files:
        try:
            hashes = hash_file(path)
        except OSError as exc:
            err.print(f"[red]error:[/red] {path}: {exc.strerror or exc}")
            failed += 1
            continue
        typer.echo(orjson.dumps({"file": str(path), **hashes.as_json()}).decode())
    if failed:
        raise typer.Exit(1)


def _export(kind: str, fmt: str, out: Path | None) -> None:
    if fmt not in FORMATS:
        err.print(f"[red]error:[/red] unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    store = _open(state.settings())
    try:
        reader, fields = {
            "channels": (iter_channels, CHANNEL_FIELDS),
            "messages": (iter_messages, MESSAGE_FIELDS),
            "signals": (iter_signals, SIGNAL_FIELDS),
        }[kind]
        rows = reader(store)
        if out is None:
            count = write_rows(rows, fields, fmt, sys.stdout)
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = write_rows(rows, fields, fmt, handle)
    finally:
        store.close()
    if out is not None and not state.quiet:
        err.print(f"wrote {count} {kind} to {out}")


FormatOption = Annotated[str, typer.Option("--format", "-f", help="jsonl or csv.")]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write to this file instead of standard output.")
]


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


@app.command()
def run(
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Media hashing processes (default: one per core)."),
    ] = None,
    dihedral: Annotated[
        bool, typer.Option("--dihedral", help="Also match rotated and flipped images.")
    ] = False,
) -> None:
    """Run every stage after ingest (hashing, hash-bank matching, ...), doing only what is new."""
    settings = state.settings()
    if dihedral:
        settings = settings.with_overrides(pdq_dihedral=True)
    store = _open(settings)
    try:
        report = run_stages(
            store, settings, workers=workers, on_stage=lambda name: _note(f"{name} ...")
        )
    finally:
        store.close()
    h, m = report.hashing, report.matching
    typer.echo(
        f"hashed {h.hashed} media file(s) ({h.with_pdq} with PDQ, {h.errors} decoding error(s), "
        f"{h.missing_blobs} missing blob(s)); checked {m.media_checked} media occurrence(s) and "
        f"{m.new_entries} new bank entr(ies); {m.signals} hash-bank signal(s); "
        f"{report.media_pairs} new near-identical media pair(s)"
    )


def _note(text: str) -> None:
    if not state.quiet:
        err.print(text)


@bank_app.command("create")
def bank_create(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    source: Annotated[str | None, typer.Option(help="Where the hashes come from.")] = None,
    category: Annotated[
        str | None, typer.Option(help="Default category of its entries (taxonomy label).")
    ] = None,
    licence: Annotated[str | None, typer.Option(help="Terms the hashes are shared under.")] = None,
) -> None:
    """Create an empty bank."""
    _bank(lambda store: create_bank(store, name, source=source, category=category, licence=licence))
    _note(f"created bank {name}")


@bank_app.command("add")
def bank_add(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    files: Annotated[list[Path], typer.Argument(help="Media files to hash into the bank.")],
    category: Annotated[str | None, typer.Option(help="Category of these entries.")] = None,
) -> None:
    """Hash media files and add their MD5, SHA-256 and PDQ hashes to a bank."""
    new, old = _bank(lambda store: add_files(store, name, files, category=category))
    _note(f"{name}: {new} new entr(ies), {old} already present")


@bank_app.command("import")
def bank_import(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    file: Annotated[Path, typer.Argument(help="File of hashes.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="tx (python-threatexchange), plain or csv.")
    ] = "tx",
    hash_type: Annotated[
        str | None,
        typer.Option("--type", help="Hash type for the plain format: md5, sha256 or pdq."),
    ] = None,
) -> None:
    """Import hashes from a file (one transaction: a bad line stores nothing)."""
    new, old = _bank(
        lambda store: add_entries(store, name, read_entries(file, fmt, hash_type=hash_type))
    )
    _note(f"{name}: {new} new entr(ies), {old} already present")


@bank_app.command("export")
def bank_export(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="tx (python-threatexchange), plain or csv.")
    ] = "tx",
    out: OutOption = None,
) -> None:
    """Write a bank's hashes (hashes only, never content) for sharing with partners."""

    def export(store: Store) -> int:
        entries = list(iter_entries(store, name))
        if out is None:
            return write_entries(entries, fmt, sys.stdout)
        with out.open("w", encoding="utf-8", newline="") as handle:
            return write_entries(entries, fmt, handle)

    count = _bank(export)
    if out is not None:
        _note(f"wrote {count} entr(ies) to {out}")


@bank_app.command("disable")
def bank_disable(name: Annotated[str, typer.Argument(help="Bank name.")]) -> None:
    """Stop matching against a bank (its entries and earlier signals are kept)."""
    _bank(lambda store: set_enabled(store, name, False))
    _note(f"disabled bank {name}")


@bank_app.command("enable")
def bank_enable(name: Annotated[str, typer.Argument(help="Bank name.")]) -> None:
    """Match against a bank again; the next run checks all media against it."""
    _bank(lambda store: set_enabled(store, name, True))
    _note(f"enabled bank {name}")


@bank_app.command("list")
def bank_list() -> None:
    """The banks with their source, category, licence and size."""
    for bank in _bank(list_banks):
        typer.echo(orjson.dumps(bank).decode())


def _bank(action: Callable[[Store], T]) -> T:
    store = _open(state.settings())
    try:
        return action(store)
    except BankError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()


if __name__ == "__main__":  # pragma: no cover
    app()
