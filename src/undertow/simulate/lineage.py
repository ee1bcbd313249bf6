"""Lineages of banned and re-created channels: one actor's successive incarnations.

Each incarnation mirrors the same source in the same style under a look-alike title until it
is banned (its export just ends); the successor may be announced before the ban or may greet
followers with "we are back".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from undertow.simulate.clock import DAY, HOUR, MINUTE, WORLD_END, WORLD_START
from undertow.simulate.context import SimulationContext
from undertow.simulate.feeds import (
    MirrorStyle,
    creation_event,
    mirror_feed,
    original_events,
    post_times,
)
from undertow.simulate.migrations import NetworkMove, migration_events
from undertow.simulate.model import Channel, Event, Migration, SourcePost
from undertow.simulate.text import (
    Part,
    filler_post,
    handle_base,
    hashtag_parts,
    link,
    mention,
    plain,
)
from undertow.simulate.truth import LineageLink
from undertow.simulate.writer import write_chat

ANNOUNCEMENT_KINDS = ("successor_link", "backup_mention", "we_are_back")
_BACK_TAG = "we-are-back"
_NOTICE_TAG = "successor-notice"


@dataclass(frozen=True, slots=True)
class LineagePlan:
    """What stays the same across a lineage's incarnations."""

    lineage_id: str
    network_id: str
    base_title: str
    incarnations: int
    style: MirrorStyle


@dataclass(frozen=True, slots=True)
class _Window:
    start: int
    end: int
    banned_at: int | None


def _windows(rng: random.Random, count: int) -> list[_Window]:
    """Lifetimes of days to three weeks separated by 0-10 day gaps, fitted into the world."""
    lifetimes = [rng.randint(3 * DAY, 21 * DAY) for _ in range(count)]
    gaps = [rng.randint(0, 10 * DAY) for _ in range(count)]
    earliest = WORLD_START + 3 * DAY
    latest = WORLD_END - sum(lifetimes) - sum(gaps[:-1])
    ts = rng.randint(earliest, max(earliest, latest))
    last_survives = rng.random() < 0.5
    windows: list[_Window] = []
    for index in range(count):
        if ts >= WORLD_END - 2 * DAY:
            break
        end = ts + lifetimes[index]
        if index == count - 1 and last_survives:
            # The newest incarnation outlives the world: its export runs to the end.
            end = WORLD_END - rng.randint(0, DAY)
        banned_at = None if end >= WORLD_END - DAY else end
        windows.append(_Window(ts, min(end, WORLD_END), banned_at))
        ts = end + gaps[index]
    return windows


def _successor_notice(kind: str, successor_handle: str) -> tuple[list[Part], tuple[Migration, ...]]:
    if kind == "successor_link":
        url = f"https://t.me/{successor_handle}"
        return [plain("new channel: "), link(url)], (Migration("telegram", url),)
    return [plain("backup channel "), mention(successor_handle)], ()


def _we_are_back(rng: random.Random, predecessor_handle: str) -> list[Part]:
    parts = [plain("we are back ")]
    if rng.random() < 0.5:
        parts += [plain("(old channel "), mention(predecessor_handle), plain(" was removed) ")]
    return [*parts, *hashtag_parts(["#KhilafahNews"])]


def build_lineage(
    ctx: SimulationContext,
    rng: random.Random,
    plan: LineagePlan,
    source: tuple[Channel, list[SourcePost]],
    *,
    moves: list[NetworkMove],
    backup_handle: str,
) -> list[Channel]:
    """Write every incarnation of `plan`, record the lineage and mirrors; return the channels."""
    source_channel, source_posts = source
    windows = _windows(rng, plan.incarnations)
    titles = ctx.variant.lineage_titles(plan.base_title, len(windows), rng)
    handles = ctx.reserve_handles(
        ctx.variant.lineage_handles(handle_base(plan.base_title, rng), titles)
    )
    # kinds[i] is how the succession i -> i+1 is announced, None when it is not.
    kinds = [rng.choice(ANNOUNCEMENT_KINDS) if rng.random() < 0.6 else None for _ in windows[1:]]
    channels: list[Channel] = []
    announcement_ids: list[tuple[Channel, int] | None] = [None] * len(kinds)
    for index, window in enumerate(windows):
        channel = ctx.new_channel(
            role="lineage",
            chat_type="public_channel",
            titles=[(window.start, titles[index])],
            handle=handles[index],
            propaganda=True,
            network_id=plan.network_id,
        )
        channel.banned_at = window.banned_at
        since = window.start + 10 * MINUTE
        feed = mirror_feed(rng, source_posts, plan.style, since=since, until=window.end)
        filler = original_events(
            rng,
            post_times(rng, since, window.end, 3 * DAY),
            filler_post,
            propaganda=False,
            photo_chance=0.0,
            image_ids=[],
        )
        events = [creation_event(window.start, titles[index]), *feed.events, *filler]
        events += migration_events(rng, moves, window.start, window.end, backup_handle)
        if index > 0 and kinds[index - 1] == "we_are_back":
            ts = window.start + rng.randint(MINUTE, 2 * HOUR)
            parts = _we_are_back(rng, handles[index - 1])
            events.append(Event(ts=ts, parts=parts, propaganda=True, tag=_BACK_TAG))
        notice_kind = kinds[index] if index < len(kinds) else None
        if notice_kind in ("successor_link", "backup_mention"):
            ts = max(window.start + HOUR, window.end - rng.randint(HOUR, 48 * HOUR))
            parts, migrations = _successor_notice(notice_kind or "", handles[index + 1])
            events.append(
                Event(ts=ts, parts=parts, propaganda=True, tag=_NOTICE_TAG, migrations=migrations)
            )
        result = write_chat(ctx, channel, events)
        if _BACK_TAG in result.tags:
            announcement_ids[index - 1] = (channel, result.tags[_BACK_TAG])
        if _NOTICE_TAG in result.tags:
            announcement_ids[index] = (channel, result.tags[_NOTICE_TAG])
        ctx.truth.add_mirror(
            channel,
            source_channel,
            method=plan.style.method,
            since=since,
            until=window.end,
            carried=feed.carried,
            eligible=feed.eligible,
        )
        channels.append(channel)
    links = []
    for index, kind in enumerate(kinds):
        announced_in = announcement_ids[index]
        links.append(
            LineageLink(
                source=channels[index],
                target=channels[index + 1],
                announced=kind is not None,
                announcement_kind=kind,
                announcement_channel=announced_in[0] if announced_in else None,
                announcement_message_id=announced_in[1] if announced_in else None,
            )
        )
    ctx.truth.add_lineage(plan.lineage_id, channels, links)
    return channels
