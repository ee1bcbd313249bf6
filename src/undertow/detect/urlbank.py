"""Detector `urlbank`: links whose normalised URL is in an enabled bank of known URLs.

URL banks hold URLs of known terrorist content (as Tech Against Terrorism alerts platforms
with), stored normalised; a link matches when its normalised form is equal, so tracking
parameters, `www.`, case and Telegram's many link forms do not hide it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from undertow.records import Signal, TextItem
from undertow.settings import Settings


@dataclass(frozen=True, slots=True)
class UrlEntry:
    entry_id: int
    bank: str
    category: str | None
    note: str | None


class UrlBankDetector:
    name = "urlbank"
    version = "1"

    inputs = "text"

    def __init__(self, entries: Mapping[str, Sequence[UrlEntry]]) -> None:
        self.entries = entries

    @classmethod
    def from_settings(
        cls, settings: Settings, entries: Mapping[str, Sequence[UrlEntry]] | None = None
    ) -> UrlBankDetector:
        """`entries`: normalised URL -> bank entries (the stage reads them from the store)."""
        return cls(entries or {})

    def detect(self, batch: Sequence[Any]) -> list[Signal]:
        if not self.entries:
            return []
        signals: list[Signal] = []
        for item in batch:
            if not isinstance(item, TextItem):
                continue
            for position, link in enumerate(item.links):
                for entry in self.entries.get(link.normalized_url, ()):
                    signals.append(
                        Signal(
                            detector=self.name,
                            version=self.version,
                            key=f"{item.channel_id}:{item.message_id}:{position}:{entry.entry_id}",
                            target_kind="message",
                            score=1.0,
                            category=entry.category or "tat-url",
                            channel_id=item.channel_id,
                            message_id=item.message_id,
                            explanation={
                                "bank": entry.bank,
                                "entry_id": entry.entry_id,
                                "url": link.url,
                                "normalized_url": link.normalized_url,
                                "platform": link.platform,
                                "note": entry.note,
                            },
                        )
                    )
        return signals
