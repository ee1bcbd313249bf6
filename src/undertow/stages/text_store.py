"""What the text stage writes per batch: classified links, per-message features and scores,
and the channels' running text statistics, each as one bulk upsert."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from undertow.records import ChannelContext, TextItem
from undertow.store import schema
from undertow.store.bulk import BulkStatement, dialect_insert


def _upsert(
    conn: sa.Connection, table: sa.Table, key: Sequence[str], columns: Sequence[str]
) -> Callable[[], Any]:
    def build() -> Any:
        insert = dialect_insert(conn.dialect.name, table)
        return insert.on_conflict_do_update(
            index_elements=list(key),
            set_={name: insert.excluded[name] for name in columns if name not in key},
        )

    return build


_LINK_COLUMNS = (
    "channel_id",
    "message_id",
    "position",
    "url",
    "normalized_url",
    "platform",
    "kind",
    "target",
    "source",
)
_FEATURE_COLUMNS = (
    "channel_id",
    "message_id",
    "language",
    "classifier",
    "indicator_weight",
    "propaganda",
)
_STAT_COLUMNS = ("channel_id", "messages", "marked", "classifier_sum", "title_weight", "updated_at")


def write_links(conn: sa.Connection, items: Sequence[TextItem]) -> int:
    rows = [
        (
            item.channel_id,
            item.message_id,
            position,
            link.url,
            link.normalized_url,
            link.platform,
            link.kind,
            link.target,
            link.source,
        )
        for item in items
        for position, link in enumerate(item.links)
    ]
    build = _upsert(conn, schema.message_links, _LINK_COLUMNS[:3], _LINK_COLUMNS)
    BulkStatement(conn, "message_links", build, _LINK_COLUMNS).run(rows)
    return len(rows)


def write_features(conn: sa.Connection, items: Sequence[TextItem], scores: Sequence[float]) -> None:
    rows = [
        (
            item.channel_id,
            item.message_id,
            item.language,
            item.classifier,
            max((hit.rule.weight for hit in item.hits), default=0.0),
            score,
        )
        for item, score in zip(items, scores, strict=True)
    ]
    build = _upsert(conn, schema.text_features, _FEATURE_COLUMNS[:2], _FEATURE_COLUMNS)
    BulkStatement(conn, "text_features", build, _FEATURE_COLUMNS).run(rows)


def write_stats(conn: sa.Connection, contexts: dict[str, ChannelContext]) -> None:
    now = int(time.time())
    rows = [
        (c.channel_id, c.messages, c.marked, c.classifier_sum, c.title_weight, now)
        for c in contexts.values()
    ]
    build = _upsert(conn, schema.channel_text_stats, _STAT_COLUMNS[:1], _STAT_COLUMNS)
    BulkStatement(conn, "channel_text_stats", build, _STAT_COLUMNS).run(rows)
