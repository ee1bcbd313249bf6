"""Referral packages: what reviewers confirmed as violating, sent to a platform or a partner.

A referral is only useful if the recipient can act on it and trust it, so one package holds
the three forms recipients actually take:

- `permalinks.csv`: one row per item (every copy of every case), with its `t.me` link, what
  a trust-and-safety desk pastes into its takedown tool;
- `bundle.json`: a STIX 2.1 bundle (indicators on the URLs and media hashes, the observed
  data, a note with the reasons and the reviewer's note), what threat-intelligence platforms
  import;
- `evidence.zip`: the preserved media and message texts with `manifest.json`, the
  chain-of-custody form open-source investigators use: every file with its SHA-256, size,
  when it was posted and captured, and where from.  The manifest is also written beside the
  zip so that the archive can be checked against it without trusting the archive itself.

Media missing from the evidence store (never downloaded, or lost since) are listed in the
manifest as missing: a referral should still go out when part of the evidence is gone.

Channel cases have no items; they are referred as the channel itself, with message id 0.

The referral and its items are recorded (`referrals`, `referral_items`) with the audit entry
in one transaction; each item then carries the status the recipient's action left it in
(`sent`, `removed`, `still_up`, `came_back`), so that `referral_report` can say how much of
what was referred is actually gone.

This module selects the cases, records the referral and writes the CSV; the bundle is built by
`undertow.exchange.stix_bundle` and the archive by `undertow.triage.evidence_package`, both
from the records of `undertow.triage.referral_records`.
"""

from __future__ import annotations

import csv
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from undertow import __version__
from undertow.exchange.stix_bundle import bundle
from undertow.settings import Settings
from undertow.store import Store, schema
from undertow.triage import audit
from undertow.triage.evidence_package import file_sha256, manifest_bytes, write_zip
from undertow.triage.referral_records import ReferralCase, ReferralItem, ReferralMedia, iso_utc

STATUSES = ("sent", "removed", "still_up", "came_back")
CSV_FIELDS = (
    "referral_id", "case_id", "channel_id", "message_id", "permalink", "category", "decided_at",
)  # fmt: skip
CHANNEL_ITEM = 0
"""The message id standing for a channel case's channel (Telegram numbers messages from 1)."""


class ReferralError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ReferralResult:
    referral_id: str
    folder: Path
    cases: int
    items: int
    files: int
    """Evidence files in the zip (media and texts)."""
    missing: int
    """Media the manifest lists as missing."""


# -- creating a referral ------------------------------------------------------------------------


