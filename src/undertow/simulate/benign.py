"""The non-propaganda part of a world unit: hard negatives, benign channels and a benign group.

News and research channels quote the brand names and hashtags while reporting on them, and a
benign source with its own forwarding network looks structurally like a mirror network.
"""

from __future__ import annotations

import random

from undertow.simulate.clock import DAY, HOUR, MINUTE, WORLD_END, WORLD_START
from undertow.simulate.context import SimulationContext
from undertow.simulate.feeds import (
    PartsMaker,
    creation_event,
    mirror_feed,
    original_events,
    pin_events,
    post_times,
    topic_posts,
    window_start,
)
from undertow.simulate.images import BENIGN_POOL_SIZE, benign_image_id
from undertow.simulate.model import Channel, Event
from undertow.simulate.text import (
    NEUTRAL_NOUNS,
    Part,
    handle_base,
    hashtag_parts,
    link,
    person_name,
    plain,
    sentence,
    sentences,
    text_link,
    topic_post,
)
from undertow.simulate.writer import write_chat

_QUOTES = (
    "Analysts say the Amaq agency claimed",
    "Researchers note that Nashir News Agency channels shared",
    "Reports cite Islamic State outlets, including Amaq, on",
    "Observers say channels using the Dawlah label reposted",
)


def _news_post(rng: random.Random) -> list[Part]:
    slug = f"{rng.choice(NEUTRAL_NOUNS)}-{rng.choice(NEUTRAL_NOUNS)}-{rng.randint(100, 999)}"
    url = f"https://news.example.com/world/2019/{slug}"
    if rng.random() < 0.35:
        body = sentence(rng)
        parts = [plain(f"{rng.choice(_QUOTES)} {body[0].lower()}{body[1:]}\n")]
        if rng.random() < 0.4:
            parts += [
                plain("Posts were tagged "),
                *hashtag_parts([rng.choice(("#KhilafahNews", "#Amaq", "#Nashir"))]),
                plain(".\n"),
            ]
    else:
        parts = [plain(sentences(rng, 1, 2) + "\n")]
    return [*parts, text_link("Read more", url) if rng.random() < 0.5 else link(url)]


def _research_post(rng: random.Random) -> list[Part]:
    topic = rng.choice(("Amaq", "Nashir News Agency", "the Islamic State", "Dawlah-branded"))
    parts = [plain(f"New notes on {topic} media output: {sentences(rng, 1, 2)}\n")]
    if rng.random() < 0.3:
        parts += [
            plain("Indicators include "),
            *hashtag_parts(["#KhilafahNews", "#Amaq"]),
            plain(".\n"),
        ]
    paper = f"https://research.example.org/papers/{rng.randint(1000, 9999)}"
    parts.append(link(paper))
    if rng.random() < 0.25:
        # Archive links in research posts are hard negatives for migration detection too.
        word = rng.choice(NEUTRAL_NOUNS)
        parts += [
            plain("\nDataset: "),
            link(f"https://archive.org/details/{word}-study-{rng.randint(10, 99)}"),
        ]
    return parts


def build_benign_world(ctx: SimulationContext, unit: int) -> None:
    """Write unit `unit`'s hard negatives, benign channels, benign network and group chat."""
    rng = ctx.rng(unit, "benign")
    variant = ctx.variant
    suffix = f" {unit + 1}" if unit else ""
    images = [benign_image_id(rng.randrange(BENIGN_POOL_SIZE)) for _ in range(30)]
    for title in rng.sample(variant.news_titles, k=rng.randint(1, 2)):
        _simple_channel(
            ctx,
            rng,
            title + suffix,
            role="news",
            make_parts=_news_post,
            mean_gap=18 * HOUR,
            photo_chance=0.2,
            images=images,
        )
    title = rng.choice(variant.research_titles) + suffix
    _simple_channel(
        ctx,
        rng,
        title,
        role="research",
        make_parts=_research_post,
        mean_gap=45 * HOUR,
        photo_chance=0.0,
        images=images,
    )
    for title, topic in rng.sample(variant.benign_channels, k=rng.randint(3, 4)):
        _simple_channel(
            ctx,
            rng,
            title + suffix,
            role="benign",
            make_parts=topic_posts(topic),
            mean_gap=30 * HOUR,
            photo_chance=0.35,
            images=images,
        )
    _benign_network(ctx, rng, unit, suffix, images)
    _group(ctx, rng, rng.choice(variant.group_titles) + suffix, images)


