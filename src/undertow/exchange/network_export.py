"""Exports of the network analysis: mirrors, rebrands and the migration map (JSONL or CSV).

Field names are a public interface (docs/formats.md).  Times are ISO 8601 UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from undertow.exchange.records_export import iso
from undertow.store import Store, schema

MIRROR_FIELDS = ("channel_id", "source_id", "share", "carried", "median_lag_s", "lag_iqr_s",
                 "methods", "since", "until", "network_id")  # fmt: skip
LINEAGE_FIELDS = ("lineage_id", "channels", "links", "incarnations", "lifetimes")
REBRAND_FIELDS = ("channel_id", "at", "from_title", "to_title", "kind", "evidence")
MIGRATION_FIELDS = ("channel_id", "message_id", "date", "platform", "kind", "url",
                    "normalized_url", "first_seen", "channels")  # fmt: skip


def iter_mirrors(store: Store) -> Iterator[dict[str, Any]]:
    """One row per (mirror, source) relation found by `undertow run`."""
    p = schema.mirror_pairs
    with store.engine.connect() as conn:
        for row in conn.execute(
            sa.select(p).order_by(p.c.network_id, p.c.source_id, p.c.channel_id)
        ):
            yield {
                "channel_id": row.channel_id,
                "source_id": row.source_id,
                "share": row.share,
                "carried": row.carried,
                "median_lag_s": row.median_lag_s,
                "lag_iqr_s": row.lag_iqr_s,
                "methods": row.methods,
                "since": iso(row.since),
                "until": iso(row.until),
                "network_id": row.network_id,
            }


def iter_rebrands(store: Store) -> Iterator[dict[str, Any]]:
    r = schema.rebrands
    with store.engine.connect() as conn:
        for row in conn.execute(sa.select(r).order_by(r.c.at, r.c.channel_id)):
            yield {
                "channel_id": row.channel_id,
                "at": iso(row.at),
                "from_title": row.from_title,
                "to_title": row.to_title,
                "kind": row.kind,
                "evidence": row.evidence,
            }


def iter_migrations(store: Store) -> Iterator[dict[str, Any]]:
    """Every link to a destination other than the ordinary web, in time order, with when the
    destination was first seen anywhere and how many channels posted it (a network moving
    together posts the same destination from many channels)."""
    ml, m = schema.message_links, schema.messages
    with store.engine.connect() as conn:
        first = {
            row.normalized_url: (row.first_seen, row.channels)
            for row in conn.execute(
                sa.select(
                    ml.c.normalized_url,
                    sa.func.min(m.c.date).label("first_seen"),
                    sa.func.count(sa.distinct(ml.c.channel_id)).label("channels"),
                )
                .join(
                    m,
                    sa.and_(m.c.channel_id == ml.c.channel_id, m.c.message_id == ml.c.message_id),
                )
                .where(ml.c.platform != "web")
                .group_by(ml.c.normalized_url)
            )
        }
        query = (
            sa.select(ml, m.c.date)
            .join(m, sa.and_(m.c.channel_id == ml.c.channel_id, m.c.message_id == ml.c.message_id))
            .where(ml.c.platform != "web")
            .order_by(m.c.date, ml.c.channel_id, ml.c.message_id, ml.c.position)
        )
        for row in conn.execute(query):
            first_seen, channels = first[row.normalized_url]
            yield {
                "channel_id": row.channel_id,
                "message_id": row.message_id,
                "date": iso(row.date),
                "platform": row.platform,
                "kind": row.kind,
                "url": row.url,
                "normalized_url": row.normalized_url,
                "first_seen": iso(first_seen),
                "channels": channels,
            }


def iter_lineages(store: Store) -> Iterator[dict[str, Any]]:
    """One row per lineage: its channels in time order, the links between them (score and
    evidence in words) and each incarnation's lifetime and the gap before the next."""
    li, ll = schema.lineages, schema.lineage_links
    with store.engine.connect() as conn:
        links: dict[str, list[dict[str, Any]]] = {}
        for row in conn.execute(sa.select(ll).order_by(ll.c.lineage_id)):
            links.setdefault(row.lineage_id, []).append(
                {"from": row.from_id, "to": row.to_id, "score": row.score, "evidence": row.evidence}
            )
        for row in conn.execute(sa.select(li).order_by(li.c.lineage_id)):
            order = {channel: i for i, channel in enumerate(row.channels)}
            yield {
                "lineage_id": row.lineage_id,
                "channels": row.channels,
                "links": sorted(
                    links.get(row.lineage_id, []), key=lambda x: order.get(x["from"], 0)
                ),
                "incarnations": len(row.channels),
                "lifetimes": row.lifetimes,
            }


MIGRATION_COUNT_FIELDS = (
    "week",
    "platform",
    "links",
    "channels",
    "destinations",
    "new_destinations",
)
WEEK = 7 * 86_400


def iter_migration_counts(store: Store) -> Iterator[dict[str, Any]]:
    """Links off the open web counted by week (starting Monday, UTC) and platform: how many
    posts, channels and destinations, and how many destinations appeared for the first time
    (the view researchers built by hand after the 2019 Referral Action Day)."""
    ml, m = schema.message_links, schema.messages
    query = (
        sa.select(ml.c.platform, ml.c.channel_id, ml.c.normalized_url, m.c.date)
        .join(m, sa.and_(m.c.channel_id == ml.c.channel_id, m.c.message_id == ml.c.message_id))
        .where(ml.c.platform != "web")
        .order_by(m.c.date)
    )
    seen: set[str] = set()
    buckets: dict[tuple[int, str], dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for platform, channel_id, url, date in conn.execute(query):
            # Unix day 0 was a Thursday: shift so that weeks start on Monday.
            week = (date + 3 * 86_400) // WEEK * WEEK - 3 * 86_400
            bucket = buckets.setdefault(
                (week, platform), {"links": 0, "channels": set(), "urls": set(), "new": 0}
            )
            bucket["links"] += 1
            bucket["channels"].add(channel_id)
            bucket["urls"].add(url)
            if url not in seen:
                seen.add(url)
                bucket["new"] += 1
    for (week, platform), bucket in sorted(buckets.items()):
        yield {
            "week": str(iso(week))[:10],
            "platform": platform,
            "links": bucket["links"],
            "channels": len(bucket["channels"]),
            "destinations": len(bucket["urls"]),
            "new_destinations": bucket["new"],
        }
