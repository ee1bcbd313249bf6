"""Rebrands and sleepers: a channel changes its name, and what it posts changes with it.

Every change of title in a channel's history (service messages, and the title seen at export
when it differs from the last one known) is a rebrand event.  Its evidence compares the
channel's posts before and after: how many, their mean combined propaganda score, the share
scored as propaganda, and when the first such post came.  A channel that posted harmless
content under one name and propaganda under the next is a *sleeper*; a change of photo
within a day of the new title is noted too (sleepers change both).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from undertow.store import schema

WINDOW = 50
"""Posts compared on each side of a title change."""
FLAGGED = 0.5
"""Combined score at which a post counts as propaganda."""
DAY = 86_400


@dataclass
class Rebrand:
    channel_id: str
    at: int
    from_title: str
    to_title: str
    message_id: int | None
    kind: str = "rename"
    evidence: dict[str, Any] = field(default_factory=dict)


def find_rebrands(conn: sa.Connection) -> list[Rebrand]:
    """Every title change in the store, with the content before and after it."""
    t = schema.channel_titles
    history: dict[str, list[Any]] = {}
    for row in conn.execute(sa.select(t).order_by(t.c.channel_id, t.c.at, t.c.id)):
        history.setdefault(row.channel_id, []).append(row)
    events: list[Rebrand] = []
    for channel_id, rows in history.items():
        last: Any = None
        for row in rows:
            if last is not None and row.title != last.title:
                events.append(Rebrand(channel_id, row.at, last.title, row.title, row.message_id))
                if row.source == "export":
                    events[-1].evidence["when"] = "title first seen at export; change time unknown"
            last = row
    if events:
        _add_content_evidence(conn, events)
    return events


def _add_content_evidence(conn: sa.Connection, events: list[Rebrand]) -> None:
    m, f = schema.messages, schema.text_features
    wanted = sorted({event.channel_id for event in events})
    posts: dict[str, list[tuple[int, float]]] = {}
    photos: dict[str, list[int]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = (
            sa.select(m.c.channel_id, m.c.date, m.c.service_action, f.c.propaganda)
            .outerjoin(
                f, sa.and_(f.c.channel_id == m.c.channel_id, f.c.message_id == m.c.message_id)
            )
            .where(m.c.channel_id.in_(chunk))
            .order_by(m.c.channel_id, m.c.date, m.c.message_id)
        )
        for channel_id, date, action, score in conn.execute(query):
            if action == "edit_group_photo":
                photos.setdefault(channel_id, []).append(date)
            elif score is not None:
                posts.setdefault(channel_id, []).append((date, score))
    for event in events:
        timeline = posts.get(event.channel_id, [])
        split = bisect_left(timeline, (event.at, -1.0))
        before = timeline[max(0, split - WINDOW) : split]
        after = timeline[split : split + WINDOW]
        first_flagged = next((date for date, score in after if score >= FLAGGED), None)
        photo = [d for d in photos.get(event.channel_id, []) if abs(d - event.at) <= DAY]
        event.evidence.update(
            before=_side(before),
            after=_side(after),
            first_flagged_after=first_flagged,
            photo_changed_at=photo[0] if photo else None,
        )
        if (
            len(before) >= 3
            and event.evidence["before"]["flagged_share"] < 0.2
            and event.evidence["after"]["flagged_share"] >= 0.5
        ):
            event.kind = "sleeper"
        event.evidence["kind"] = event.kind
        event.evidence["summary"] = _summary(event)


def _side(posts: list[tuple[int, float]]) -> dict[str, Any]:
    if not posts:
        return {"posts": 0, "mean_score": None, "flagged_share": 0.0}
    scores = [score for _, score in posts]
    return {
        "posts": len(posts),
        "mean_score": round(sum(scores) / len(scores), 3),
        "flagged_share": round(sum(s >= FLAGGED for s in scores) / len(scores), 3),
    }


def _summary(event: Rebrand) -> str:
    before, after = event.evidence["before"], event.evidence["after"]
    text = (
        f"renamed from {event.from_title!r} to {event.to_title!r}; "
        f"{before['flagged_share']:.0%} of {before['posts']} posts before and "
        f"{after['flagged_share']:.0%} of {after['posts']} after scored as propaganda"
    )
    if event.evidence.get("photo_changed_at") is not None:
        text += "; the photo changed too"
    if event.kind == "sleeper":
        text = "sleeper: " + text
    return text
