"""Bulk, idempotent writes of canonical records inside one open transaction.

Messages are upserted by (channel_id, message_id) in batches: a re-import stores nothing
twice; a newer export updates what changed (an edited text keeps the previous version in
`message_edits`), and an older export never overwrites a newer edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa

from undertow.records import MEDIA_STORED, ChannelRecord, MessageRecord, TitleObservation
from undertow.store import schema
from undertow.store.bulk import BulkStatement, dialect_insert, json_text

MESSAGE_COLUMNS = (
    "channel_id",
    "message_id",
    "date",
    "kind",
    "author",
    "author_channel_id",
    "text",
    "entities",
    "edited",
    "forwarded_from",
    "forwarded_from_id",
    "saved_from",
    "reply_to",
    "service_action",
    "action",
    "extra",
    "ingested_at",
)
MEDIA_REF_COLUMNS = (
    "channel_id",
    "message_id",
    "position",
    "role",
    "kind",
    "path",
    "status",
    "sha256",
    "mime",
    "file_name",
    "size",
    "width",
    "height",
    "duration_s",
)


# Rendered inline: the bulk statements carry no bind parameters besides the row's columns.
_STORED: sa.ColumnElement[str] = sa.literal_column(f"'{MEDIA_STORED}'")


class RecordWriter:
    """Writes records through `conn`; the caller owns the transaction."""

    def __init__(self, conn: sa.Connection, *, batch_size: int = 2000) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.batch_size = batch_size
        self.now = int(time.time())
        self._pending: dict[tuple[str, int], MessageRecord] = {}
        self._titles: list[tuple[Any, ...]] = []
        self.channels: set[str] = set()
        # Channels this import creates have nothing stored to compare incoming messages with.
        self._new_channels: set[str] = set()
        self.messages = 0
        self.media_stored = 0
        self.media_missing = 0
        self._prepare()

    def _prepare(self) -> None:
        t, conn, dialect = schema, self.conn, self.dialect

        def messages() -> sa.Insert:
            ins = dialect_insert(dialect, t.messages)
            newer = sa.or_(
                t.messages.c.edited.is_(None),
                sa.and_(
                    ins.excluded.edited.is_not(None), ins.excluded.edited >= t.messages.c.edited
                ),
            )
            return ins.on_conflict_do_update(  # type: ignore[no-any-return]
                index_elements=["channel_id", "message_id"],
                # `ingested_at` keeps the first import's time.
                set_={name: ins.excluded[name] for name in MESSAGE_COLUMNS[2:-1]},
                where=newer,
            )

        def media_refs() -> sa.Insert:
            ref = dialect_insert(dialect, t.message_media)
            return ref.on_conflict_do_update(  # type: ignore[no-any-return]
                index_elements=["channel_id", "message_id", "position"],
                set_={name: ref.excluded[name] for name in MEDIA_REF_COLUMNS[3:]},
                # A file that was stored once is not forgotten by a later export without it.
                where=sa.or_(t.message_media.c.status != _STORED, ref.excluded.status == _STORED),
            )

        def ignore_duplicates(table: sa.Table, *key: str) -> Callable[[], sa.Insert]:
            return lambda: dialect_insert(dialect, table).on_conflict_do_nothing(
                index_elements=list(key)
            )

        self._messages = BulkStatement(conn, "messages", messages, MESSAGE_COLUMNS)
        self._media_refs = BulkStatement(conn, "message_media", media_refs, MEDIA_REF_COLUMNS)
        self._media = BulkStatement(
            conn,
            "media",
            ignore_duplicates(t.media, "sha256"),
            ("sha256", "size", "mime", "kind", "blob", "first_seen"),
        )
        self._links = BulkStatement(
            conn,
            "links",
            ignore_duplicates(t.links, "channel_id", "message_id", "position"),
            ("channel_id", "message_id", "position", "url"),
        )
        self._tags = BulkStatement(
            conn,
            "tags",
            ignore_duplicates(t.message_tags, "channel_id", "message_id", "kind", "tag"),
            ("channel_id", "message_id", "kind", "tag", "position"),
        )
        self._title_rows = BulkStatement(
            conn,
            "titles",
            ignore_duplicates(t.channel_titles, "channel_id", "at", "title", "source"),
            ("channel_id", "title", "at", "source", "message_id"),
        )

    # -- channels and titles --------------------------------------------------------------

    def add_channel(self, channel: ChannelRecord) -> None:
        self.flush()
        statements = _channel_statements(self.dialect)
        if self.conn.execute(statements["exists"], {"cid": channel.channel_id}).first() is None:
            self._new_channels.add(channel.channel_id)
        self.conn.execute(
            statements["upsert"],
            {
                "channel_id": channel.channel_id,
                "platform": channel.platform,
                "native_id": channel.native_id,
                "kind": channel.kind,
                "source_type": channel.source_type,
                "public": channel.public,
                "handle": channel.handle,
                "title": channel.title,
                "description": channel.description,
                "status": "active",
                "updated_at": self.now,
            },
        )
        self.channels.add(channel.channel_id)

    def add_title(self, title: TitleObservation) -> None:
        self._titles.append(
            (title.channel_id, title.title, title.at, title.source, title.message_id)
        )

    # -- messages -------------------------------------------------------------------------

    def add_message(self, message: MessageRecord) -> None:
        self._pending[(message.channel_id, message.message_id)] = message
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            batch = list(self._pending.values())
            self._pending.clear()
            self._write_messages(batch)
        if self._titles:
            self._title_rows.run(self._titles)
            self._titles = []

    def _write_messages(self, batch: Sequence[MessageRecord]) -> None:
        stale, replaced = self._compare_with_stored(batch)
        now = self.now
        self._messages.run(
            [
                (
                    m.channel_id,
                    m.message_id,
                    m.date,
                    m.kind,
                    m.author,
                    m.author_channel_id,
                    m.text,
                    json_text(m.entities) if m.entities else None,
                    m.edited,
                    m.forwarded_from,
                    m.forwarded_from_id,
                    m.saved_from,
                    m.reply_to,
                    m.service_action,
                    json_text(m.action),
                    json_text(m.extra),
                    now,
                )
                for m in batch
            ]
        )
        self.messages += len(batch)
        if replaced:
            for table in (schema.links, schema.message_tags):
                for channel_id, message_id in replaced:
                    self.conn.execute(
                        sa.delete(table).where(
                            table.c.channel_id == channel_id, table.c.message_id == message_id
                        )
                    )
        # A message whose stored version is a newer edit keeps its own links, tags and media.
        self._write_children(
            [m for m in batch if (m.channel_id, m.message_id) not in stale] if stale else batch
        )

    def _compare_with_stored(
        self, batch: Sequence[MessageRecord]
    ) -> tuple[set[tuple[str, int]], list[tuple[str, int]]]:
        """Which incoming messages are older than what is stored (stale), and which replace a
        stored text with a newer edit (whose old text is kept in `message_edits`)."""
        m = schema.messages
        stale: set[tuple[str, int]] = set()
        replaced: list[tuple[str, int]] = []
        by_channel: dict[str, dict[int, MessageRecord]] = {}
        for record in batch:
            by_channel.setdefault(record.channel_id, {})[record.message_id] = record
        for channel_id, records in by_channel.items():
            if channel_id in self._new_channels:
                continue
            # Only rows that were ever edited, or that an incoming edit replaces, matter here.
            edited_ids = [i for i, r in records.items() if r.edited is not None]
            condition: sa.ColumnElement[bool] = m.c.edited.is_not(None)
            if edited_ids:
                condition = sa.or_(condition, m.c.message_id.in_(edited_ids))
            query = sa.select(m.c.message_id, m.c.edited, m.c.text).where(
                m.c.channel_id == channel_id,
                m.c.message_id.between(min(records), max(records)),
                condition,
            )
            for message_id, stored_edit, text in self.conn.execute(query):
                incoming = records.get(message_id)
                if incoming is None:
                    continue
                if stored_edit is not None and (
                    incoming.edited is None or incoming.edited < stored_edit
                ):
                    stale.add((channel_id, message_id))
                elif (
                    incoming.edited is not None
                    and incoming.edited != stored_edit
                    and text != incoming.text
                ):
                    replaced.append((channel_id, message_id))
                    self.conn.execute(
                        sa.insert(schema.message_edits).values(
                            channel_id=channel_id,
                            message_id=message_id,
                            edited=stored_edit,
                            text=text,
                            replaced_at=self.now,
                        )
                    )
        return stale, replaced

    def _write_children(self, batch: Sequence[MessageRecord]) -> None:
        media_refs: list[tuple[Any, ...]] = []
        blobs: dict[str, tuple[Any, ...]] = {}
        links: list[tuple[Any, ...]] = []
        tags: list[tuple[Any, ...]] = []
        for m in batch:
            cid, mid = m.channel_id, m.message_id
            for ref in m.media:
                media_refs.append(
                    (
                        cid,
                        mid,
                        ref.position,
                        ref.role,
                        ref.kind,
                        ref.path,
                        ref.status,
                        ref.sha256,
                        ref.mime,
                        ref.file_name,
                        ref.size,
                        ref.width,
                        ref.height,
                        ref.duration_s,
                    )
                )
                if ref.sha256 is not None:
                    self.media_stored += 1
                    if ref.sha256 not in blobs:
                        blob = f"sha256/{ref.sha256[:2]}/{ref.sha256[2:4]}/{ref.sha256}"
                        blobs[ref.sha256] = (
                            ref.sha256,
                            ref.size or 0,
                            ref.mime,
                            ref.kind,
                            blob,
                            self.now,
                        )
                elif ref.path is not None:
                    self.media_missing += 1
            for i, url in enumerate(m.links):
                links.append((cid, mid, i, url))
            for i, tag in enumerate(m.hashtags):
                tags.append((cid, mid, "hashtag", tag, i))
            for i, tag in enumerate(m.mentions):
                tags.append((cid, mid, "mention", tag, i))
        self._media.run(list(blobs.values()))
        self._media_refs.run(media_refs)
        self._links.run(links)
        self._tags.run(tags)

    # -- end of an import -----------------------------------------------------------------

    def finish(self) -> None:
        """Flush, then refresh each touched channel's current title and first/last seen."""
        self.flush()
        statements = _channel_statements(self.dialect)
        for channel_id in self.channels:
            params = {"cid": channel_id}
            first, last = self.conn.execute(statements["span"], params).one()
            latest = self.conn.execute(statements["latest_title"], params).scalar()
            self.conn.execute(
                statements["refresh"], {**params, "first": first, "last": last, "title": latest}
            )


