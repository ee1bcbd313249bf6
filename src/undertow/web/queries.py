"""What the pages and the API read: the queue, a case with its copies, channels, signals,
search.  Plain dictionaries, so that the JSON API and the templates show the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from undertow.network.profile import channel_profile
from undertow.store import schema

MAX_LIMIT = 500
QUEUE_STATUSES = ("open", "escalated", "translation")


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str = "queue"  # "queue" = open, escalated, needs translation; or one status; "all"
    kind: str | None = None
    category: str | None = None
    platform: str | None = None
    network: str | None = None
    language: str | None = None
    min_priority: float | None = None
    channel_id: str | None = None
    limit: int = 50
    offset: int = 0


def list_cases(conn: sa.Connection, where: CaseFilter) -> list[dict[str, Any]]:
    """A page of cases, highest priority first (ties: later case id first).

    Each status is read on its own along the (status, priority, case_id) index, which gives
    the order without sorting the queue; the queue's statuses are then merged."""
    limit = max(1, min(where.limit, MAX_LIMIT))
    offset = max(0, where.offset)
    if where.status == "queue":
        statuses: tuple[str, ...] | None = QUEUE_STATUSES
    elif where.status == "all":
        statuses = None
    else:
        statuses = (where.status,)
    if statuses is None:
        rows = list(conn.execute(_case_query(where, None, offset + limit)))
    else:
        rows = [row for status in statuses
                for row in conn.execute(_case_query(where, status, offset + limit))]  # fmt: skip
    rows.sort(key=lambda row: (row.priority, row.case_id), reverse=True)
    return [_case(row) for row in rows[offset : offset + limit]]


