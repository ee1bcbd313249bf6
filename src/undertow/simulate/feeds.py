"""Building blocks for chat timelines: posting schedules, original posts and mirrored feeds.

Generators for particular roles combine these into one chat's event list before it is written.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from undertow.simulate.clock import DAY, HOUR, MINUTE
from undertow.simulate.model import Event, SourcePost
from undertow.simulate.text import Part, copy_edit, topic_post

PartsMaker = Callable[[random.Random], list[Part]]
# What a copy mirror does to a post's parts: (parts, rng, hashtags it may add) -> edited parts.
CopyEditor = Callable[[list[Part], random.Random, tuple[str, ...]], list[Part]]
# Default per-mirror median lag range, log-uniform so both ends occur.
MIRROR_LAG_RANGE = (2 * MINUTE, 8 * HOUR)
# Sigma of the log-normal spread of each post's lag around its mirror's median.
LAG_SPREAD = 0.6


def topic_posts(topic: str) -> PartsMaker:
    """A post maker for benign posts about `topic`."""

    def make(rng: random.Random) -> list[Part]:
        return topic_post(rng, topic)

    return make


def post_times(rng: random.Random, start: int, end: int, mean_gap: float) -> list[int]:
    """Posting instants in [start, end): a Poisson process, with quieter nights (UTC)."""
    times: list[int] = []
    ts = float(start)
    while True:
        ts += max(2 * MINUTE, rng.expovariate(1 / mean_gap))
        hour = int(ts // HOUR) % 24
        if 0 <= hour < 5 and rng.random() < 0.6:
            continue
        if ts >= end:
            return times
        times.append(int(ts))


def original_events(
    rng: random.Random,
    times: list[int],
    make_parts: PartsMaker,
    *,
    propaganda: bool,
    photo_chance: float,
    image_ids: list[str],
) -> list[Event]:
    """Own posts at `times`, some with a photo from `image_ids`, a few edited later."""
    events: list[Event] = []
    for ts in times:
        image_id = rng.choice(image_ids) if image_ids and rng.random() < photo_chance else None
        edited = rng.randint(MINUTE, 2 * HOUR) if rng.random() < 0.05 else None
        events.append(
            Event(
                ts=ts,
                parts=make_parts(rng),
                propaganda=propaganda,
                image_id=image_id,
                edited_after=edited,
            )
        )
    return events


def creation_event(ts: int, title: str) -> Event:
    return Event(ts=ts, action="create_channel", new_title=title)


def pin_events(rng: random.Random, events: list[Event], chance: float) -> list[Event]:
    """Occasional pins of the post just made (the writer resolves the pinned id)."""
    return [
        Event(ts=event.ts + rng.randint(10, 5 * MINUTE), action="pin_message")
        for event in events
        if event.action is None and rng.random() < chance
    ]


@dataclass(frozen=True, slots=True)
class MirrorStyle:
    """How a mirror carries its source: method, share of posts, typical lag and its spread,
    image style, and how a copy edits the text."""

    method: str
    share: float
    lag_median: float
    image_style: int
    hashtags: tuple[str, ...]
    lag_spread: float = LAG_SPREAD
    edit: CopyEditor = copy_edit

    @staticmethod
    def draw(
        rng: random.Random,
        method: str,
        hashtags: tuple[str, ...],
        styles: int,
        *,
        lag_range: tuple[float, float] = MIRROR_LAG_RANGE,
        lag_spread: float = LAG_SPREAD,
        edit: CopyEditor = copy_edit,
    ) -> MirrorStyle:
        low, high = lag_range
        lag = math.exp(rng.uniform(math.log(low), math.log(high)))
        return MirrorStyle(
            method=method,
            share=round(rng.uniform(0.5, 1.0), 3),
            lag_median=lag,
            image_style=rng.randrange(styles),
            hashtags=hashtags,
            lag_spread=lag_spread,
            edit=edit,
        )


@dataclass(slots=True)
class MirroredFeed:
    """A mirror's carried posts plus the counts its truth `share` is computed from."""

    events: list[Event]
    carried: int
    eligible: int


def mirror_feed(
    rng: random.Random,
    posts: list[SourcePost],
    style: MirrorStyle,
    *,
    since: int,
    until: int | None,
) -> MirroredFeed:
    """Forwards or copies of `posts` made in [since, until): each post with chance `share`,
    after a per-post lag spread around the mirror's median."""
    end = until if until is not None else math.inf
    feed = MirroredFeed(events=[], carried=0, eligible=0)
    for post in posts:
        if not since <= post.ts < end:
            continue
        feed.eligible += 1
        if rng.random() >= style.share:
            continue
        ts = post.ts + max(30, int(style.lag_median * rng.lognormvariate(0, style.lag_spread)))
        if ts >= end:
            continue
        feed.carried += 1
        if style.method == "forward":
            event = Event(ts=ts, parts=list(post.parts), image_id=post.image_id)
        else:
            event = Event(
                ts=ts,
                parts=style.edit(list(post.parts), rng, style.hashtags),
                image_id=post.image_id,
                style=style.image_style if post.image_id is not None else None,
            )
        event.origin = post
        event.method = style.method
        event.propaganda = post.propaganda
        feed.events.append(event)
    return feed


def window_start(rng: random.Random, start: int, latest_days: int) -> int:
    """A start time up to `latest_days` after `start`, at a random time of day."""
    return start + rng.randint(0, latest_days * DAY)