@cache
def _channel_statements(dialect: str) -> dict[str, Any]:
    """Per-channel statements, built once (SQLAlchemy then reuses their compiled form)."""
    c, m, ti = schema.channels, schema.messages, schema.channel_titles
    cid: sa.BindParameter[str] = sa.bindparam("cid")
    ins = dialect_insert(dialect, c)
    update = {k: ins.excluded[k] for k in ("kind", "source_type", "public", "updated_at")}
    update["handle"] = sa.func.coalesce(ins.excluded.handle, c.c.handle)
    update["description"] = sa.func.coalesce(ins.excluded.description, c.c.description)
    return {
        "exists": sa.select(c.c.channel_id).where(c.c.channel_id == cid),
        # Only a real change touches the row, so re-importing the same export changes nothing.
        "upsert": ins.on_conflict_do_update(
            index_elements=["channel_id"],
            set_=update,
            where=sa.or_(
                *(
                    c.c[k].is_distinct_from(ins.excluded[k])
                    for k in ("kind", "source_type", "public")
                ),
                *(
                    ins.excluded[k].is_not(None) & c.c[k].is_distinct_from(ins.excluded[k])
                    for k in ("handle", "description")
                ),
            ),
        ),
        "span": sa.select(sa.func.min(m.c.date), sa.func.max(m.c.date)).where(
            m.c.channel_id == cid
        ),
        "latest_title": sa.select(ti.c.title)
        .where(ti.c.channel_id == cid)
        .order_by(ti.c.at.desc(), ti.c.id.desc())
        .limit(1),
        "refresh": sa.update(c)
        .where(c.c.channel_id == cid)
        .values(
            first_seen=sa.bindparam("first"),
            last_seen=sa.bindparam("last"),
            title=sa.func.coalesce(sa.bindparam("title", type_=sa.Text), c.c.title),
        ),
    }
