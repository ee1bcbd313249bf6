"""Streaming exports of channels and messages as JSON Lines or CSV.

These rows are a public interface: field names are stable.  Channel ids are
`<platform>:<native id>`, dates ISO 8601 UTC; nested values are JSON (in CSV, JSON text).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa

from undertow.store import Store, schema

FORMATS = ("jsonl", "csv")
CHANNEL_FIELDS = (
    "channel_id",
    "platform",
    "kind",
    "type",
    "public",
    "handle",
    "title",
    "titles",
    "messages",
    "service_messages",
    "first_seen",
    "last_seen",
    "status",
)
MESSAGE_FIELDS = (
    "channel_id",
    "message_id",
    "date",
    "edited",
    "kind",
    "author",
    "author_channel_id",
    "text",
    "forwarded_from",
    "forwarded_from_id",
    "saved_from",
    "reply_to",
    "links",
    "hashtags",
    "mentions",
    "media",
    "service_action",
    "action",
    "entities",
)


def iso(ts: int | None) -> str | None:
    """ISO 8601 UTC with a trailing Z, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iter_channels(store: Store) -> Iterator[dict[str, Any]]:
    c, m, t = schema.channels, schema.messages, schema.channel_titles
    with store.engine.connect() as conn:
        counts = {
            row.channel_id: (row.total, row.service)
            for row in conn.execute(
                sa.select(
                    m.c.channel_id,
                    sa.func.count().label("total"),
                    sa.func.sum(sa.case((m.c.kind == "service", 1), else_=0)).label("service"),
                ).group_by(m.c.channel_id)
            )
        }
        titles: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in conn.execute(sa.select(t).order_by(t.c.channel_id, t.c.at, t.c.id)):
            titles[row.channel_id].append(
                {
                    "title": row.title,
                    "at": iso(row.at),
                    "source": row.source,
                    "message_id": row.message_id,
                }
            )
        for row in conn.execute(sa.select(c).order_by(c.c.channel_id)):
            total, service = counts.get(row.channel_id, (0, 0))
            yield {
                "channel_id": row.channel_id,
                "platform": row.platform,
                "kind": row.kind,
                "type": row.source_type,
                "public": bool(row.public),
                "handle": row.handle,
                "title": row.title,
                "titles": titles.get(row.channel_id, []),
                "messages": int(total or 0),
                "service_messages": int(service or 0),
                "first_seen": iso(row.first_seen),
                "last_seen": iso(row.last_seen),
                "status": row.status,
            }


def pages(conn: sa.Connection, table: sa.Table, size: int) -> Iterator[list[sa.Row[Any]]]:
    """A table's rows in `id` order, `size` at a time (keyset paging: memory stays bounded)."""
    last = 0
    while rows := conn.execute(
        sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(size)
    ).all():
        last = rows[-1].id
        yield list(rows)


def iter_messages(store: Store, *, page: int = 5000) -> Iterator[dict[str, Any]]:
    """All messages in storage order, read page by page so memory stays bounded."""
    with store.engine.connect() as conn:
        for rows in pages(conn, schema.messages, page):
            low, high = rows[0].id, rows[-1].id
            links = _children(conn, schema.links, low, high, schema.links.c.position)
            tags = _children(conn, schema.message_tags, low, high, schema.message_tags.c.position)
            media = _children(
                conn, schema.message_media, low, high, schema.message_media.c.position
            )
            for row in rows:
                key = (row.channel_id, row.message_id)
                own_tags = tags.get(key, [])
                yield {
                    "channel_id": row.channel_id,
                    "message_id": row.message_id,
                    "date": iso(row.date),
                    "edited": iso(row.edited),
                    "kind": row.kind,
                    "author": row.author,
                    "author_channel_id": row.author_channel_id,
                    "text": row.text,
                    "forwarded_from": row.forwarded_from,
                    "forwarded_from_id": row.forwarded_from_id,
                    "saved_from": row.saved_from,
                    "reply_to": row.reply_to,
                    "links": [link.url for link in links.get(key, [])],
                    "hashtags": [t.tag for t in own_tags if t.kind == "hashtag"],
                    "mentions": [t.tag for t in own_tags if t.kind == "mention"],
                    "media": [
                        {
                            "kind": x.kind,
                            "role": x.role,
                            "path": x.path,
                            "status": x.status,
                            "sha256": x.sha256,
                            "mime": x.mime,
                            "size": x.size,
                            "width": x.width,
                            "height": x.height,
                        }
                        for x in media.get(key, [])
                    ],
                    "service_action": row.service_action,
                    "action": row.action,
                    "entities": row.entities or [],
                }


def _children(
    conn: sa.Connection, table: sa.Table, low: int, high: int, order: sa.ColumnElement[Any]
) -> dict[tuple[str, int], list[sa.Row[Any]]]:
    m = schema.messages
    query = (
        sa.select(table)
        .join(
            m, sa.and_(m.c.channel_id == table.c.channel_id, m.c.message_id == table.c.message_id)
        )
        .where(m.c.id.between(low, high))
        .order_by(order)
    )
    grouped: dict[tuple[str, int], list[sa.Row[Any]]] = defaultdict(list)
    for row in conn.execute(query):
        grouped[(row.channel_id, row.message_id)].append(row)
    return grouped


def write_rows(
    rows: Iterator[dict[str, Any]], fields: tuple[str, ...], fmt: str, out: IO[str]
) -> int:
    """Write rows as JSON Lines or CSV; returns how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(orjson.dumps(row).decode())
            out.write("\n")
            count += 1
        return count
    writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: orjson.dumps(v).decode() if isinstance(v, list | dict) else v
                for k, v in row.items()
            }
        )
        count += 1
    return count


SIGNAL_FIELDS = (
    "target",
    "detector",
    "detector_version",
    "score",
    "category",
    "explanation",
    "created_at",
)


def iter_signals(store: Store, *, page: int = 5000) -> Iterator[dict[str, Any]]:
    """Every signal, oldest first, with its target as an object."""
    with store.engine.connect() as conn:
        for rows in pages(conn, schema.signals, page):
            for row in rows:
                target: dict[str, Any] = {
                    "kind": row.target_kind,
                    "channel_id": row.channel_id,
                    "message_id": row.message_id,
                }
                if row.sha256 is not None:
                    target["sha256"] = row.sha256
                yield {
                    "target": target,
                    "detector": row.detector,
                    "detector_version": row.detector_version,
                    "score": row.score,
                    "category": row.category,
                    "explanation": row.explanation,
                    "created_at": iso(row.created_at),
                }


LINK_FIELDS = (
    "channel_id",
    "message_id",
    "date",
    "url",
    "normalized_url",
    "platform",
    "kind",
    "target",
    "source",
)


def iter_links(store: Store, *, page: int = 5000) -> Iterator[dict[str, Any]]:
    """Every classified link (filled by `undertow run`), in message storage order."""
    l = schema.message_links  # noqa: E741
    with store.engine.connect() as conn:
        for rows in pages(conn, schema.messages, page):
            found = _children(conn, l, rows[0].id, rows[-1].id, l.c.position)
            for row in rows:
                for link in found.get((row.channel_id, row.message_id), []):
                    yield {
                        "channel_id": link.channel_id,
                        "message_id": link.message_id,
                        "date": iso(row.date),
                        "url": link.url,
                        "normalized_url": link.normalized_url,
                        "platform": link.platform,
                        "kind": link.kind,
                        "target": link.target,
                        "source": link.source,
                    }
