"""The simulator's in-memory vocabulary: planned channels, events to write, and written posts.

Only one chat's events and one network's source posts are ever held at a time, which is what
keeps memory bounded at any scale.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from undertow.simulate.text import Part


@dataclass(slots=True)
class Channel:
    """A planned chat: identity, title history and ground-truth labels; counters fill in as
    its export is written."""

    export_id: int
    chat_type: str
    role: str
    propaganda: bool
    network_id: str | None
    handle: str | None
    titles: list[tuple[int, str]]
    banned_at: int | None = None
    first_post: int | None = None
    last_post: int | None = None
    messages: int = 0

    @property
    def channel_id(self) -> str:
        return f"telegram:{self.export_id}"

    @property
    def slug(self) -> str:
        # Neutral folder names: the role must not leak into what a detector reads.
        return f"chat-{self.export_id}"

    @property
    def final_title(self) -> str:
        return self.titles[-1][1]

    def title_at(self, ts: int) -> str:
        starts = [since for since, _ in self.titles]
        index = max(0, bisect.bisect_right(starts, ts) - 1)
        return self.titles[index][1]


@dataclass(frozen=True, slots=True)
class SourcePost:
    """A written regular message that other chats may forward or copy."""

    channel_id: str
    message_id: int
    ts: int
    parts: tuple[Part, ...]
    image_id: str | None
    # What `forwarded_from` shows when this is forwarded: the original author's title at the
    # original time, which Telegram keeps through forward chains.
    forward_title: str
    root: tuple[str, int]
    propaganda: bool


@dataclass(frozen=True, slots=True)
class Migration:
    """A link to a destination off (or back onto) Telegram that a message carries."""

    platform: str
    url: str
    # Shared by every post of one network-wide move; None for one-off links.
    move_id: str | None = None


@dataclass(slots=True)
class Event:
    """One message to write; ids are assigned by the writer after sorting by time."""

    ts: int
    parts: list[Part] = field(default_factory=list)
    propaganda: bool = False
    image_id: str | None = None
    style: int | None = None
    origin: SourcePost | None = None
    method: str | None = None
    action: str | None = None
    new_title: str | None = None
    author: tuple[str, int] | None = None
    edited_after: int | None = None
    tag: str | None = None
    migrations: tuple[Migration, ...] = ()


@dataclass(slots=True)
class ChatResult:
    """What later steps need from a written chat."""

    posts: list[SourcePost]
    tags: dict[str, int]
