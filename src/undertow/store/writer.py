"""Bulk, idempotent writes of canonical records inside one open transaction.

Messages are upserted by (channel_id, message_id) in batches: a re-import stores nothing
twice; a newer export updates what changed (an edited text keeps the previous version in
`message_edits`), and an older export never overwrites a newer edit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from undertow.records import MEDIA_STORED, ChannelRecord, MessageRecord, TitleObservation
from undertow.store import schema

_MUTABLE = (
    "date", "kind", "author", "author_channel_id", "text", "entities", "edited", "forwarded_from",
    "forwarded_from_id", "saved_from", "reply_to", "service_action", "action", "extra",
)  # fmt: skip


def _insert(dialect: str, table: sa.Table) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


class RecordWriter:
    """Writes records through `conn`; the caller owns the transaction."""

    def __init__(self, conn: sa.Connection, *, batch_size: int = 2000) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.batch_size = batch_size
        self.now = int(time.time())
        self._pending: dict[tuple[str, int], MessageRecord] = {}
        self._titles: list[dict[str, Any]] = []
        self.channels: set[str] = set()
        self.messages = 0
        self.media_stored = 0
        self.media_missing = 0
        self._statements = self._prepare()

    def _prepare(self) -> dict[str, Any]:
        t = schema
        ins = _insert(self.dialect, t.messages)
        newer = sa.or_(
            t.messages.c.edited.is_(None),
            sa.and_(ins.excluded.edited.is_not(None), ins.excluded.edited >= t.messages.c.edited),
        )
        media_ref = _insert(self.dialect, t.message_media)
        return {
            "messages": ins.on_conflict_do_update(
                index_elements=["channel_id", "message_id"],
                set_={name: ins.excluded[name] for name in _MUTABLE},
                where=newer,
            ),
            "message_media": media_ref.on_conflict_do_update(
                index_elements=["channel_id", "message_id", "position"],
                set_={
                    name: media_ref.excluded[name]
                    for name in ("role", "kind", "path", "status", "sha256", "mime", "file_name", "size", "width", "height", "duration_s")
                },
                # A file that was stored once is not forgotten by a later export without it.
                where=sa.or_(t.message_media.c.status != MEDIA_STORED, media_ref.excluded.status == MEDIA_STORED),
            ),
            "media": _insert(self.dialect, t.media).on_conflict_do_nothing(index_elements=["sha256"]),
            "links": _insert(self.dialect, t.links).on_conflict_do_nothing(
                index_elements=["channel_id", "message_id", "position"]
            ),
            "tags": _insert(self.dialect, t.message_tags).on_conflict_do_nothing(
                index_elements=["channel_id", "message_id", "kind", "tag"]
            ),
            "titles": _insert(self.dialect, t.channel_titles).on_conflict_do_nothing(
                index_elements=["channel_id", "at", "title", "source"]
            ),
        }

    # -- channels and titles --------------------------------------------------------------

    def add_channel(self, channel: ChannelRecord) -> None:
        self.flush()
        ins = _insert(self.dialect, schema.channels)
        values = {
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
        }
        keep = {"kind", "source_type", "public", "updated_at"}
        update = {k: ins.excluded[k] for k in keep}
        update["handle"] = sa.func.coalesce(ins.excluded.handle, schema.channels.c.handle)
        update["description"] = sa.func.coalesce(ins.excluded.description, schema.channels.c.description)
        self.conn.execute(ins.values(values).on_conflict_do_update(index_elements=["channel_id"], set_=update))
        self.channels.add(channel.channel_id)

    def add_title(self, title: TitleObservation) -> None:
        self._titles.append(
            {"channel_id": title.channel_id, "title": title.title, "at": title.at, "source": title.source, "message_id": title.message_id}
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
            self.conn.execute(self._statements["titles"], self._titles)
            self._titles = []

    def _write_messages(self, batch: Sequence[MessageRecord]) -> None:
        changed = self._keep_previous_versions([m for m in batch if m.edited is not None])
        rows = [
            {
                "channel_id": m.channel_id,
                "message_id": m.message_id,
                "date": m.date,
                "kind": m.kind,
                "author": m.author,
                "author_channel_id": m.author_channel_id,
                "text": m.text,
                "entities": m.entities or None,
                "edited": m.edited,
                "forwarded_from": m.forwarded_from,
                "forwarded_from_id": m.forwarded_from_id,
                "saved_from": m.saved_from,
                "reply_to": m.reply_to,
                "service_action": m.service_action,
                "action": m.action,
                "extra": m.extra,
                "ingested_at": self.now,
            }
            for m in batch
        ]
        self.conn.execute(self._statements["messages"], rows)
        self.messages += len(rows)
        if changed:
            self._forget_children(changed)
        self._write_children(batch)

    def _keep_previous_versions(self, edited: Sequence[MessageRecord]) -> list[tuple[str, int]]:
        """Save the stored text of messages whose incoming version is a newer edit."""
        if not edited:
            return []
        m = schema.messages
        by_key = {(r.channel_id, r.message_id): r for r in edited}
        changed: list[tuple[str, int]] = []
        for channel_id in {r.channel_id for r in edited}:
            ids = [r.message_id for r in edited if r.channel_id == channel_id]
            query = sa.select(m.c.message_id, m.c.text, m.c.edited).where(
                m.c.channel_id == channel_id, m.c.message_id.in_(ids)
            )
            for message_id, text, previous_edit in self.conn.execute(query):
                incoming = by_key[(channel_id, message_id)]
                newer = previous_edit is None or (incoming.edited or 0) > previous_edit
                if newer and text != incoming.text:
                    changed.append((channel_id, message_id))
                    self.conn.execute(
                        sa.insert(schema.message_edits).values(
                            channel_id=channel_id, message_id=message_id, edited=previous_edit, text=text, replaced_at=self.now
                        )
                    )
        return changed

    def _forget_children(self, keys: Iterable[tuple[str, int]]) -> None:
        for table in (schema.links, schema.message_tags):
            for channel_id, message_id in keys:
                self.conn.execute(sa.delete(table).where(table.c.channel_id == channel_id, table.c.message_id == message_id))

    def _write_children(self, batch: Sequence[MessageRecord]) -> None:
        media_refs: list[dict[str, Any]] = []
        blobs: dict[str, dict[str, Any]] = {}
        links: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        for m in batch:
            key = {"channel_id": m.channel_id, "message_id": m.message_id}
            for ref in m.media:
                media_refs.append(
                    key | {
                        "position": ref.position, "role": ref.role, "kind": ref.kind, "path": ref.path,
                        "status": ref.status, "sha256": ref.sha256, "mime": ref.mime,
                        "file_name": ref.file_name, "size": ref.size, "width": ref.width,
                        "height": ref.height, "duration_s": ref.duration_s,
                    }
                )  # fmt: skip
                if ref.sha256 is not None:
                    self.media_stored += 1
                    blobs.setdefault(
                        ref.sha256,
                        {
                            "sha256": ref.sha256, "size": ref.size or 0, "mime": ref.mime, "kind": ref.kind,
                            "blob": f"sha256/{ref.sha256[:2]}/{ref.sha256[2:4]}/{ref.sha256}",
                            "first_seen": self.now,
                        },
                    )  # fmt: skip
                elif ref.path is not None:
                    self.media_missing += 1
            links.extend(key | {"position": i, "url": url} for i, url in enumerate(m.links))
            tags.extend(key | {"kind": "hashtag", "tag": tag} for tag in m.hashtags)
            tags.extend(key | {"kind": "mention", "tag": tag} for tag in m.mentions)
        if blobs:
            self.conn.execute(self._statements["media"], list(blobs.values()))
        if media_refs:
            self.conn.execute(self._statements["message_media"], media_refs)
        if links:
            self.conn.execute(self._statements["links"], links)
        if tags:
            self.conn.execute(self._statements["tags"], tags)

    # -- end of an import -----------------------------------------------------------------

    def finish(self) -> None:
        """Flush, then refresh each touched channel's current title and first/last seen."""
        self.flush()
        c, m, ti = schema.channels, schema.messages, schema.channel_titles
        for channel_id in self.channels:
            span = self.conn.execute(
                sa.select(sa.func.min(m.c.date), sa.func.max(m.c.date)).where(m.c.channel_id == channel_id)
            ).one()
            latest = self.conn.execute(
                sa.select(ti.c.title).where(ti.c.channel_id == channel_id).order_by(ti.c.at.desc(), ti.c.id.desc()).limit(1)
            ).scalar()
            values: dict[str, Any] = {"first_seen": span[0], "last_seen": span[1]}
            if latest is not None:
                values["title"] = latest
            self.conn.execute(sa.update(c).where(c.c.channel_id == channel_id).values(**values))
