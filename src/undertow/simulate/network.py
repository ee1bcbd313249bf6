"""One propaganda network: official outlet, distributor brand, mirrors, a sleeper and lineages.

Its shape follows public reporting on the Islamic State's use of Telegram; all text is neutral
placeholder content carrying only the indicator markers named in that reporting.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from undertow.simulate.clock import DAY, HOUR, MINUTE, WORLD_END, WORLD_START
from undertow.simulate.context import SimulationContext
from undertow.simulate.feeds import (
    MirrorStyle,
    creation_event,
    mirror_feed,
    original_events,
    pin_events,
    post_times,
    topic_posts,
    window_start,
)
from undertow.simulate.images import (
    BENIGN_POOL_SIZE,
    PROPAGANDA_POOL_SIZE,
    benign_image_id,
    propaganda_image_id,
)
from undertow.simulate.lineage import LineagePlan, build_lineage
from undertow.simulate.migrations import NetworkMove, migration_events, plan_moves
from undertow.simulate.model import Channel, Event, SourcePost
from undertow.simulate.text import (
    MIRROR_HASHTAGS,
    distributor_post,
    filler_post,
    handle_base,
    outlet_post,
)
from undertow.simulate.variant import Variant
from undertow.simulate.writer import write_chat

EDITIONS = ("", "English", "Français", "Türkçe", "Deutsch", "Bahasa", "Español", "Italiano")
Feed = tuple[Channel, list[SourcePost]]


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """What every channel of one propaganda network shares."""

    network_id: str
    edition: str
    images: list[str]
    moves: list[NetworkMove]
    backup_handle: str


def edition_of(unit: int) -> str:
    """Title suffix that tells apart the otherwise identically branded networks of big worlds."""
    if unit == 0:
        return ""
    edition = EDITIONS[1 + (unit - 1) % (len(EDITIONS) - 1)]
    rounds = (unit - 1) // (len(EDITIONS) - 1)
    return f" {edition}" + (f" {rounds + 1}" if rounds else "")


def mirror_title(rng: random.Random, variant: Variant) -> str:
    return f"{rng.choice(variant.mirror_brands)} {rng.choice(variant.mirror_suffixes)}"


def build_propaganda_network(ctx: SimulationContext, unit: int) -> None:
    """Write every chat of network `net-<unit+1>` and record its truth."""
    network_id = f"net-{unit + 1}"
    rng = ctx.rng(unit, "network")
    variant = ctx.variant
    backup_handle = ctx.claim_handle(f"{variant.backup_handle}_{unit + 1}")
    plan = NetworkPlan(
        network_id=network_id,
        edition=edition_of(unit),
        images=[propaganda_image_id(rng.randrange(PROPAGANDA_POOL_SIZE)) for _ in range(40)],
        moves=plan_moves(rng, network_id, backup_handle),
        backup_handle=backup_handle,
    )
    outlet = _outlet(ctx, rng, plan)
    distributor = _distributor(ctx, rng, plan, outlet)
    members = [outlet[0], distributor[0]]
    for method in ["forward"] * rng.randint(2, 4) + ["copy"] * rng.randint(2, 4):
        source = distributor if rng.random() < 0.3 else outlet
        members.append(_mirror(ctx, rng, plan, method, source))
    members.append(_sleeper(ctx, rng, plan, outlet))
    for index in range(1 + (rng.random() < 0.6)):
        source = distributor if rng.random() < 0.3 else outlet
        lineage = LineagePlan(
            lineage_id=f"{network_id}-lineage-{index + 1}",
            network_id=network_id,
            base_title=rng.choice(variant.lineage_bases),
            incarnations=rng.randint(3, 6),
            style=variant.mirror_style(rng, rng.choice(("forward", "copy")), MIRROR_HASHTAGS),
        )
        members += build_lineage(
            ctx, rng, lineage, source, moves=plan.moves, backup_handle=backup_handle
        )
    ctx.truth.add_network(network_id, "propaganda", members)


def _outlet(ctx: SimulationContext, rng: random.Random, plan: NetworkPlan) -> Feed:
    start = WORLD_START + rng.randint(0, 2 * DAY)
    end = WORLD_END - rng.randint(0, DAY)
    renamed_at = start + int((end - start) * rng.uniform(0.3, 0.6))
    first_title, second_title = (f"{title}{plan.edition}" for title in ctx.variant.outlet_titles)
    channel = ctx.new_channel(
        role="outlet",
        chat_type="public_channel",
        titles=[(start, first_title), (renamed_at, second_title)],
        handle=ctx.claim_handle(handle_base(first_title, rng)),
        propaganda=True,
        network_id=plan.network_id,
    )
    times = post_times(rng, start + 10 * MINUTE, end, 12 * HOUR)
    posts = original_events(
        rng,
        times,
        outlet_post,
        propaganda=True,
        photo_chance=0.45 * ctx.photo_factor,
        image_ids=plan.images,
    )
    events = [creation_event(start, first_title), *posts, *pin_events(rng, posts, 0.04)]
    events.append(Event(ts=renamed_at, action="edit_group_title", new_title=second_title))
    events += migration_events(rng, plan.moves, start, end, plan.backup_handle)
    result = write_chat(ctx, channel, events, keep_posts=True)
    ctx.truth.add_rebrand(
        channel,
        at=renamed_at,
        from_title=first_title,
        to_title=second_title,
        content_shift_at=None,
        kind="rename",
    )
    return channel, result.posts


def _distributor(
    ctx: SimulationContext, rng: random.Random, plan: NetworkPlan, outlet: Feed
) -> Feed:
    outlet_channel, outlet_posts = outlet
    start = window_start(rng, outlet_posts[0].ts if outlet_posts else WORLD_START, 5)
    end = WORLD_END - rng.randint(0, DAY)
    title = f"{ctx.variant.distributor_title}{plan.edition}"
    channel = ctx.new_channel(
        role="distributor",
        chat_type="public_channel",
        titles=[(start, title)],
        handle=ctx.claim_handle(handle_base(title, rng)),
        propaganda=True,
        network_id=plan.network_id,
    )
    style = MirrorStyle(
        method="forward",
        share=round(rng.uniform(0.6, 0.85), 3),
        lag_median=math.exp(rng.uniform(*map(math.log, ctx.variant.distributor_lag_range))),
        lag_spread=ctx.variant.lag_spread,
        image_style=0,
        hashtags=(),
    )
    feed = mirror_feed(rng, outlet_posts, style, since=start, until=None)
    own = original_events(
        rng,
        post_times(rng, start + HOUR, end, 30 * HOUR),
        distributor_post,
        propaganda=True,
        photo_chance=0.25 * ctx.photo_factor,
        image_ids=plan.images,
    )
    events = [creation_event(start, title), *feed.events, *own, *pin_events(rng, own, 0.05)]
    events += migration_events(rng, plan.moves, start, end, plan.backup_handle)
    result = write_chat(ctx, channel, events, keep_posts=True)
    ctx.truth.add_mirror(
        channel,
        outlet_channel,
        method="forward",
        since=start,
        until=None,
        carried=feed.carried,
        eligible=feed.eligible,
    )
    return channel, result.posts


def _mirror(
    ctx: SimulationContext, rng: random.Random, plan: NetworkPlan, method: str, source: Feed
) -> Channel:
    source_channel, source_posts = source
    start = window_start(rng, source_channel.first_post or WORLD_START, 40)
    end = WORLD_END - rng.randint(0, 2 * DAY)
    title = mirror_title(rng, ctx.variant)
    public = rng.random() < 0.75
    channel = ctx.new_channel(
        role=f"{method}_mirror",
        chat_type="public_channel" if public else "private_channel",
        titles=[(start, title)],
        handle=ctx.claim_handle(handle_base(title, rng)) if public else None,
        propaganda=True,
        network_id=plan.network_id,
    )
    style = ctx.variant.mirror_style(rng, method, MIRROR_HASHTAGS)
    since = start + 10 * MINUTE
    feed = mirror_feed(rng, source_posts, style, since=since, until=end)
    filler = original_events(
        rng,
        post_times(rng, since, end, 3 * DAY),
        filler_post,
        propaganda=False,
        photo_chance=0.0,
        image_ids=[],
    )
    events = [creation_event(start, title), *feed.events, *filler]
    events += migration_events(rng, plan.moves, start, end, plan.backup_handle)
    write_chat(ctx, channel, events)
    ctx.truth.add_mirror(
        channel,
        source_channel,
        method=method,
        since=since,
        until=end,
        carried=feed.carried,
        eligible=feed.eligible,
    )
    return channel


def _sleeper(
    ctx: SimulationContext, rng: random.Random, plan: NetworkPlan, outlet: Feed
) -> Channel:
    outlet_channel, outlet_posts = outlet
    persona, topic = rng.choice(ctx.variant.sleeper_personas)
    start = WORLD_START + rng.randint(3 * DAY, 30 * DAY)
    rebrand_at = start + rng.randint(20 * DAY, 60 * DAY)
    shift_at = rebrand_at + rng.randint(HOUR, 2 * DAY)
    end = WORLD_END - rng.randint(0, DAY)
    new_title = mirror_title(rng, ctx.variant)
    channel = ctx.new_channel(
        role="sleeper",
        chat_type="public_channel",
        titles=[(start, persona), (rebrand_at, new_title)],
        handle=ctx.claim_handle(handle_base(persona, rng)),
        propaganda=True,
        network_id=plan.network_id,
    )
    benign_images = [benign_image_id(rng.randrange(BENIGN_POOL_SIZE)) for _ in range(15)]
    persona_posts = original_events(
        rng,
        post_times(rng, start + HOUR, rebrand_at, 22 * HOUR),
        topic_posts(topic),
        propaganda=False,
        photo_chance=0.3 * ctx.photo_factor,
        image_ids=benign_images,
    )
    photo_at = rebrand_at + rng.randint(MINUTE, 30 * MINUTE)
    style = ctx.variant.mirror_style(rng, rng.choice(("forward", "copy")), MIRROR_HASHTAGS)
    feed = mirror_feed(rng, outlet_posts, style, since=shift_at, until=end)
    events = [
        creation_event(start, persona),
        *persona_posts,
        Event(ts=rebrand_at, action="edit_group_title", new_title=new_title),
        Event(ts=photo_at, action="edit_group_photo", image_id=rng.choice(plan.images)),
        *feed.events,
        *migration_events(rng, plan.moves, shift_at, end, plan.backup_handle),
    ]
    write_chat(ctx, channel, events)
    ctx.truth.add_mirror(
        channel,
        outlet_channel,
        method=style.method,
        since=shift_at,
        until=end,
        carried=feed.carried,
        eligible=feed.eligible,
    )
    ctx.truth.add_rebrand(
        channel,
        at=rebrand_at,
        from_title=persona,
        to_title=new_title,
        content_shift_at=shift_at,
        kind="sleeper",
    )
    return channel