def create_referral(
    store: Store,
    settings: Settings,
    recipient: str,
    out_dir: Path,
    *,
    actor: str,
    case_ids: list[str] | None = None,
    category: str | None = None,
) -> ReferralResult:
    """Package the cases decided violating (latest decision) into `out_dir/<referral_id>/`
    and record the referral; only `case_ids` or `category` if given."""
    if not recipient.strip():
        raise ReferralError("the recipient must not be empty")
    now = int(time.time())
    referral_id = new_referral_id(now)
    folder = out_dir / referral_id
    with store.engine.begin() as conn:
        cases = _violating_cases(conn, case_ids, category)
        for case in cases:
            case.items = _case_items(conn, case)
        items = [item for case in cases for item in case.items]
        if not items:
            raise ReferralError("the violating cases hold no items to refer")
        folder.mkdir(parents=True, exist_ok=False)
        try:
            digests, files, missing = _write_package(
                folder, referral_id, recipient, actor, now, cases, settings
            )
            _record(conn, referral_id, recipient, actor, now, cases, folder)
            audit.append(
                conn, actor, "referral.create", referral_id,
                {"recipient": recipient, "cases": len(cases), "items": len(items),
                 "files": files, "missing": missing, "package": str(folder),
                 "sha256": digests},
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return ReferralResult(referral_id, folder, len(cases), len(items), files, missing)


def new_referral_id(now: int) -> str:
    """`ref-<UTC yyyymmdd-hhmmss>-<6 hex>`."""
    return f"ref-{datetime.fromtimestamp(now, UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def permalink(channel_id: str, message_id: int, handle: str | None, platform: str | None) -> str:
    """The public link to a Telegram message (or, for message id 0, channel): by handle when
    known, else the `t.me/c/<id>` form; empty for other platforms."""
    if platform not in (None, "telegram") or not channel_id.startswith("telegram:"):
        return ""
    if handle:
        name = handle.lstrip("@")
        return f"https://t.me/{name}/{message_id}" if message_id else f"https://t.me/{name}"
    native = channel_id.removeprefix("telegram:")
    number = native.removeprefix("-100") if native.startswith("-100") else native.lstrip("-")
    if not number.isdigit() or not message_id:
        return ""
    return f"https://t.me/c/{number}/{message_id}"


def _violating_cases(
    conn: sa.Connection, case_ids: Sequence[str] | None, category: str | None
) -> list[ReferralCase]:
    d, c = schema.decisions, schema.cases
    latest = sa.select(sa.func.max(d.c.id)).group_by(d.c.case_id).scalar_subquery()
    chosen = sa.func.coalesce(d.c.category, c.c.category)
    query = (
        sa.select(d.c.case_id, d.c.note, d.c.reviewer, d.c.at, c.c.kind, c.c.reasons,
                  chosen.label("category"))
        .join(c, c.c.case_id == d.c.case_id)
        .where(d.c.id.in_(latest), d.c.verdict == "violating")
        .order_by(d.c.case_id)
    )  # fmt: skip
    if case_ids:
        query = query.where(d.c.case_id.in_(list(case_ids)))
    if category:
        query = query.where(chosen == category)
    cases = [
        ReferralCase(row.case_id, row.kind, row.category, [str(r) for r in row.reasons or []],
              row.note, row.reviewer, int(row.at))
        for row in conn.execute(query)
    ]  # fmt: skip
    if case_ids:
        absent = sorted(set(case_ids) - {case.case_id for case in cases})
        if absent:
            raise ReferralError(
                f"not decided violating{' in ' + category if category else ''}: "
                + ", ".join(absent)
            )
    if not cases:
        raise ReferralError(
            "nothing to refer: no case's latest decision is violating"
            + (f" in category {category!r}" if category else "")
        )
    return cases


def _case_items(conn: sa.Connection, case: ReferralCase) -> list[ReferralItem]:
    ci, c = schema.case_items, schema.cases
    keys = [
        (row.channel_id, int(row.message_id))
        for row in conn.execute(
            sa.select(ci.c.channel_id, ci.c.message_id)
            .where(ci.c.case_id == case.case_id)
            .order_by(ci.c.channel_id, ci.c.message_id)
        )
    ]
    if not keys:
        row = conn.execute(
            sa.select(c.c.channel_id, c.c.message_id).where(c.c.case_id == case.case_id)
        ).one()
        keys = [(row.channel_id, int(row.message_id or CHANNEL_ITEM))]
    return [_item(conn, case.case_id, channel_id, number) for channel_id, number in keys]


def _item(conn: sa.Connection, case_id: str, channel_id: str, message_id: int) -> ReferralItem:
    ch, m, mm, md = schema.channels, schema.messages, schema.message_media, schema.media
    channel = conn.execute(
        sa.select(ch.c.handle, ch.c.platform).where(ch.c.channel_id == channel_id)
    ).first()
    link = permalink(
        channel_id, message_id, channel.handle if channel else None,
        channel.platform if channel else None,
    )  # fmt: skip
    item = ReferralItem(case_id, channel_id, message_id, link)
    if message_id == CHANNEL_ITEM:
        return item
    message = conn.execute(
        sa.select(m.c.date, m.c.ingested_at, m.c.text).where(
            m.c.channel_id == channel_id, m.c.message_id == message_id
        )
    ).first()
    if message is not None:
        item.posted_at, item.captured_at = int(message.date), int(message.ingested_at)
        item.text = message.text or ""
    query = (
        sa.select(mm.c.position, mm.c.kind, mm.c.sha256, mm.c.path, mm.c.mime, md.c.first_seen)
        .outerjoin(md, md.c.sha256 == mm.c.sha256)
        .where(mm.c.channel_id == channel_id, mm.c.message_id == message_id)
        .order_by(mm.c.position)
    )
    item.media = [
        ReferralMedia(int(r.position), r.kind, r.sha256, r.path, r.mime,
               int(r.first_seen) if r.first_seen is not None else item.captured_at)
        for r in conn.execute(query)
    ]  # fmt: skip
    return item


def _record(
    conn: sa.Connection,
    referral_id: str,
    recipient: str,
    actor: str,
    now: int,
    cases: list[ReferralCase],
    folder: Path,
) -> None:
    items = [item for case in cases for item in case.items]
    conn.execute(
        schema.referrals.insert().values(
            referral_id=referral_id, recipient=recipient, created_at=now, created_by=actor,
            cases=len(cases), items=len(items), package=str(folder),
        )
    )  # fmt: skip
    conn.execute(
        schema.referral_items.insert(),
        [
            {"referral_id": referral_id, "channel_id": item.channel_id,
             "message_id": item.message_id, "case_id": item.case_id,
             "permalink": item.permalink or None, "status": "sent", "status_at": now}
            for item in items
        ],
    )  # fmt: skip


# -- the package files -------------------------------------------------------------------------


def _write_package(
    folder: Path,
    referral_id: str,
    recipient: str,
    actor: str,
    now: int,
    cases: list[ReferralCase],
    settings: Settings,
) -> tuple[dict[str, str], int, int]:
    """Write the four files; return their SHA-256s, the evidence files and the missing."""
    _write_csv(folder / "permalinks.csv", referral_id, cases)
    stix = bundle(cases, referral_id, recipient)
    (folder / "bundle.json").write_text(stix.serialize(pretty=True), encoding="utf-8")
    header = {
        "referral_id": referral_id, "recipient": recipient, "created_at": iso_utc(now),
        "created_by": actor, "generator": f"undertow {__version__}", "hash": "SHA-256",
    }  # fmt: skip
    manifest = write_zip(folder / "evidence.zip", header, cases, settings, now)
    (folder / "manifest.json").write_bytes(manifest_bytes(manifest))
    names = ("permalinks.csv", "bundle.json", "evidence.zip", "manifest.json")
    digests = {name: file_sha256(folder / name) for name in names}
    return digests, len(manifest["files"]), len(manifest["missing"])


def _write_csv(path: Path, referral_id: str, cases: list[ReferralCase]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for case in cases:
            for item in case.items:
                writer.writerow(
                    {"referral_id": referral_id, "case_id": case.case_id,
                     "channel_id": item.channel_id, "message_id": item.message_id,
                     "permalink": item.permalink, "category": case.category or "",
                     "decided_at": iso_utc(case.decided_at)}
                )  # fmt: skip


# -- after the referral: what the recipient did ------------------------------------------------


def update_status(
    store: Store,
    referral_id: str,
    channel_id: str,
    message_id: int,
    status: str,
    *,
    actor: str,
) -> str:
    """Record what became of one referred item; return its previous status."""
    if status not in STATUSES:
        raise ReferralError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    ri = schema.referral_items
    key = sa.and_(
        ri.c.referral_id == referral_id, ri.c.channel_id == channel_id,
        ri.c.message_id == message_id,
    )  # fmt: skip
    now = int(time.time())
    with store.engine.begin() as conn:
        _require_referral(conn, referral_id)
        previous = conn.execute(sa.select(ri.c.status).where(key)).scalar()
        if previous is None:
            raise ReferralError(
                f"referral {referral_id} has no item {channel_id} message {message_id}"
            )
        conn.execute(ri.update().where(key).values(status=status, status_at=now))
        audit.append(
            conn, actor, "referral.status", referral_id,
            {"channel_id": channel_id, "message_id": message_id, "status": status,
             "previous": previous},
        )  # fmt: skip
    return str(previous)


def referral_report(store: Store, referral_id: str | None = None) -> list[dict[str, Any]]:
    """Per referral (newest first): who it went to, when, and how many items are in each
    status."""
    r, ri = schema.referrals, schema.referral_items
    query = sa.select(r).order_by(r.c.created_at.desc(), r.c.referral_id)
    if referral_id is not None:
        query = query.where(r.c.referral_id == referral_id)
    with store.engine.connect() as conn:
        if referral_id is not None:
            _require_referral(conn, referral_id)
        rows = conn.execute(query).all()
        counts = conn.execute(
            sa.select(ri.c.referral_id, ri.c.status, sa.func.count())
            .group_by(ri.c.referral_id, ri.c.status)
        ).all()  # fmt: skip
    by_referral: dict[str, dict[str, int]] = {}
    for ref, status, count in counts:
        by_referral.setdefault(ref, dict.fromkeys(STATUSES, 0))[status] = int(count)
    out = []
    for row in rows:
        # Plain `str` keys: the column names SQLAlchemy gives are a str subclass orjson refuses.
        fields: dict[str, Any] = {str(key): value for key, value in row._mapping.items()}
        fields["statuses"] = by_referral.get(row.referral_id, dict.fromkeys(STATUSES, 0))
        out.append(fields)
    return out


def _require_referral(conn: sa.Connection, referral_id: str) -> None:
    r = schema.referrals
    if conn.execute(sa.select(r.c.referral_id).where(r.c.referral_id == referral_id)).first():
        return
    raise ReferralError(f"no referral {referral_id!r}")
