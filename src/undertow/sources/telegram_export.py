"""Telegram Desktop "Export chat history" / "Export Telegram data" JSON as a `Source`.

Takes single-chat exports (`result.json` with `messages`) and full-account exports
(`chats.list`, `left_chats.list`), streaming message by message.  Media files beside the
export are hashed into the evidence store; one-to-one chats are skipped unless the settings
allow private chats, because Undertow collects public channels and groups only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from undertow.records import ChannelRecord, TitleObservation
from undertow.sources.base import ImportContext, RecordError, SourceItem
from undertow.sources.jsonstream import ChatEnd, ChatStart, ExportJsonReader
from undertow.sources.telegram_context import PLATFORM, ChatContext, clean
from undertow.sources.telegram_message import map_message, title_change

# Chat types of the exporter -> (kind, public, private one-to-one conversation)
CHAT_TYPES: dict[str, tuple[str, bool, bool]] = {
    "public_channel": ("channel", True, False),
    "private_channel": ("channel", False, False),
    "public_supergroup": ("group", True, False),
    "private_supergroup": ("group", False, False),
    "private_group": ("group", False, False),
    "personal_chat": ("user", False, True),
    "bot_chat": ("bot", False, True),
    "saved_messages": ("user", False, True),
}
EXPORT_FILE = "result.json"


class TelegramExportSource:
    """Reads Telegram Desktop JSON exports into canonical records."""

    name = "telegram_export"

    @classmethod
    def from_settings(cls, _settings: object = None) -> TelegramExportSource:
        return cls()

    def discover(self, paths: Sequence[Path]) -> list[Path]:
        """Files named directly, plus, under folders (recursively), every `result.json` and
        every other `.json` file whose start looks like a Telegram export."""
        found: list[Path] = []
        for path in paths:
            if path.is_dir():
                found.extend(
                    p
                    for p in sorted(path.rglob("*.json"))
                    if p.name == EXPORT_FILE or looks_like_export(p)
                )
            else:
                found.append(path)
        return list(dict.fromkeys(found))

    def read(self, path: Path, context: ImportContext) -> Iterator[SourceItem]:
        with path.open("rb") as stream:
            reader = ExportJsonReader(
                stream,
                str(path),
                max_record_chars=context.settings.max_record_bytes,
                on_bytes=context.on_bytes,
            )
            chat: _Chat | None = None
            for event in reader.events():
                kind = type(event)
                if kind is not ChatStart and kind is not ChatEnd and chat is not None:
                    if chat.skipped:
                        continue
                    if (
                        isinstance(event, dict)
                        and event.get("type") == "unsupported"
                        and "date" not in event
                    ):
                        # The exporter's stand-in for content it cannot write: nothing to keep.
                        chat.count += 1
                        chat.unsupported += 1
                        continue
                    try:
                        record = map_message(chat.ctx, event, chat.count)
                    except RecordError as exc:
                        raise reader.error(str(exc)) from exc
                    chat.count += 1
                    chat.last_date = max(chat.last_date, record.date)
                    yield record
                    title = title_change(record)
                    if title is not None:
                        yield TitleObservation(
                            chat.ctx.channel_id,
                            title,
                            record.date,
                            record.service_action or "service",
                            record.message_id,
                        )
                elif isinstance(event, ChatStart):
                    chat = _start_chat(path, event, context)
                    if chat.skipped:
                        context.tell(chat.skipped)
                    else:
                        yield chat.channel
                elif isinstance(event, ChatEnd) and chat is not None:
                    if chat.unsupported:
                        context.tell(
                            f"{path}{_where(event.path)}: {chat.unsupported} 'unsupported' "
                            "placeholder message(s) skipped"
                        )
                    if not chat.skipped and chat.channel.title and chat.count:
                        # The title at export time: the best we know is "as of the last message".
                        yield TitleObservation(
                            chat.ctx.channel_id, chat.channel.title, chat.last_date, "export"
                        )
                    chat = None


def looks_like_export(path: Path) -> bool:
    """Cheap sniff of a file's first 64 KiB for the keys only Telegram exports have together."""
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    if b'"messages"' not in head and b'"chats"' not in head:
        return False
    return any(marker in head for marker in _EXPORT_MARKERS)


_EXPORT_MARKERS = (
    b'"date_unixtime"',
    b'"from_id"',
    b'"type": "message"',
    b'"type": "service"',
    b'"type":"message"',
)


class _Chat:
    """State of the chat being read."""

    def __init__(self, channel: ChannelRecord, ctx: ChatContext, skipped: str = "") -> None:
        self.channel = channel
        self.ctx = ctx
        self.skipped = skipped
        self.count = 0
        self.unsupported = 0
        self.last_date = 0


def _start_chat(path: Path, event: ChatStart, context: ImportContext) -> _Chat:
    header = event.header
    chat_type = header.get("type")
    name = header.get("name")
    kind, public, one_to_one = CHAT_TYPES.get(
        chat_type if isinstance(chat_type, str) else "", ("unknown", False, False)
    )
    raw_id = header.get("id")
    pseudonyms = context.pseudonyms
    if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) and str(raw_id).strip():
        native = clean(str(raw_id))
    else:
        # Stripped exports have no id: name + file make a stable stand-in identity.
        basis = f"{path.resolve()}|{event.path}|{name}".encode("utf-8", "replace")
        native = "anon-" + hashlib.sha256(basis).hexdigest()[:16]
    title = clean(name) if isinstance(name, str) else None
    if one_to_one:
        # A one-to-one chat is named after, and identified by, a person.
        native = pseudonyms.user(PLATFORM, native).removeprefix("user:")
        title = f"private chat {native[:8]}"
    channel_id = f"{PLATFORM}:{native}"
    channel = ChannelRecord(
        platform=PLATFORM,
        native_id=native,
        channel_id=channel_id,
        kind=kind,
        title=title,
        public=public,
        source_type=clean(chat_type) if isinstance(chat_type, str) else None,
    )
    ctx = ChatContext(
        channel_id=channel_id,
        native_id=native,
        is_broadcast=kind == "channel",
        base_dir=path.parent,
        pseudonyms=pseudonyms,
        evidence=context.evidence,
        defer_media=context.defer_media,
    )
    skipped = ""
    if one_to_one and not context.settings.include_private:
        skipped = (
            f"{path}{_where(event.path)}: skipped a {chat_type} (a private conversation; "
            "pass --include-private to import it)"
        )
    return _Chat(channel, ctx, skipped)


def _where(json_path: str) -> str:
    """` (chats.list[3])` for a chat inside a full-account export, nothing for a single chat."""
    return "" if json_path == "$" else f" ({json_path})"
