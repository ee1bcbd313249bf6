"""`undertow rules list|check|match`: see, validate and try indicator rule packs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from undertow.cli.common import err, state
from undertow.enrich.rules import SCOPES, RuleError, RuleSet, load_rules

rules_app = typer.Typer(
    help="Indicator rule packs: names, hashtags and markers matched on normalised text.",
    no_args_is_help=True,
)
FoldersArgument = Annotated[
    list[Path] | None,
    typer.Argument(help="Rule-pack folders to add (default: the configured ones)."),
]


def _load(folders: list[Path] | None) -> RuleSet:
    settings = state.settings()
    try:
        return load_rules(folders if folders else list(settings.rule_folders))
    except RuleError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@rules_app.command("list")
def rules_list(folders: FoldersArgument = None) -> None:
    """Every loaded rule as JSON Lines: id, pack, category, severity, scopes, patterns."""
    for rule in sorted(_load(folders).rules.values(), key=lambda r: r.id):
        row = {
            "id": rule.id,
            "pack": rule.pack,
            "category": rule.category,
            "severity": rule.severity,
            "languages": list(rule.languages),
            "scopes": sorted(rule.scopes),
            "patterns": list(rule.patterns),
            "description": rule.description,
        }
        typer.echo(orjson.dumps(row).decode())


@rules_app.command("check")
def rules_check(folders: FoldersArgument = None) -> None:
    """Load the packs (built-in and given) and report problems; exit status 1 on any."""
    rules = _load(folders)
    for pack in rules.packs:
        typer.echo(f"ok  {pack.name} v{pack.version}  ({pack.path})")
    typer.echo(f"{len(rules.rules)} rule(s), fingerprint {rules.fingerprint}")


@rules_app.command("match")
def rules_match(
    text: Annotated[str, typer.Argument(help="Text to try the rules on.")],
    scope: Annotated[str, typer.Option(help=f"One of {', '.join(SCOPES)}.")] = "text",
) -> None:
    """Show which rules match TEXT, with the matched span of the raw text."""
    if scope not in SCOPES:
        err.print(f"[red]error:[/red] unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
        raise typer.Exit(2)
    rules = _load(None)
    hits = rules.match_url(text) if scope == "url" else rules.match(text, scope)
    for hit in hits:
        row = {
            "rule": hit.rule.id,
            "scope": hit.scope,
            "span": [hit.start, hit.end],
            "matched": hit.matched,
            "category": hit.rule.category,
            "severity": hit.rule.severity,
        }
        typer.echo(orjson.dumps(row).decode())
    if not hits:
        err.print("no rule matches")
