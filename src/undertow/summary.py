"""A short account of what the store holds, for `undertow demo` and `undertow status`."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from undertow.store import Store, schema


@dataclass
class StoreSummary:
    """Counts a newcomer wants to see after an import."""

    channels_by_kind: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    service_messages: int = 0
    forwards: int = 0
    media_stored: int = 0
    media_missing: int = 0
    distinct_media: int = 0
    links: int = 0
    title_changes: int = 0
    top_hashtags: list[tuple[str, int]] = field(default_factory=list)
    top_forward_sources: list[tuple[str, int]] = field(default_factory=list)
    top_link_hosts: list[tuple[str, int]] = field(default_factory=list)


def summarise(store: Store, *, top: int = 5) -> StoreSummary:
    c, m, mm, t = schema.channels, schema.messages, schema.message_media, schema.message_tags
    out = StoreSummary()
    with store.engine.connect() as conn:
        out.channels_by_kind = {
            str(kind): int(n)
            for kind, n in conn.execute(sa.select(c.c.kind, sa.func.count()).group_by(c.c.kind))
        }
        out.messages = conn.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
        out.service_messages = conn.execute(
            sa.select(sa.func.count()).where(m.c.kind == "service")
        ).scalar_one()
        out.forwards = conn.execute(
            sa.select(sa.func.count()).where(m.c.forwarded_from.is_not(None))
        ).scalar_one()
        out.media_stored = conn.execute(
            sa.select(sa.func.count()).where(mm.c.status == "stored")
        ).scalar_one()
        out.media_missing = conn.execute(
            sa.select(sa.func.count()).where(mm.c.status != "stored", mm.c.path.is_not(None))
        ).scalar_one()
        out.distinct_media = conn.execute(
            sa.select(sa.func.count()).select_from(schema.media)
        ).scalar_one()
        out.links = conn.execute(sa.select(sa.func.count()).select_from(schema.links)).scalar_one()
        out.title_changes = conn.execute(
            sa.select(sa.func.count()).where(m.c.service_action == "edit_group_title")
        ).scalar_one()
        count = sa.func.count().label("n")
        out.top_hashtags = [
            (str(tag), int(n))
            for tag, n in conn.execute(
                sa.select(t.c.tag, count)
                .where(t.c.kind == "hashtag")
                .group_by(t.c.tag)
                .order_by(count.desc(), t.c.tag)
                .limit(top)
            )
        ]
        out.top_forward_sources = [
            (str(name), int(n))
            for name, n in conn.execute(
                sa.select(m.c.forwarded_from, count)
                .where(m.c.forwarded_from.is_not(None))
                .group_by(m.c.forwarded_from)
                .order_by(count.desc(), m.c.forwarded_from)
                .limit(top)
            )
        ]
        hosts: dict[str, int] = {}
        for (url,) in conn.execute(sa.select(schema.links.c.url)):
            host = _host(url)
            hosts[host] = hosts.get(host, 0) + 1
        out.top_link_hosts = sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return out


def _host(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else url.split(":", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return host.rsplit("@", 1)[-1].lower() or url
