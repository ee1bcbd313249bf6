"""Streams one chat's events to a Telegram Desktop single-chat export and its message labels.

Messages are serialised one by one with orjson straight into `result.json`, photos are written
next to it, and each message's truth line goes to truth_messages.jsonl as it is written.
"""

from __future__ import annotations

from typing import Any

import orjson

from undertow.simulate.clock import export_date, photo_stamp
from undertow.simulate.context import SimulationContext
from undertow.simulate.model import Channel, ChatResult, Event, SourcePost
from undertow.simulate.text import render

_PROGRESS_EVERY = 500


def write_chat(
    ctx: SimulationContext, channel: Channel, events: list[Event], *, keep_posts: bool = False
) -> ChatResult:
    """Write `events` (any order; sorted stably by time here) as `channel`'s export.

    With `keep_posts`, the regular messages come back as SourcePosts for mirrors to reuse.
    """
    events.sort(key=lambda event: event.ts)
    chat_dir = ctx.exports_dir / channel.slug
    photos_dir = chat_dir / "photos"
    photos_dir.mkdir(parents=True, exist_ok=True)
    id_rng = ctx.rng("message-ids", channel.export_id)
    result = ChatResult(posts=[], tags={})
    channel_from = channel.final_title  # Telegram Desktop names the author as at export time.
    from_id = f"channel{channel.export_id}"
    message_id = 0
    last_regular = 0
    photo_count = 0
    unreported = 0
    header = {"name": channel.final_title, "type": channel.chat_type, "id": channel.export_id}
    opening = orjson.dumps(header)[:-1] + b',\n "messages": [\n'
    closing = b"\n ]\n}\n"
    ctx.counters.bytes += len(opening) + len(closing)
    with (chat_dir / "result.json").open("wb") as out:
        out.write(opening)
        for index, event in enumerate(events):
            # Deleted messages leave gaps in real channels' id sequences.
            message_id += 1 if id_rng.random() > 0.03 else id_rng.randint(2, 4)
            message: dict[str, Any] = {
                "id": message_id,
                "type": "message" if event.action is None else "service",
                "date": export_date(event.ts),
                "date_unixtime": str(event.ts),
            }
            if event.edited_after is not None:
                edited = event.ts + event.edited_after
                message["edited"] = export_date(edited)
                message["edited_unixtime"] = str(edited)
            if event.action is not None:
                name, actor_id = event.author or (channel_from, 0)
                message["actor"] = name
                message["actor_id"] = f"user{actor_id}" if event.author else from_id
                message["action"] = event.action
                if event.action in ("create_channel", "edit_group_title"):
                    message["title"] = event.new_title
                elif event.action == "pin_message":
                    message["message_id"] = last_regular
                elif event.action == "join_group_by_link":
                    message["inviter"] = "Group"
            else:
                if event.author is not None:
                    message["from"] = event.author[0]
                    message["from_id"] = f"user{event.author[1]}"
                else:
                    message["from"] = channel_from
                    message["from_id"] = from_id
                if event.method == "forward" and event.origin is not None:
                    message["forwarded_from"] = event.origin.forward_title
            if event.image_id is not None:
                photo_count += 1
                photo = ctx.images.photo(event.image_id, event.style)
                name = f"photo_{photo_count}@{photo_stamp(event.ts)}.jpg"
                (photos_dir / name).write_bytes(photo.data)
                ctx.counters.photos += 1
                ctx.counters.bytes += len(photo.data)
                message["photo"] = f"photos/{name}"
                message["photo_file_size"] = len(photo.data)
                message["width"] = photo.width
                message["height"] = photo.height
            if event.action is None:
                text, entities = render(event.parts)
            else:
                text, entities = "", []
            message["text"] = text
            message["text_entities"] = entities
            line = orjson.dumps(message)
            out.write(line if index == 0 else b",\n" + line)
            ctx.counters.bytes += len(line) + 2
            _write_label(ctx, channel, message_id, event)
            if event.action is None:
                last_regular = message_id
                # Mirrors never re-post migration links, so every link post in the world is one
                # that truth lists (a copy edit could alter the url).
                if keep_posts and not event.migrations:
                    result.posts.append(_source_post(channel, message_id, event))
            if event.tag is not None:
                result.tags[event.tag] = message_id
            for migration in event.migrations:
                ctx.truth.add_migration(channel, message_id, migration)
            unreported += 1
            if unreported >= _PROGRESS_EVERY and ctx.progress is not None:
                ctx.progress(unreported)
                unreported = 0
        out.write(closing)
    if unreported and ctx.progress is not None:
        ctx.progress(unreported)
    if not photo_count:
        photos_dir.rmdir()
    channel.messages = len(events)
    channel.first_post = events[0].ts if events else None
    channel.last_post = events[-1].ts if events else None
    ctx.counters.messages += len(events)
    ctx.counters.channels += 1
    ctx.truth.add_channel(channel)
    return result


def _write_label(ctx: SimulationContext, channel: Channel, message_id: int, event: Event) -> None:
    origin = via = None
    if event.origin is not None:
        origin = {"channel_id": event.origin.root[0], "message_id": event.origin.root[1]}
        immediate = (event.origin.channel_id, event.origin.message_id)
        if immediate != event.origin.root:
            via = {"channel_id": immediate[0], "message_id": immediate[1]}
    variant = None
    if event.image_id is not None:
        variant = "exact" if event.style is None else "reencoded"
    label = {
        "channel_id": channel.channel_id,
        "message_id": message_id,
        "propaganda": event.propaganda,
        "origin": origin,
        "via": via,
        "method": event.method,
        "image": event.image_id,
        "variant": variant,
    }
    line = orjson.dumps(label, option=orjson.OPT_APPEND_NEWLINE)
    ctx.truth_messages.write(line)
    ctx.counters.bytes += len(line)


def _source_post(channel: Channel, message_id: int, event: Event) -> SourcePost:
    if event.origin is not None and event.method == "forward":
        # A forward of a forward still shows, and traces back to, the original post.
        forward_title, root = event.origin.forward_title, event.origin.root
    elif event.origin is not None:
        forward_title, root = channel.title_at(event.ts), event.origin.root
    else:
        forward_title, root = channel.title_at(event.ts), (channel.channel_id, message_id)
    return SourcePost(
        channel_id=channel.channel_id,
        message_id=message_id,
        ts=event.ts,
        parts=tuple(event.parts),
        image_id=event.image_id,
        forward_title=forward_title,
        root=root,
        propaganda=event.propaganda,
    )