def _case_query(where: CaseFilter, status: str | None, limit: int) -> sa.Select[Any]:
    c, ch = schema.cases, schema.channels
    query = (
        sa.select(c, ch.c.title.label("channel_title"), ch.c.platform)
        .join(ch, ch.c.channel_id == c.c.channel_id, isouter=True)
        .order_by(c.c.priority.desc(), c.c.case_id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(c.c.status == status)
    if where.kind:
        query = query.where(c.c.kind == where.kind)
    if where.category:
        query = query.where(c.c.category == where.category)
    if where.platform:
        query = query.where(ch.c.platform == where.platform)
    if where.channel_id:
        query = query.where(c.c.channel_id == where.channel_id)
    if where.min_priority is not None:
        query = query.where(c.c.priority >= where.min_priority)
    if where.network:
        mp = schema.mirror_pairs
        members = sa.select(mp.c.channel_id).where(mp.c.network_id == where.network)
        query = query.where(c.c.channel_id.in_(members))
    if where.language:
        tf = schema.text_features
        query = query.join(
            tf, sa.and_(tf.c.channel_id == c.c.channel_id, tf.c.message_id == c.c.message_id)
        ).where(tf.c.language == where.language)
    return query


def _case(row: Any) -> dict[str, Any]:
    out = _plain(row)
    out["reasons"] = list(out.get("reasons") or [])
    return out


def case_detail(conn: sa.Connection, case_id: str) -> dict[str, Any] | None:
    c, ch = schema.cases, schema.channels
    row = conn.execute(
        sa.select(c, ch.c.title.label("channel_title"), ch.c.platform)
        .join(ch, ch.c.channel_id == c.c.channel_id, isouter=True)
        .where(c.c.case_id == case_id)
    ).first()
    if row is None:
        return None
    case = _case(row)
    keys = [
        (r.channel_id, int(r.message_id))
        for r in conn.execute(
            sa.select(schema.case_items).where(schema.case_items.c.case_id == case_id)
        )
    ]
    case["items"] = [_item(conn, channel, number) for channel, number in keys[:200]]
    case["signals"] = _signals(conn, case, keys)
    case["decisions"] = [
        _plain(r)
        for r in conn.execute(
            sa.select(schema.decisions)
            .where(schema.decisions.c.case_id == case_id)
            .order_by(schema.decisions.c.at)
        )
    ]
    case["channel"] = channel_profile(conn, case["channel_id"])
    return case


def _item(conn: sa.Connection, channel_id: str, message_id: int) -> dict[str, Any]:
    m, ch, mm = schema.messages, schema.channels, schema.message_media
    row = conn.execute(
        sa.select(m.c.date, m.c.text, m.c.forwarded_from, ch.c.title, ch.c.handle)
        .join(ch, ch.c.channel_id == m.c.channel_id, isouter=True)
        .where(m.c.channel_id == channel_id, m.c.message_id == message_id)
    ).first()
    media = [
        {"kind": r.kind, "sha256": r.sha256, "mime": r.mime, "status": r.status}
        for r in conn.execute(
            sa.select(mm.c.kind, mm.c.sha256, mm.c.mime, mm.c.status).where(
                mm.c.channel_id == channel_id, mm.c.message_id == message_id
            )
        )
    ]
    return {
        "channel_id": channel_id,
        "message_id": message_id,
        "channel_title": row.title if row else None,
        "date": row.date if row else None,
        "text": (row.text or "") if row else "",
        "forwarded_from": row.forwarded_from if row else None,
        "media": media,
    }


def _signals(
    conn: sa.Connection, case: dict[str, Any], keys: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    s = schema.signals
    if case["kind"] == "channel":
        query = sa.select(s).where(
            s.c.channel_id == case["channel_id"], s.c.target_kind == "channel"
        )
    else:
        shas = {m["sha256"] for item in case["items"] for m in item["media"] if m["sha256"]}
        conditions = [sa.and_(s.c.channel_id == a, s.c.message_id == b) for a, b in keys[:200]]
        if shas:
            conditions.append(s.c.sha256.in_(sorted(shas)))
        query = (
            sa.select(s).where(sa.or_(*conditions))
            if conditions
            else sa.select(s).where(sa.false())
        )
    return [
        {k: v for k, v in _plain(r).items() if k != "id"}
        for r in conn.execute(query.order_by(s.c.score.desc()).limit(200))
    ]


def network_detail(conn: sa.Connection, network_id: str) -> dict[str, Any] | None:
    """A mirror network: its root, members with titles, and the mirror relations inside it."""
    n, mp, ch = schema.networks, schema.mirror_pairs, schema.channels
    row = conn.execute(sa.select(n).where(n.c.network_id == network_id)).first()
    if row is None:
        return None
    edges = [
        {"channel_id": r.channel_id, "source_id": r.source_id, "share": r.share,
         "carried": r.carried, "median_lag_s": r.median_lag_s}
        for r in conn.execute(sa.select(mp).where(mp.c.network_id == network_id))
    ]  # fmt: skip
    members = sorted({row.root_id, *(row.channels or [])})
    query = sa.select(ch.c.channel_id, ch.c.title).where(ch.c.channel_id.in_(members))
    titles: dict[str, str | None] = {row.channel_id: row.title for row in conn.execute(query)}
    return {"network_id": network_id, "root_id": row.root_id, "propaganda": row.propaganda,
            "channels": members, "titles": titles, "edges": edges}  # fmt: skip


def list_channels(
    conn: sa.Connection, q: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    ch = schema.channels
    query = (
        sa.select(ch.c.channel_id, ch.c.platform, ch.c.kind, ch.c.handle, ch.c.title,
                  ch.c.first_seen, ch.c.last_seen, ch.c.status)
        .order_by(ch.c.channel_id)
        .limit(max(1, min(limit, MAX_LIMIT)))
        .offset(max(0, offset))
    )  # fmt: skip
    if q:
        query = query.where(ch.c.title.ilike(f"%{_like(q)}%", escape="\\"))
    return [_plain(r) for r in conn.execute(query)]


def list_signals(
    conn: sa.Connection,
    detector: str | None = None,
    channel_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    s = schema.signals
    query = (
        sa.select(s)
        .order_by(s.c.score.desc(), s.c.id)
        .limit(max(1, min(limit, MAX_LIMIT)))
        .offset(max(0, offset))
    )
    if detector:
        query = query.where(s.c.detector == detector)
    if channel_id:
        query = query.where(s.c.channel_id == channel_id)
    return [_plain(r) for r in conn.execute(query)]


def search(conn: sa.Connection, q: str, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
    """Channels by title and messages by text containing `q` (case-insensitive)."""
    m, ci = schema.messages, schema.case_items
    pattern = f"%{_like(q)}%"
    messages = [
        _plain(r)
        for r in conn.execute(
            sa.select(m.c.channel_id, m.c.message_id, m.c.date, m.c.text, ci.c.case_id)
            .join(ci, sa.and_(ci.c.channel_id == m.c.channel_id,
                              ci.c.message_id == m.c.message_id), isouter=True)
            .where(m.c.text.ilike(pattern, escape="\\"))
            .order_by(m.c.date.desc())
            .limit(max(1, min(limit, MAX_LIMIT)))
        )
    ]  # fmt: skip
    return {"channels": list_channels(conn, q, limit), "messages": messages}


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")[:200]


def _plain(row: Any) -> dict[str, Any]:
    """A row as a dict with plain `str` keys (SQLAlchemy's column names are a `str` subclass,
    which JSON encoders such as orjson refuse)."""
    return {str(key): value for key, value in row._mapping.items()}
