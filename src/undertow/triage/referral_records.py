"""The records a referral package is written from: each violating case with its items (every
copy of the post, or the channel itself) and their media, as read from the store by
`undertow.triage.referrals` and written out by `undertow.triage.evidence_package` and
`undertow.exchange.stix_bundle`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(slots=True)
class ReferralMedia:
    """One media file of a referred message, as `message_media` and `media` hold it."""

    position: int
    kind: str
    sha256: str | None
    original: str | None
    mime: str | None
    captured_at: int | None


@dataclass(slots=True)
class ReferralItem:
    """One referred message (message id 0: a channel case's channel) with its text and media."""

    case_id: str
    channel_id: str
    message_id: int
    permalink: str
    posted_at: int | None = None
    captured_at: int | None = None
    text: str | None = None
    media: list[ReferralMedia] = field(default_factory=list)


@dataclass(slots=True)
class ReferralCase:
    """One case whose latest decision is violating, with that decision and its items."""

    case_id: str
    kind: str
    category: str | None
    reasons: list[str]
    note: str | None
    reviewer: str
    decided_at: int
    items: list[ReferralItem] = field(default_factory=list)


def iso_utc(seconds: int) -> str:
    """Unix seconds as an ISO 8601 UTC timestamp (`2024-03-10T12:00:00Z`)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
