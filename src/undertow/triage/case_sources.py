"""What becomes a case (`cases.py` scores and stores them): groups of copies holding a
signal (item cases), channels the channel-level analysis flags, and group members whose own
posts carry signals (account cases)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from undertow.store import schema

MIN_ACCOUNT_SIGNALS = 2  # signalled messages of one account before it gets a case of its own
ItemKey = tuple[str, int]


@dataclass
class CaseDraft:
    case_id: str
    kind: str
    channel_id: str
    message_id: int | None
    items: list[ItemKey] = field(default_factory=list)
    signals: list[Any] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


class _Groups:
    """Union-find over message keys."""

    def __init__(self) -> None:
        self.parent: dict[ItemKey, ItemKey] = {}

    def find(self, key: ItemKey) -> ItemKey:
        parent = self.parent.setdefault(key, key)
        if parent != key:
            root = self.find(parent)
            self.parent[key] = root
            return root
        return key

    def join(self, a: ItemKey, b: ItemKey) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def load_signals(conn: sa.Connection) -> list[Any]:
    """Every stored signal (the fields cases need)."""
    s = schema.signals
    return list(
        conn.execute(
            sa.select(s.c.id, s.c.detector, s.c.key, s.c.target_kind, s.c.channel_id,
                      s.c.message_id, s.c.sha256, s.c.score, s.c.category, s.c.explanation)
        )
    )  # fmt: skip


def item_drafts(conn: sa.Connection, all_signals: list[Any]) -> tuple[list[CaseDraft], int]:
    """Item cases: groups of copies holding a signal; and how many messages were signalled."""
    signals = [row for row in all_signals if row.target_kind in ("message", "media")]
    groups = _Groups()
    by_item: dict[ItemKey, list[Any]] = defaultdict(list)
    mm = schema.message_media
    by_media: dict[str, list[Any]] = defaultdict(list)
    for row in signals:
        if row.target_kind == "media" and row.sha256:
            by_media[row.sha256].append(row)
    for sha, media_signals in by_media.items():
        posts = conn.execute(
            sa.select(mm.c.channel_id, mm.c.message_id).where(mm.c.sha256 == sha)
        ).all()
        keys = [(row.channel_id, int(row.message_id)) for row in posts]
        for key in keys:
            groups.join(keys[0], key)
        if keys:
            by_item[keys[0]].extend(media_signals)
    for row in signals:
        if row.target_kind == "message" and row.channel_id and row.message_id is not None:
            key = (row.channel_id, int(row.message_id))
            groups.find(key)
            by_item[key].append(row)
    signalled = len(by_item)
    _join_text_copies(conn, groups)
    members: dict[ItemKey, list[ItemKey]] = defaultdict(list)
    for key in list(groups.parent):
        members[groups.find(key)].append(key)
    dates = _dates(conn, groups.parent)
    drafts = []
    for items in members.values():
        found = [signal for item in items for signal in by_item.get(item, ())]
        if not found:
            continue
        items.sort(key=lambda key: (dates.get(key, 0), key))
        first = items[0]
        drafts.append(
            CaseDraft(
                case_id=f"item:{first[0]}:{first[1]}",
                kind="item",
                channel_id=first[0],
                message_id=first[1],
                items=items,
                signals=found,
            )
        )
    return drafts, signalled


def _join_text_copies(conn: sa.Connection, groups: _Groups) -> None:
    """Join near-duplicate copies of the signalled messages (and copies of copies)."""
    m, tc = schema.messages, schema.text_copies
    ids: dict[int, ItemKey] = {}
    wanted = list(groups.parent)
    for start in range(0, len(wanted), 500):
        keys = wanted[start : start + 500]
        condition = sa.or_(*[sa.and_(m.c.channel_id == c, m.c.message_id == n) for c, n in keys])
        for row in conn.execute(sa.select(m.c.id, m.c.channel_id, m.c.message_id).where(condition)):
            ids[int(row.id)] = (row.channel_id, int(row.message_id))
    frontier = set(ids)
    seen = set(ids)
    while frontier:
        batch = list(frontier)
        frontier = set()
        pairs: list[tuple[int, int]] = []
        for start in range(0, len(batch), 500):
            numbers = batch[start : start + 500]
            pairs += [
                (int(a), int(b))
                for a, b in conn.execute(
                    sa.select(tc.c.id_a, tc.c.id_b).where(
                        sa.or_(tc.c.id_a.in_(numbers), tc.c.id_b.in_(numbers))
                    )
                )
            ]
        fresh = {n for pair in pairs for n in pair if n not in seen}
        fresh_list = sorted(fresh)
        for start in range(0, len(fresh_list), 500):
            for row in conn.execute(
                sa.select(m.c.id, m.c.channel_id, m.c.message_id).where(
                    m.c.id.in_(fresh_list[start : start + 500])
                )
            ):
                ids[int(row.id)] = (row.channel_id, int(row.message_id))
        seen |= fresh
        frontier = fresh
        for a, b in pairs:
            if a in ids and b in ids:
                groups.join(ids[a], ids[b])


def _dates(conn: sa.Connection, keys: Iterable[ItemKey]) -> dict[ItemKey, int]:
    m = schema.messages
    by_channel: dict[str, list[int]] = defaultdict(list)
    for channel, number in keys:
        by_channel[channel].append(number)
    out: dict[ItemKey, int] = {}
    for channel, numbers in by_channel.items():
        for start in range(0, len(numbers), 500):
            for row in conn.execute(
                sa.select(m.c.message_id, m.c.date).where(
                    m.c.channel_id == channel, m.c.message_id.in_(numbers[start : start + 500])
                )
            ):
                out[(channel, int(row.message_id))] = int(row.date or 0)
    return out


def channel_drafts(conn: sa.Connection, signals: list[Any]) -> list[CaseDraft]:
    drafts: dict[str, CaseDraft] = {}

    def draft(channel_id: str) -> CaseDraft:
        if channel_id not in drafts:
            drafts[channel_id] = CaseDraft(f"channel:{channel_id}", "channel", channel_id, None)
        return drafts[channel_id]

    for row in signals:
        if row.target_kind == "channel" and row.channel_id:
            draft(row.channel_id).signals.append(row)
    flagged = set(drafts)
    networks = {
        row.network_id: row.propaganda
        for row in conn.execute(
            sa.select(schema.networks.c.network_id, schema.networks.c.propaganda)
        )
    }
    mp = schema.mirror_pairs
    for row in conn.execute(
        sa.select(mp.c.channel_id, mp.c.source_id, mp.c.share, mp.c.network_id)
    ):
        score = networks.get(row.network_id) or 0.0
        if score >= 0.5 or row.source_id in flagged:
            draft(row.channel_id).reasons.append(
                f"mirrors {row.source_id} ({row.share:.0%} of its posts; network "
                f"{row.network_id}, propaganda {score:.2f})"
            )
    ll = schema.lineage_links
    for row in conn.execute(sa.select(ll.c.from_id, ll.c.to_id, ll.c.score)):
        if row.from_id in drafts or row.to_id in drafts:
            draft(row.to_id).reasons.append(
                f"re-creation of {row.from_id} (lineage link, score {row.score:.2f})"
            )
    rb = schema.rebrands
    for row in conn.execute(sa.select(rb.c.channel_id, rb.c.from_title, rb.c.to_title)):
        if row.channel_id in drafts:
            draft(row.channel_id).reasons.append(
                f"rebranded from {row.from_title!r} to {row.to_title!r}"
            )
    return list(drafts.values())


def account_drafts(conn: sa.Connection, signals: list[Any]) -> list[CaseDraft]:
    """Accounts (pseudonymised authors in groups) whose own messages carry signals at least
    `MIN_ACCOUNT_SIGNALS` times: the person, not only the posts, may need action."""
    m, ch = schema.messages, schema.channels
    wanted = {
        (row.channel_id, int(row.message_id))
        for row in signals
        if row.target_kind == "message" and row.channel_id and row.message_id is not None
    }
    groups = {
        channel_id
        for (channel_id,) in conn.execute(sa.select(ch.c.channel_id).where(ch.c.kind != "channel"))
    }
    by_author: dict[str, list[Any]] = defaultdict(list)
    numbers: dict[str, list[int]] = defaultdict(list)
    for channel_id, number in wanted:
        if channel_id in groups:
            numbers[channel_id].append(number)
    for channel_id, chunk in numbers.items():
        query = sa.select(m.c.message_id, m.c.author).where(
            m.c.channel_id == channel_id, m.c.message_id.in_(chunk), m.c.author.is_not(None)
        )
        authors = {int(row.message_id): str(row.author) for row in conn.execute(query)}
        for row in signals:
            if row.channel_id == channel_id and row.message_id in authors:
                by_author[authors[row.message_id]].append(row)
    drafts = []
    for author, found in sorted(by_author.items()):
        messages = {(row.channel_id, row.message_id) for row in found}
        if len(messages) < MIN_ACCOUNT_SIGNALS:
            continue
        channels = sorted({channel for channel, _ in messages})
        draft = CaseDraft(f"account:{author}", "account", channels[0], None, signals=found)
        draft.reasons.append(
            f"posted {len(messages)} signalled messages in {len(channels)} group(s): "
            + ", ".join(channels[:5])
        )
        drafts.append(draft)
    return drafts
