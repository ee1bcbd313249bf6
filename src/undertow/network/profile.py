"""One channel's profile: everything the review app shows about it, as plain data.

Titles over time, activity by day, signals by detector, mirror relations both ways (which
feed it carries, who carries it), its network, rebrands, lineage links where the lineage
table exists, and its links to other platforms.  Read-only; one query per part.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from undertow.exchange.records_export import iso
from undertow.store import schema

DAY = 86_400


def channel_profile(conn: sa.Connection, channel_id: str) -> dict[str, Any] | None:
    """The profile of `channel_id`, or None if the store has no such channel."""
    c = schema.channels
    row = conn.execute(sa.select(c).where(c.c.channel_id == channel_id)).first()
    if row is None:
        return None
    t, m, s = schema.channel_titles, schema.messages, schema.signals
    titles = [
        {"title": title, "at": iso(at), "source": source}
        for title, at, source in conn.execute(
            sa.select(t.c.title, t.c.at, t.c.source)
            .where(t.c.channel_id == channel_id)
            .order_by(t.c.at, t.c.id)
        )
    ]
    days: Counter[int] = Counter()
    for (date,) in conn.execute(
        sa.select(m.c.date).where(m.c.channel_id == channel_id, m.c.kind == "message")
    ):
        days[date // DAY] += 1
    signals = {
        detector: {"count": count, "max_score": round(top, 4)}
        for detector, count, top in conn.execute(
            sa.select(s.c.detector, sa.func.count(), sa.func.max(s.c.score))
            .where(s.c.channel_id == channel_id)
            .group_by(s.c.detector)
        )
    }
    f = schema.text_features
    score = conn.execute(
        sa.select(sa.func.avg(f.c.propaganda), sa.func.max(f.c.propaganda)).where(
            f.c.channel_id == channel_id
        )
    ).one()
    return {
        "channel_id": row.channel_id,
        "title": row.title,
        "kind": row.kind,
        "public": row.public,
        "status": row.status,
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
        "titles": titles,
        "activity": [
            {"day": str(iso(day * DAY))[:10], "posts": n} for day, n in sorted(days.items())
        ],
        "propaganda": {
            "mean": None if score[0] is None else round(score[0], 4),
            "max": None if score[1] is None else round(score[1], 4),
        },
        "signals": signals,
        "carries": _mirrors(conn, schema.mirror_pairs.c.channel_id == channel_id),
        "carried_by": _mirrors(conn, schema.mirror_pairs.c.source_id == channel_id),
        "rebrands": _rebrands(conn, channel_id),
        "migrations": _migrations(conn, channel_id),
    }


def _mirrors(conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
    p = schema.mirror_pairs
    return [
        {
            "channel_id": r.channel_id,
            "source_id": r.source_id,
            "share": r.share,
            "median_lag_s": r.median_lag_s,
            "methods": r.methods,
            "since": iso(r.since),
            "until": iso(r.until),
            "network_id": r.network_id,
        }
        for r in conn.execute(sa.select(p).where(where).order_by(p.c.since))
    ]


def _rebrands(conn: sa.Connection, channel_id: str) -> list[dict[str, Any]]:
    r = schema.rebrands
    return [
        {
            "at": iso(row.at),
            "from_title": row.from_title,
            "to_title": row.to_title,
            "kind": row.kind,
            "summary": row.evidence.get("summary"),
        }
        for row in conn.execute(sa.select(r).where(r.c.channel_id == channel_id).order_by(r.c.at))
    ]


def _migrations(conn: sa.Connection, channel_id: str) -> list[dict[str, Any]]:
    ml, m = schema.message_links, schema.messages
    query = (
        sa.select(ml.c.message_id, ml.c.platform, ml.c.kind, ml.c.normalized_url, m.c.date)
        .join(m, sa.and_(m.c.channel_id == ml.c.channel_id, m.c.message_id == ml.c.message_id))
        .where(ml.c.channel_id == channel_id, ml.c.platform != "web")
        .order_by(m.c.date)
    )
    return [
        {
            "message_id": row.message_id,
            "date": iso(row.date),
            "platform": row.platform,
            "kind": row.kind,
            "url": row.normalized_url,
        }
        for row in conn.execute(query)
    ]