def _simple_channel(
    ctx: SimulationContext,
    rng: random.Random,
    title: str,
    *,
    role: str,
    make_parts: PartsMaker,
    mean_gap: float,
    photo_chance: float,
    images: list[str],
) -> Channel:
    start = WORLD_START + rng.randint(0, 20 * DAY)
    channel = ctx.new_channel(
        role=role,
        chat_type="public_channel",
        titles=[(start, title)],
        handle=ctx.claim_handle(handle_base(title, rng)),
        propaganda=False,
        network_id=None,
    )
    posts = original_events(
        rng,
        post_times(rng, start + HOUR, WORLD_END, mean_gap),
        make_parts,
        propaganda=False,
        photo_chance=photo_chance * ctx.photo_factor,
        image_ids=images,
    )
    write_chat(ctx, channel, [creation_event(start, title), *posts, *pin_events(rng, posts, 0.02)])
    return channel


def _benign_network(
    ctx: SimulationContext, rng: random.Random, unit: int, suffix: str, images: list[str]
) -> None:
    network_id = f"benign-net-{unit + 1}"
    start = WORLD_START + rng.randint(0, 5 * DAY)
    title = ctx.variant.benign_source_title + suffix
    source = ctx.new_channel(
        role="benign_source",
        chat_type="public_channel",
        titles=[(start, title)],
        handle=ctx.claim_handle(handle_base(title, rng)),
        propaganda=False,
        network_id=network_id,
    )
    posts = original_events(
        rng,
        post_times(rng, start + HOUR, WORLD_END, 14 * HOUR),
        topic_posts("events"),
        propaganda=False,
        photo_chance=0.35 * ctx.photo_factor,
        image_ids=images,
    )
    source_posts = write_chat(
        ctx, source, [creation_event(start, title), *posts], keep_posts=True
    ).posts
    members = [source]
    for forwarder_title in rng.sample(ctx.variant.forwarder_titles, k=rng.randint(2, 3)):
        method = rng.choice(("forward", "copy"))
        style = ctx.variant.mirror_style(rng, method, ("#events", "#weekend"))
        since = window_start(rng, start, 30)
        forwarder = ctx.new_channel(
            role="benign_forwarder",
            chat_type="public_channel",
            titles=[(since, forwarder_title + suffix)],
            handle=ctx.claim_handle(handle_base(forwarder_title, rng)),
            propaganda=False,
            network_id=network_id,
        )
        feed = mirror_feed(rng, source_posts, style, since=since + 10 * MINUTE, until=None)
        filler = original_events(
            rng,
            post_times(rng, since + HOUR, WORLD_END, 2 * DAY),
            topic_posts("events"),
            propaganda=False,
            photo_chance=0.0,
            image_ids=[],
        )
        events = [creation_event(since, forwarder_title + suffix), *feed.events, *filler]
        write_chat(ctx, forwarder, events)
        ctx.truth.add_mirror(
            forwarder,
            source,
            method=method,
            since=since + 10 * MINUTE,
            until=None,
            carried=feed.carried,
            eligible=feed.eligible,
        )
        members.append(forwarder)
    ctx.truth.add_network(network_id, "benign", members)


def _group(ctx: SimulationContext, rng: random.Random, title: str, images: list[str]) -> None:
    start = WORLD_START + rng.randint(0, 10 * DAY)
    group = ctx.new_channel(
        role="benign_group",
        chat_type="public_supergroup",
        titles=[(start, title)],
        handle=ctx.claim_handle(handle_base(title, rng)),
        propaganda=False,
        network_id=None,
    )
    members = [(person_name(rng), ctx.new_user_id()) for _ in range(rng.randint(8, 20))]
    joined = [start] * 3 + sorted(rng.randint(start, WORLD_END - DAY) for _ in members[3:])
    events = [
        Event(ts=ts, action="join_group_by_link", author=member)
        for member, ts in zip(members[3:], joined[3:], strict=True)
    ]
    for ts in post_times(rng, start + HOUR, WORLD_END, 8 * HOUR):
        present = [member for member, since in zip(members, joined, strict=True) if since <= ts]
        image_id = rng.choice(images) if rng.random() < 0.04 * ctx.photo_factor else None
        events.append(
            Event(
                ts=ts,
                parts=topic_post(rng, "chat", hashtags=False),
                author=rng.choice(present),
                image_id=image_id,
                edited_after=rng.randint(MINUTE, HOUR) if rng.random() < 0.03 else None,
            )
        )
    write_chat(ctx, group, events)
