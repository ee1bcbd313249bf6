"""What every `undertow` command shares: global options, the error console, opening the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from undertow.settings import Settings, load_settings
from undertow.store import Store, open_store
from undertow.store.database import StoreError

err = Console(stderr=True, soft_wrap=True)


class State:
    """Global options, resolved once per invocation."""

    db: str | None = None
    data_dir: Path | None = None
    quiet: bool = False

    def settings(self) -> Settings:
        return load_settings(self.db, self.data_dir)


state = State()


def open_store_or_exit(settings: Settings) -> Store:
    """The store, or a clear error and exit status 2."""
    try:
        return open_store(settings.db_url)
    except StoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def note(text: str) -> None:
    """A progress line on standard error, unless --quiet."""
    if not state.quiet:
        err.print(text)


FormatOption = Annotated[str, typer.Option("--format", "-f", help="jsonl or csv.")]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write to this file instead of standard output.")
]
