"""The `undertow` command line: global options first, then a command.

    undertow [--db URL] [--data-dir DIR] COMMAND ...

Command names, options and output fields are a public interface that users script against.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from undertow import __version__
from undertow.cli.audit import audit_app, record
from undertow.cli.banks import bank_app
from undertow.cli.cases import cases_app
from undertow.cli.common import err, note, open_store_or_exit, state
from undertow.cli.demo import (
    print_summary,
    show_cases,
    show_hash_bank,
    show_network,
    show_text_signals,
)
from undertow.cli.exports import export_app
from undertow.cli.model import model_app
from undertow.cli.referrals import referral_app
from undertow.cli.report import report_app
from undertow.cli.rules import rules_app
from undertow.cli.serve import serve, serve_demo
from undertow.cli.users import user_app
from undertow.detect.propaganda import CombinerError
from undertow.enrich.classifier import ModelError
from undertow.enrich.media_hash import hash_file
from undertow.enrich.rules import RuleError
from undertow.ingest import FileReport, IngestError, ingest_paths
from undertow.network.profile import channel_profile
from undertow.plugins import PluginError
from undertow.settings import Settings, load_settings, sqlite_url
from undertow.simulate import SimulationSummary, estimate_messages, simulate_world
from undertow.stages.run import run_stages
from undertow.stages.text_signals import pending_messages
from undertow.store import Store
from undertow.summary import summarise

app = typer.Typer(
    help="Undertow: find, review and disrupt terrorist propaganda networks on Telegram and beyond.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(export_app, name="export")
app.add_typer(bank_app, name="bank")
app.add_typer(audit_app, name="audit")
app.add_typer(cases_app, name="cases")
app.add_typer(user_app, name="user")
app.add_typer(report_app, name="report")
app.add_typer(referral_app, name="referral")
app.add_typer(model_app, name="model")
app.add_typer(rules_app, name="rules")
app.command()(serve)


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
    store = open_store_or_exit(settings)
    try:
        reports = run_ingest(store, settings, paths)
        _audit_ingest(store, reports)
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


def _audit_ingest(store: Store, reports: list[FileReport]) -> None:
    for report in reports:
        details: dict[str, object] = {"chats": report.chats, "messages": report.messages,
                                      "media_stored": report.media_stored}  # fmt: skip
        if report.error:
            details["error"] = report.error
        record(store, "ingest", str(report.path), details)


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
    serve_app: Annotated[
        bool, typer.Option("--serve/--no-serve", help="End by serving the review app.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address the review app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the review app.")] = 8000,
) -> None:
    """Simulate a small world, import it, show what Undertow sees in it, and serve the review
    app on it with a demo login."""
    folder = workdir or Path(tempfile.mkdtemp(prefix="undertow-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    db_url = state.db or sqlite_url(folder / "undertow.db")
    settings = load_settings(db_url, state.data_dir or folder / "undertow-data")
    world = folder / "world"
    err.print(f"[bold]1/2[/bold] simulating a small ecosystem into {world}")
    summary = _simulate(world, seed, 1)
    err.print(f"[bold]2/2[/bold] importing {summary.channels} exports into {db_url}")
    store = open_store_or_exit(settings)
    try:
        reports = run_ingest(store, settings, [world / "exports"])
        _audit_ingest(store, reports)
        failed = sum(1 for r in reports if r.error)
        if failed:
            _print_reports(reports)
            raise typer.Exit(1)
        print_summary(summarise(store))
        report = show_hash_bank(store, settings, summary.truth_path)
        show_text_signals(store, report.text)
        show_network(store)
        show_cases(store, report.cases)
    finally:
        store.close()
    typer.echo("\nExplore it further:")
    typer.echo(f"  undertow --db {db_url} cases list --limit 10")
    typer.echo(f"  undertow --db {db_url} export channels --format csv")
    typer.echo(f"  undertow --db {db_url} export messages --format jsonl --out messages.jsonl")
    typer.echo(f"  undertow --db {db_url} export signals --format jsonl")
    typer.echo(f"  undertow --db {db_url} export links --format csv")
    typer.echo(f"  undertow --db {db_url} export mirrors --format csv")
    typer.echo(f"  undertow --db {db_url} export lineages")
    typer.echo(f"  undertow --db {db_url} export graph --format gexf --out network.gexf")
    typer.echo(f"  ground truth of the simulated world: {summary.truth_path}")
    if serve_app:
        serve_demo(settings, host, port)


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
    store = open_store_or_exit(settings)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=state.quiet or not err.is_terminal,
            transient=True,
        ) as progress:
            task = progress.add_task("text and link signals", total=pending_messages(store))
            report = run_stages(
                store,
                settings,
                workers=workers,
                on_stage=lambda name: note(f"{name} ..."),
                on_progress=lambda n: progress.advance(task, n),
            )
    except (RuleError, ModelError, CombinerError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    h, m, t = report.hashing, report.matching, report.text
    typer.echo(
        f"hashed {h.hashed} media file(s) ({h.with_pdq} with PDQ, {h.errors} decoding error(s), "
        f"{h.missing_blobs} missing blob(s)); checked {m.media_checked} media occurrence(s) and "
        f"{m.new_entries} new bank entr(ies); {m.signals} hash-bank signal(s); "
        f"{report.media_pairs} new near-identical media pair(s)"
    )
    found = ", ".join(f"{count} {name}" for name, count in sorted(t.signals.items())) or "none"
    typer.echo(
        f"analysed {t.messages} message(s) and {t.channels} channel(s): {t.links} link(s); "
        f"text signals: {found}"
    )
    n = report.network
    typer.echo(
        f"network: {n.text_pairs} new near-duplicate text pair(s); {n.mirror_pairs} mirror "
        f"relation(s) in {n.networks} network(s); {n.rebrands} rebrand(s); "
        f"{n.lineages} lineage(s)"
    )
    k = report.cases
    typer.echo(
        f"triage: {k.item_cases} item case(s) covering {k.covered_items} message(s) "
        f"({k.signalled_items} signalled: {k.decisions_saved} decision(s) saved by grouping "
        f"copies), {k.channel_cases} channel case(s), {k.suppressed} suppressed"
    )


@app.command()
def profile(
    channel_id: Annotated[str, typer.Argument(help="Channel id, e.g. telegram:1234567890.")],
) -> None:
    """Everything known about one channel, as JSON: titles over time, activity, signals,
    mirror relations both ways, rebrands and links to other platforms."""
    store = open_store_or_exit(state.settings())
    try:
        with store.engine.connect() as conn:
            found = channel_profile(conn, channel_id)
    finally:
        store.close()
    if found is None:
        err.print(f"[red]error:[/red] no channel {channel_id!r} in the store")
        raise typer.Exit(1)
    typer.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
