"""`undertow referral create|status|report`: confirmed content sent on, and what became of it.

The package itself (links, STIX bundle, evidence zip with its manifest) is built by
`undertow.triage.referrals`; these commands only parse arguments and print results, so that
scripts and the review app get the same behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from undertow.cli.common import err, open_store_or_exit, state
from undertow.triage import audit
from undertow.triage.referrals import (
    STATUSES,
    ReferralError,
    create_referral,
    referral_report,
    update_status,
)

referral_app = typer.Typer(
    help="Referrals: packages of confirmed violating items for a platform or a partner.",
    no_args_is_help=True,
)


@referral_app.command("create")
def referral_create(
    recipient: Annotated[
        str, typer.Option(help="Who the package goes to (a platform, a partner).")
    ],
    out: Annotated[Path, typer.Option(help="Folder the package folder is written into.")],
    case: Annotated[
        list[str] | None, typer.Option("--case", help="Only this case (repeatable).")
    ] = None,
    category: Annotated[str | None, typer.Option(help="Only cases of this category.")] = None,
) -> None:
    """Package every case decided violating (links, STIX 2.1 bundle, evidence zip)."""
    settings = state.settings()
    store = open_store_or_exit(settings)
    try:
        result = create_referral(
            store, settings, recipient, out, actor=audit.cli_actor(),
            case_ids=case or None, category=category,
        )  # fmt: skip
    except ReferralError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    typer.echo(
        f"referral {result.referral_id}: {result.cases} case(s), {result.items} item(s), "
        f"{result.files} evidence file(s), {result.missing} missing; written to {result.folder}"
    )


@referral_app.command("status")
def referral_status(
    referral_id: str,
    channel_id: str,
    message_id: int,
    status: Annotated[str, typer.Argument(help=", ".join(STATUSES))],
) -> None:
    """Record what became of one referred item (0 as the message id: a channel)."""
    store = open_store_or_exit(state.settings())
    try:
        previous = update_status(
            store, referral_id, channel_id, message_id, status, actor=audit.cli_actor()
        )
    except ReferralError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    typer.echo(f"{referral_id} {channel_id} {message_id}: {previous} -> {status}")


@referral_app.command("report")
def referral_report_command(
    referral_id: Annotated[str | None, typer.Argument(help="Only this referral.")] = None,
) -> None:
    """Each referral with its items counted per status, as JSON Lines."""
    store = open_store_or_exit(state.settings())
    try:
        rows = referral_report(store, referral_id)
    except ReferralError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    for row in rows:
        typer.echo(orjson.dumps(row).decode())
