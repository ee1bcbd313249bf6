"""Maps one Telegram Desktop export message (a decoded JSON object) to a `MessageRecord`.

Handles every shape the exporter has written over the years: `text` as a string or an array
of strings and entity objects, `text_entities` or none, numeric (old) or prefixed `from_id`,
`date_unixtime` or only local `date`, service actions with or without `action`, and media
fields with "(File not included...)" placeholders.  People become keyed pseudonyms here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from undertow.records import MessageRecord
from undertow.sources.base import RecordError
from undertow.sources.telegram_context import PLATFORM, ChatContext, clean, int_or_none
from undertow.sources.telegram_media import media_refs

_URL = re.compile(r"(?:https?://|(?<![\w@.])t\.me/)[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<![\w&])#\w+")
_TRAILING_PUNCT = ".,;:!?»”’"
# Keys of service messages that name or identify people; never stored as they are.
_PERSON_KEYS = frozenset(
    {
        "actor", "actor_id", "from", "from_id", "inviter", "members", "to", "to_id",
        "new_creator", "author", "peer_name", "peer_id", "user_id", "winners", "peers",
        "boost_peer_name", "boost_peer_id", "contact_information", "contact_vcard",
        "contact_vcard_file_size", "recent", "saved_from_id",
    }
)  # fmt: skip
_MESSAGE_KEYS = frozenset(
    {
        "id", "type", "date", "date_unixtime", "edited", "edited_unixtime", "text",
        "text_entities", "forwarded_from", "forwarded_from_id", "saved_from",
        "reply_to_message_id", "action", "photo", "file", "thumbnail", "media_type", "mime_type",
        "file_name", "file_size", "photo_file_size", "thumbnail_file_size", "width", "height",
        "duration_seconds", "reactions", "inline_bot_buttons", "via_bot", "poll",
        "location_information", "sticker_emoji", "reply_to_peer_id",
    }
)  # fmt: skip
# Keys every ordinary message has; anything else needs a closer look in `_extra`.
_PLAIN_KEYS = frozenset(
    {"id", "type", "date", "date_unixtime", "from", "from_id", "text", "text_entities", "edited",
     "edited_unixtime", "forwarded_from", "forwarded_from_id", "saved_from", "reply_to_message_id",
     "photo", "file", "thumbnail", "media_type", "mime_type", "file_name", "file_size",
     "photo_file_size", "thumbnail_file_size", "width", "height", "duration_seconds"}
)  # fmt: skip
_KEY_TYPES = (str, int, type(None))
_ENTITY_EXTRAS = ("href", "language", "document_id")
_TITLE_ACTIONS = frozenset(
    {"create_channel", "create_group", "edit_group_title", "migrate_from_group"}
)


def parse_time(unix: Any, iso: Any, what: str) -> int | None:
    """Unix seconds from `*_unixtime` (exact) or the exporter's local ISO time (taken as UTC)."""
    if unix is not None:
        try:
            return int(unix)
        except (TypeError, ValueError) as exc:
            raise RecordError(f"{what}_unixtime is not a number: {unix!r}") from exc
    if iso is None:
        return None
    if not isinstance(iso, str):
        raise RecordError(f"{what} is not a date string: {iso!r}")
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise RecordError(f"{what} is not an ISO 8601 date: {iso!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _person(ctx: ChatContext, ident: Any, name: Any) -> tuple[str | None, str | None]:
    """(pseudonym, channel id) of an author or actor given its export id and display name."""
    if isinstance(ident, str) and ident:
        if ident.startswith("user"):
            return ctx.pseudonyms.user(PLATFORM, ident[4:]), None
        if ident.startswith("channel"):
            return None, f"{PLATFORM}:{ident[7:]}"
        if ident.startswith("chat"):
            return None, f"{PLATFORM}:{ident[4:]}"
        return ctx.pseudonyms.user(PLATFORM, ident), None
    if isinstance(ident, int) and not isinstance(ident, bool):
        if str(ident) == ctx.native_id and ctx.is_broadcast:
            return None, ctx.channel_id
        return ctx.pseudonyms.user(PLATFORM, str(ident)), None
    if isinstance(name, str) and name:
        if ctx.is_broadcast:
            return None, ctx.channel_id  # in a channel the only author is the channel itself
        return ctx.pseudonyms.name(PLATFORM, name), None
    return None, None


def _text_and_entities(raw: dict[str, Any]) -> tuple[str, list[dict[str, Any]], bool]:
    """Plain text, the non-plain entities with character offsets, and whether entities were
    given by the exporter (True) or must be recovered from the text (False)."""
    text = raw.get("text", "")
    parts: list[Any]
    if text.__class__ is str:
        given = raw.get("text_entities")
        if given.__class__ is not list or not given:
            return clean(text), [], False
        parts = given
        plain_text: str | None = text
    elif text.__class__ is list:
        parts = text
        plain_text = None
    elif text is None:
        return "", [], False
    else:
        raise RecordError(f"'text' must be a string or an array, not {type(text).__name__}")
    pieces: list[str] = []
    entities: list[dict[str, Any]] = []
    offset = 0
    for part in parts:
        if part.__class__ is str:
            pieces.append(part)
            offset += len(part)
            continue
        if part.__class__ is not dict:
            raise RecordError(f"a text part is a {type(part).__name__}, not a string or object")
        piece = part.get("text", "")
        kind = part.get("type", "plain")
        if piece.__class__ is not str or kind.__class__ is not str:
            raise RecordError("a text entity has a non-string 'type' or 'text'")
        if kind != "plain":
            entity: dict[str, Any] = {"type": kind, "text": piece, "offset": offset}
            if len(part) > 2:
                for key in _ENTITY_EXTRAS:
                    extra = part.get(key)
                    if extra.__class__ is str or extra.__class__ is int:
                        entity[key] = str(extra)
            entities.append(entity)
        pieces.append(piece)
        offset += len(piece)
    joined = "".join(pieces)
    cleaned = clean(joined)
    if cleaned is not joined:
        for entity in entities:
            for key, value in entity.items():
                if value.__class__ is str:
                    entity[key] = clean(value)
    # text_entities can disagree with text (hand-made files); the text itself wins.
    return (clean(plain_text) if plain_text is not None else cleaned), entities, True


def _links_and_tags(
    text: str, entities: list[dict[str, Any]], has_entities: bool, extra_urls: list[str]
) -> tuple[list[str], list[str], list[str]]:
    links: list[str] = []
    tags: list[str] = []
    mentions: list[str] = []
    for entity in entities:
        kind = entity["type"]
        if kind == "link":
            links.append(entity["text"])
        elif kind == "hashtag":
            tags.append(entity["text"])
        elif kind == "mention":
            mentions.append(entity["text"])
        elif kind == "text_link" and "href" in entity:
            links.append(entity["href"])
    # The exporter marks the URLs it recognises as entities; scan texts that have none marked.
    if not links and ("://" in text or "t.me/" in text):
        for match in _URL.finditer(text):
            url = match.group(0).rstrip(_TRAILING_PUNCT)
            if url not in links and len(links) < 1000:
                links.append(url)
    if not has_entities and "#" in text:
        tags.extend(m.group(0) for m in _HASHTAG.finditer(text))
    for url in extra_urls:
        if url not in links:
            links.append(url)
    if len(tags) > 1:
        tags = list(dict.fromkeys(tags))
    if len(mentions) > 1:
        mentions = list(dict.fromkeys(mentions))
    if len(links) > 1:
        links = list(dict.fromkeys(links))
    return links, tags, mentions


def _action(ctx: ChatContext, raw: dict[str, Any]) -> dict[str, Any]:
    """Details of a service action: its own fields kept, people replaced by pseudonyms."""
    details: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _PERSON_KEYS or key in {
            "id",
            "type",
            "date",
            "date_unixtime",
            "text",
            "text_entities",
            "photo",
            "file",
            "thumbnail",
        }:
            continue
        if value is None or isinstance(value, int | float | bool):
            details[key] = value
        elif isinstance(value, str):
            details[key] = clean(value)
    actor, actor_channel = _person(ctx, raw.get("actor_id"), raw.get("actor"))
    if actor:
        details["actor"] = actor
    if actor_channel:
        details["actor_channel_id"] = actor_channel
    for key in ("inviter", "to"):
        if isinstance(raw.get(key), str):
            details[key] = ctx.pseudonyms.name(PLATFORM, raw[key])
    members = raw.get("members")
    if isinstance(members, list):
        details["members"] = [
            ctx.pseudonyms.name(PLATFORM, m) for m in members if isinstance(m, str)
        ]
    return details


def _extra(raw: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """Fields kept beside the message (poll, location, bot, reactions as counts) and button URLs."""
    present = raw.keys() - _PLAIN_KEYS
    if not present:
        return None, []
    extra: dict[str, Any] = {}
    urls: list[str] = []
    if isinstance(raw.get("via_bot"), str):
        extra["via_bot"] = clean(raw["via_bot"])
    if isinstance(raw.get("poll"), dict):
        poll = raw["poll"]
        answers = poll.get("answers") if isinstance(poll.get("answers"), list) else []
        extra["poll"] = {
            "question": clean(str(poll.get("question", ""))),
            "answers": [clean(str(a.get("text", ""))) for a in answers if isinstance(a, dict)],
        }
    if isinstance(raw.get("location_information"), dict):
        extra["location"] = {
            k: v for k, v in raw["location_information"].items() if isinstance(v, int | float)
        }
    if isinstance(raw.get("reactions"), list):
        extra["reactions"] = {
            clean(str(r.get("emoji") or r.get("document_id") or r.get("type", "?"))): int_or_none(
                r.get("count")
            )
            or 0
            for r in raw["reactions"]
            if isinstance(r, dict)
        }
    if isinstance(raw.get("sticker_emoji"), str):
        extra["sticker_emoji"] = clean(raw["sticker_emoji"])
    buttons = raw.get("inline_bot_buttons")
    if isinstance(buttons, list):
        for row in buttons:
            for button in row if isinstance(row, list) else []:
                data = button.get("data") if isinstance(button, dict) else None
                if isinstance(data, str) and data.startswith(("http://", "https://", "tg://")):
                    urls.append(clean(data))
    unknown = present - _MESSAGE_KEYS - _PERSON_KEYS
    if unknown and raw.get("type") != "service":
        extra["fields"] = sorted(unknown)
    return (extra or None), urls


def map_message(ctx: ChatContext, raw: Any, index: int) -> MessageRecord:
    """Build the canonical record of the `index`-th message of a chat."""
    if not isinstance(raw, dict):
        raise RecordError(f"a message must be a JSON object, not {type(raw).__name__}")
    ident = raw.get("id")
    if ident is None:
        message_id = index + 1  # stripped exports (no ids): the position is the only identity
    elif isinstance(ident, int) and not isinstance(ident, bool):
        message_id = ident
    elif isinstance(ident, str) and ident.lstrip("-").isdigit():
        message_id = int(ident)
    else:
        raise RecordError(f"message 'id' is not an integer: {ident!r}")
    date = parse_time(raw.get("date_unixtime"), raw.get("date"), "date")
    if date is None:
        raise RecordError(f"message {message_id} has no 'date' or 'date_unixtime'")
    kind = raw.get("type", "message")
    if not isinstance(kind, str):
        raise RecordError(f"message {message_id}: 'type' is not a string")
    text, entities, has_entities = _text_and_entities(raw)
    extra, button_urls = _extra(raw)
    links, tags, mentions = _links_and_tags(text, entities, has_entities, button_urls)
    record = MessageRecord(
        channel_id=ctx.channel_id,
        message_id=message_id,
        date=date,
        kind=clean(kind),
        text=text,
        entities=entities,
        links=links,
        hashtags=tags,
        mentions=mentions,
        extra=extra,
    )
    if "edited" in raw or "edited_unixtime" in raw:
        record.edited = parse_time(raw.get("edited_unixtime"), raw.get("edited"), "edited")
    if "photo" in raw or "file" in raw or "thumbnail" in raw:
        record.media = media_refs(ctx, raw)
    if kind == "service":
        action = raw.get("action")
        record.service_action = clean(action) if isinstance(action, str) else "custom"
        record.action = _action(ctx, raw)
    else:
        sender = raw.get("from_id"), raw.get("from")
        hashable = sender[0].__class__ in _KEY_TYPES and sender[1].__class__ in _KEY_TYPES
        known = ctx.people.get(sender) if hashable else None
        if known is None:
            known = _person(ctx, *sender)
            if hashable and len(ctx.people) < 100_000:
                ctx.people[sender] = known
        record.author, record.author_channel_id = known
    forwarded = raw.get("forwarded_from")
    if isinstance(forwarded, str):
        record.forwarded_from = clean(forwarded)
    forwarded_id = raw.get("forwarded_from_id")
    if forwarded_id is not None:
        person, channel = _person(ctx, forwarded_id, None)
        record.forwarded_from_id = channel or person
    if isinstance(raw.get("saved_from"), str):
        record.saved_from = clean(raw["saved_from"])
    record.reply_to = int_or_none(raw.get("reply_to_message_id"))
    return record


def title_change(record: MessageRecord) -> str | None:
    """The title a service message gives its chat, if it is a create or rename event."""
    if record.service_action in _TITLE_ACTIONS and record.action:
        title = record.action.get("title")
        if isinstance(title, str) and title:
            return title
    return None
