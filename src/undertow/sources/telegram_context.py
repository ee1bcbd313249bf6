"""What the Telegram export mapper knows about the chat being read, and small shared helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from undertow.enrich.evidence import EvidenceStore
from undertow.enrich.pseudonym import Pseudonymiser

PLATFORM = "telegram"


@dataclass
class ChatContext:
    """What the mapper needs to know about the chat a message belongs to."""

    channel_id: str
    native_id: str
    is_broadcast: bool
    base_dir: Path
    pseudonyms: Pseudonymiser
    evidence: EvidenceStore
    media_cache: dict[str, tuple[str, int] | str | bool | None] = field(default_factory=dict)
    real_base: str = ""
    real_folders: dict[str, str] = field(default_factory=dict)
    people: dict[tuple[Any, Any], tuple[str | None, str | None]] = field(default_factory=dict)
    defer_media: bool = False


def clean(value: str) -> str:
    """Make a decoded string storable: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if value.isascii():
        return value if "\x00" not in value else value.replace("\x00", "\ufffd")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
