"""`undertow bank ...`: create, fill, share and switch hash banks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import orjson
import typer

from undertow.cli.common import OutOption, err, note, open_store_or_exit, state
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
from undertow.store import Store

T = TypeVar("T")
bank_app = typer.Typer(
    help="Hash banks: lists of known media hashes to match against.", no_args_is_help=True
)


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
    note(f"created bank {name}")


@bank_app.command("add")
def bank_add(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    files: Annotated[list[Path], typer.Argument(help="Media files to hash into the bank.")],
    category: Annotated[str | None, typer.Option(help="Category of these entries.")] = None,
) -> None:
    """Hash media files and add their MD5, SHA-256 and PDQ hashes to a bank."""
    new, old = _bank(lambda store: add_files(store, name, files, category=category))
    note(f"{name}: {new} new entr(ies), {old} already present")


@bank_app.command("import")
def bank_import(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    file: Annotated[Path, typer.Argument(help="File of hashes.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="tx (python-threatexchange), plain or csv.")
    ] = "tx",
    hash_type: Annotated[
        str | None,
        typer.Option("--type", help="Entry type for the plain format: md5, sha256, pdq or url."),
    ] = None,
) -> None:
    """Import hashes from a file (one transaction: a bad line stores nothing)."""
    new, old = _bank(
        lambda store: add_entries(store, name, read_entries(file, fmt, hash_type=hash_type))
    )
    note(f"{name}: {new} new entr(ies), {old} already present")


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
        note(f"wrote {count} entr(ies) to {out}")


@bank_app.command("disable")
def bank_disable(name: Annotated[str, typer.Argument(help="Bank name.")]) -> None:
    """Stop matching against a bank (its entries and earlier signals are kept)."""
    _bank(lambda store: set_enabled(store, name, False))
    note(f"disabled bank {name}")


@bank_app.command("enable")
def bank_enable(name: Annotated[str, typer.Argument(help="Bank name.")]) -> None:
    """Match against a bank again; the next run checks all media against it."""
    _bank(lambda store: set_enabled(store, name, True))
    note(f"enabled bank {name}")


@bank_app.command("list")
def bank_list() -> None:
    """The banks with their source, category, licence and size."""
    for bank in _bank(list_banks):
        typer.echo(orjson.dumps(bank).decode())


def _bank(action: Callable[[Store], T]) -> T:
    store = open_store_or_exit(state.settings())
    try:
        return action(store)
    except BankError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
