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
"""

from __future__ import annotations

import csv
import hashlib
import mimetypes
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

import orjson
import sqlalchemy as sa
import stix2

from undertow import __version__
from undertow.enrich.evidence import EvidenceStore
from undertow.settings import Settings
from undertow.store import Store, schema
from undertow.triage import audit

STATUSES = ("sent", "removed", "still_up", "came_back")
CSV_FIELDS = (
    "referral_id", "case_id", "channel_id", "message_id", "permalink", "category", "decided_at",
)  # fmt: skip
CHANNEL_ITEM = 0
"""The message id standing for a channel case's channel (Telegram numbers messages from 1)."""
_CHUNK = 1 << 20
_ZIP64_FROM = 1 << 31
_SHA256 = re.compile(r"[0-9a-f]{64}")


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


@dataclass(slots=True)
class _Media:
    position: int
    kind: str
    sha256: str | None
    original: str | None
    mime: str | None
    captured_at: int | None


@dataclass(slots=True)
class _Item:
    case_id: str
    channel_id: str
    message_id: int
    permalink: str
    posted_at: int | None = None
    captured_at: int | None = None
    text: str | None = None
    media: list[_Media] = field(default_factory=list)


@dataclass(slots=True)
class _Case:
    case_id: str
    kind: str
    category: str | None
    reasons: list[str]
    note: str | None
    reviewer: str
    decided_at: int
    items: list[_Item] = field(default_factory=list)


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
) -> list[_Case]:
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
        _Case(row.case_id, row.kind, row.category, [str(r) for r in row.reasons or []],
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


def _case_items(conn: sa.Connection, case: _Case) -> list[_Item]:
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


def _item(conn: sa.Connection, case_id: str, channel_id: str, message_id: int) -> _Item:
    ch, m, mm, md = schema.channels, schema.messages, schema.message_media, schema.media
    channel = conn.execute(
        sa.select(ch.c.handle, ch.c.platform).where(ch.c.channel_id == channel_id)
    ).first()
    link = permalink(
        channel_id, message_id, channel.handle if channel else None,
        channel.platform if channel else None,
    )  # fmt: skip
    item = _Item(case_id, channel_id, message_id, link)
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
        _Media(int(r.position), r.kind, r.sha256, r.path, r.mime,
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
    cases: list[_Case],
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
    cases: list[_Case],
    settings: Settings,
) -> tuple[dict[str, str], int, int]:
    """Write the four files; return their SHA-256s, the evidence files and the missing."""
    _write_csv(folder / "permalinks.csv", referral_id, cases)
    bundle = _bundle(cases, referral_id, recipient)
    (folder / "bundle.json").write_text(bundle.serialize(pretty=True), encoding="utf-8")
    header = {
        "referral_id": referral_id, "recipient": recipient, "created_at": _iso(now),
        "created_by": actor, "generator": f"undertow {__version__}", "hash": "SHA-256",
    }  # fmt: skip
    manifest = _write_zip(folder / "evidence.zip", header, cases, settings, now)
    (folder / "manifest.json").write_bytes(_manifest_bytes(manifest))
    names = ("permalinks.csv", "bundle.json", "evidence.zip", "manifest.json")
    digests = {name: _file_sha256(folder / name) for name in names}
    return digests, len(manifest["files"]), len(manifest["missing"])


def _write_csv(path: Path, referral_id: str, cases: list[_Case]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for case in cases:
            for item in case.items:
                writer.writerow(
                    {"referral_id": referral_id, "case_id": case.case_id,
                     "channel_id": item.channel_id, "message_id": item.message_id,
                     "permalink": item.permalink, "category": case.category or "",
                     "decided_at": _iso(case.decided_at)}
                )  # fmt: skip


def _write_zip(
    path: Path, header: dict[str, Any], cases: list[_Case], settings: Settings, now: int
) -> dict[str, Any]:
    evidence = EvidenceStore(settings.evidence_dir)
    stamp = datetime.fromtimestamp(now, UTC).timetuple()[:6]
    files: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for case in cases:
            for item in case.items:
                if item.text is not None:
                    files.append(_add_text(archive, item, stamp))
                for media in item.media:
                    entry = _add_media(archive, evidence, item, media, stamp)
                    (files if entry.get("path") else missing).append(entry)
        manifest = {**header, "files": files, "missing": missing}
        archive.writestr(_info("manifest.json", stamp), _manifest_bytes(manifest))
    return manifest


def _add_text(archive: zipfile.ZipFile, item: _Item, stamp: tuple[int, ...]) -> dict[str, Any]:
    name = f"text/{_safe(item.channel_id)}_{item.message_id}.txt"
    data = (item.text or "").encode("utf-8")
    archive.writestr(_info(name, stamp), data)
    return {
        "path": name, "kind": "text", "status": "preserved",
        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        **_times(item.posted_at, item.captured_at), **_source(item),
    }  # fmt: skip


def _add_media(
    archive: zipfile.ZipFile,
    evidence: EvidenceStore,
    item: _Item,
    media: _Media,
    stamp: tuple[int, ...],
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": media.kind, "original_name": media.original, "mime": media.mime,
        **_times(item.posted_at, media.captured_at), **_source(item, media.position),
    }  # fmt: skip
    blob = evidence.blob_path(media.sha256) if _is_sha256(media.sha256) else None
    if blob is None or not blob.is_file():
        reason = "not in the evidence store" if blob is not None else "never preserved"
        return {"path": None, "status": "missing", "reason": reason,
                "sha256": media.sha256, **entry}  # fmt: skip
    name = f"media/{_safe(item.channel_id)}_{item.message_id}_{media.position}{_suffix(media)}"
    digest, size = _copy_into(archive, blob, _info(name, stamp))
    status = "preserved" if digest == media.sha256 else "hash_mismatch"
    extra = {} if status == "preserved" else {"expected_sha256": media.sha256}
    return {"path": name, "status": status, "sha256": digest, "size": size, **extra, **entry}


def _copy_into(archive: zipfile.ZipFile, blob: Path, info: zipfile.ZipInfo) -> tuple[str, int]:
    """Stream `blob` into the archive, hashing the very bytes written."""
    digest, size = hashlib.sha256(), 0
    large = blob.stat().st_size >= _ZIP64_FROM
    with blob.open("rb") as source, archive.open(info, "w", force_zip64=large) as target:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _info(name: str, stamp: tuple[int, ...]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(stamp[0], stamp[1], stamp[2],
                                            stamp[3], stamp[4], stamp[5]))  # fmt: skip
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _source(item: _Item, position: int | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {
        "case_id": item.case_id, "channel_id": item.channel_id,
        "message_id": item.message_id, "permalink": item.permalink or None,
    }  # fmt: skip
    if position is not None:
        source["position"] = position
    return {"source": source}


def _times(posted: int | None, captured: int | None) -> dict[str, str | None]:
    return {
        "posted_at": _iso(posted) if posted is not None else None,
        "captured_at": _iso(captured) if captured is not None else None,
    }


def _suffix(media: _Media) -> str:
    suffix = Path(media.original).suffix if media.original else ""
    if not suffix and media.mime:
        suffix = mimetypes.guess_extension(media.mime) or ""
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)


def _is_sha256(value: str | None) -> TypeGuard[str]:
    return value is not None and _SHA256.fullmatch(value) is not None


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- STIX 2.1 ----------------------------------------------------------------------------------


def _bundle(cases: list[_Case], referral_id: str, recipient: str) -> Any:
    creator = stix2.Identity(
        name="Undertow", identity_class="system",
        description=f"Undertow {__version__}: referral {referral_id} to {recipient}",
    )  # fmt: skip
    objects: list[Any] = [creator]
    for case in cases:
        objects += _case_objects(case, creator.id)
    return stix2.Bundle(objects=_unique(objects), allow_custom=False)


def _case_objects(case: _Case, creator: str) -> list[Any]:
    urls = sorted({item.permalink for item in case.items if item.permalink})
    hashes = sorted({m.sha256 for i in case.items for m in i.media if _is_sha256(m.sha256)})
    observables: list[Any] = [stix2.URL(value=url) for url in urls]
    observables += [stix2.File(hashes={"SHA-256": sha}) for sha in hashes]
    objects: list[Any] = list(observables)
    refs: list[str] = [creator]
    if observables:
        observed = _observed(case, creator, [o.id for o in observables])
        indicator = stix2.Indicator(
            created_by_ref=creator, name=f"Undertow case {case.case_id}",
            description=f"Confirmed violating ({case.category or 'uncategorised'}) by a "
            "reviewer; every copy of the item.",
            indicator_types=["malicious-activity"], pattern=_pattern(urls, hashes),
            pattern_type="stix", valid_from=_when(case.decided_at),
            labels=[case.category] if case.category else None,
        )  # fmt: skip
        based_on = stix2.Relationship(indicator.id, "based-on", observed.id,
                                      created_by_ref=creator)  # fmt: skip
        objects += [observed, indicator, based_on]
        refs = [indicator.id, observed.id]
    objects.append(
        stix2.Note(
            created_by_ref=creator, abstract=f"Case {case.case_id}", content=_note_text(case),
            authors=[case.reviewer], object_refs=refs,
        )
    )  # fmt: skip
    return objects


def _observed(case: _Case, creator: str, refs: list[str]) -> Any:
    seen = [item.posted_at for item in case.items if item.posted_at is not None]
    first, last = (min(seen), max(seen)) if seen else (case.decided_at, case.decided_at)
    return stix2.ObservedData(
        created_by_ref=creator, first_observed=_when(first), last_observed=_when(last),
        number_observed=max(1, len(case.items)), object_refs=refs,
    )  # fmt: skip


def _pattern(urls: Iterable[str], hashes: Iterable[str]) -> str:
    parts = [f"[url:value = '{_quote(url)}']" for url in urls]
    parts += [f"[file:hashes.'SHA-256' = '{sha}']" for sha in hashes]
    return " OR ".join(parts)


def _quote(value: str) -> str:
    """A STIX pattern string literal's contents: backslashes and quotes escaped."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _note_text(case: _Case) -> str:
    reasons = "\n".join(f"- {reason}" for reason in case.reasons) or "- (none recorded)"
    lines = [
        f"Decision: violating ({case.category or 'uncategorised'}) by {case.reviewer} "
        f"at {_iso(case.decided_at)}; {len(case.items)} item(s).",
        f"Reasons:\n{reasons}",
    ]
    if case.note:
        lines.append(f"Reviewer's note: {case.note}")
    return "\n\n".join(lines)


def _when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _unique(objects: list[Any]) -> list[Any]:
    """Drop repeated observables (their ids derive from their values)."""
    seen: set[str] = set()
    out = []
    for obj in objects:
        if obj.id not in seen:
            seen.add(obj.id)
            out.append(obj)
    return out


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
