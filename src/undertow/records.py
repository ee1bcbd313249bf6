"""Canonical records every source yields and the store keeps, whatever platform they came from.

Sources build these plain dataclasses; the store maps them to rows.  People never appear by
name or raw id: `author` and actor fields already hold keyed pseudonyms when a record is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from undertow.enrich.links import Link
    from undertow.enrich.rules import RuleHit

MEDIA_STORED = "stored"
"""The file was present beside the export; it is hashed and copied into the evidence store."""
MEDIA_MISSING = "missing"
"""The export names a file that is not there."""
MEDIA_NOT_INCLUDED = "not_included"
"""The exporter wrote a "(File not included...)" style placeholder instead of a path."""
MEDIA_PENDING = "pending"
"""Found beside the export but not hashed yet: `source_path` says where (see `ImportContext`)."""
MEDIA_REJECTED = "rejected"
"""The path points outside the export folder (or is otherwise unsafe) and was not read."""


@dataclass(slots=True)
class ChannelRecord:
    """A channel, group or chat as one export or collector saw it."""

    platform: str
    native_id: str
    channel_id: str
    kind: str
    title: str | None
    public: bool
    source_type: str | None = None
    handle: str | None = None
    description: str | None = None


@dataclass(slots=True)
class TitleObservation:
    """A title a channel had from `at` (unix seconds): from a service message or an export."""

    channel_id: str
    title: str
    at: int
    source: str
    message_id: int | None = None


@dataclass(slots=True)
class MediaRef:
    """One media item a message refers to; `sha256` is set only when the file was stored."""

    position: int
    role: str
    kind: str
    path: str | None
    status: str
    sha256: str | None = None
    mime: str | None = None
    file_name: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration_s: int | None = None
    source_path: str | None = None
    """Where a pending file lies on disk; used while importing, never stored."""


@dataclass(slots=True)
class MessageRecord:
    """One message or service event in a channel, with everything ingest extracts from it."""

    channel_id: str
    message_id: int
    date: int
    kind: str
    text: str
    entities: list[dict[str, str]] = field(default_factory=list)
    author: str | None = None
    author_channel_id: str | None = None
    edited: int | None = None
    forwarded_from: str | None = None
    forwarded_from_id: str | None = None
    saved_from: str | None = None
    reply_to: int | None = None
    service_action: str | None = None
    action: dict[str, Any] | None = None
    media: list[MediaRef] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class MediaItem:
    """One occurrence of a hashed media file in a message: what media detectors look at."""

    channel_id: str
    message_id: int
    sha256: str
    md5: str
    pdq: str | None = None
    pdq_dihedral: list[str] | None = None
    vpdq: list[tuple[str, int]] | None = None
    """Video frames as (PDQ hex, quality)."""


@dataclass(slots=True)
class Signal:
    """One detector's finding on one target, with an explanation a reviewer can read.

    `key` identifies the finding so that re-running a detector updates rather than repeats it.
    """

    detector: str
    version: str
    key: str
    target_kind: str
    score: float
    explanation: dict[str, Any]
    category: str | None = None
    channel_id: str | None = None
    message_id: int | None = None
    sha256: str | None = None


@dataclass(slots=True)
class TextItem:
    """A message as the text detectors see it: its text, and what enrichment found in it.

    The text stage fills `language`, `links`, `hits` (indicator rule hits in the text, its
    links and the title of the channel it was forwarded from) and `classifier` (the text
    model's probability), plus the channel context the combined score weighs it in.
    """

    channel_id: str
    message_id: int
    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    forwarded_from: str | None = None
    language: str | None = None
    links: list[Link] = field(default_factory=list)
    hits: list[RuleHit] = field(default_factory=list)
    classifier: float | None = None
    channel: ChannelContext | None = None


@dataclass(slots=True)
class ChannelContext:
    """What a channel's titles, bio and other posts say, for weighing one of its messages."""

    channel_id: str
    title: str | None = None
    description: str | None = None
    titles: list[str] = field(default_factory=list)
    hits: list[RuleHit] = field(default_factory=list)
    messages: int = 0
    marked: int = 0
    classifier_sum: float = 0.0

    @property
    def title_weight(self) -> float:
        """Strongest indicator in the channel's titles (now or before) or bio; 0 if none."""
        return max([hit.rule.weight for hit in self.hits], default=0.0) if self.hits else 0.0

    @property
    def marked_share(self) -> float:
        return self.marked / self.messages if self.messages else 0.0

    @property
    def classifier_mean(self) -> float:
        return self.classifier_sum / self.messages if self.messages else 0.0
