"""Stage: network intelligence over the whole store (mirrors, networks, rebrands, lineages).

1. Near-duplicate text: messages after the `network.neardup` watermark are signed and added
   to the MinHash-LSH index kept in `<data dir>/index/neardup/`; their pairs with everything
   before go to `text_copies`, and the hash of each one's cleaned text to `text_keys`
   (incremental: `stages/neardup.py`).
2. Mirrors: every message's equivalents in other channels (identical or near-identical
   text, forwards resolved by title at the time, the same or near-identical picture) give
   carriages (`network.linking`); each channel's sources are chosen (`network.mirrors`) and
   grouped into networks named after their root.  `mirror_pairs` and `networks` are rebuilt
   each run: a relation is a property of whole timelines, and this pass is linear in the
   messages.
3. Rebrands: every title change with the content before and after (`network.rebrands`).
4. Lineages: channels that are one actor over time, with scored, explained links
   (`network.lineages`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from undertow.gcpause import collector_paused
from undertow.heap import heap_kept
from undertow.network.lineages import Lineage, find_lineages
from undertow.network.linking import Post, link_posts
from undertow.network.mirrors import MIN_CARRIED, MirrorPair, assign_networks, choose_sources
from undertow.network.rebrands import Rebrand, find_rebrands
from undertow.network.titles import TitleIndex
from undertow.settings import Settings
from undertow.stages.neardup import near_duplicates
from undertow.store import Store, schema

REBRAND_LEAD = 7 * 86_400


@dataclass
class NetworkReport:
    new_messages: int = 0
    text_pairs: int = 0
    mirror_pairs: int = 0
    networks: int = 0
    rebrands: int = 0
    lineages: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def analyse_network(
    store: Store, settings: Settings, *, progress: Callable[[int], None] | None = None
) -> NetworkReport:
    # Millions of posts, carriages and dictionary entries live through the mirror step and
    # form no cycles: the cyclic collector would walk them all again and again as they pile
    # up (decision 63).  glibc keeps the memory the stage frees, rather than handing it back
    # and faulting it in again (decision 70).
    with _small_pages(), heap_kept(), collector_paused():
        return _analyse(store, settings, progress)


@contextlib.contextmanager
def _small_pages() -> Iterator[None]:
    """NumPy asks the kernel for 2 MiB pages for its large arrays; where the kernel then
    compacts memory on demand (transparent huge pages set to "madvise"), each fresh array
    waits for it, more the more memory the process holds.  Measured on this stage
    (bench/network_scale.py): 270 s instead of 286-317 s at 4M messages, 65 s instead of 69-75 s
    at 1M, so it is switched off for the stage and restored after (decision 61)."""
    switch = getattr(np._core.multiarray, "_set_madvise_hugepage", None)  # type: ignore[attr-defined]
    if switch is None:
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)


def _analyse(
    store: Store, settings: Settings, progress: Callable[[int], None] | None
) -> NetworkReport:
    report = NetworkReport()
    began = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal began
        now = time.perf_counter()
        report.seconds[name] = round(now - began, 2)
        began = now

    report.new_messages, report.text_pairs = near_duplicates(store, settings, progress)
    lap("near_duplicates")
    with store.engine.begin() as conn:
        rebrands = find_rebrands(conn)
        report.rebrands = len(rebrands)
        lap("rebrands")
        pairs, networks = _mirrors(conn, rebrands)
        report.mirror_pairs, report.networks = len(pairs), len(networks)
        lap("mirrors")
        found = find_lineages(conn)
        report.lineages = len(found)
        _write_lineages(conn, found)
        lap("lineages")
        conn.execute(schema.rebrands.delete())
        if rebrands:
            conn.execute(
                schema.rebrands.insert(),
                [
                    {
                        "channel_id": r.channel_id,
                        "at": r.at,
                        "from_title": r.from_title,
                        "to_title": r.to_title,
                        "message_id": r.message_id,
                        "kind": r.kind,
                        "evidence": r.evidence,
                    }
                    for r in rebrands
                ],
            )
    return report


def _mirrors(
    conn: sa.Connection, rebrands: list[Rebrand]
) -> tuple[list[MirrorPair], dict[str, list[str]]]:
    titles = TitleIndex.load(conn)
    m, mm = schema.messages, schema.message_media
    media: dict[tuple[str, int], list[str]] = defaultdict(list)
    for channel_id, message_id, sha in conn.execute(
        sa.select(mm.c.channel_id, mm.c.message_id, mm.c.sha256).where(mm.c.sha256.is_not(None))
    ):
        media[(channel_id, message_id)].append(sha)
    posts: list[Post] = []
    resolved: dict[tuple[str, int], tuple[str, ...]] = {}
    keys = schema.text_keys
    for row in conn.execute(
        sa.select(
            m.c.id, m.c.channel_id, m.c.message_id, m.c.date, m.c.forwarded_from, keys.c.text_key
        )
        .select_from(m.outerjoin(keys, keys.c.id == m.c.id))
        .where(m.c.kind == "message")
        .order_by(m.c.id)
    ):
        forward: tuple[str, ...] = ()
        if row.forwarded_from:
            # Titles are resolved per day: forwards of one source on one day share the answer.
            key = (row.forwarded_from, row.date // 86_400)
            if key not in resolved:
                resolved[key] = tuple(titles.candidates(row.forwarded_from, row.date)[:1])
            forward = resolved[key]
        posts.append(
            Post(
                row.id,
                row.channel_id,
                row.date,
                row.text_key,
                tuple(media.get((row.channel_id, row.message_id), ())),
                forward,
                bool(row.forwarded_from),
            )
        )
    copies = conn.execute(sa.select(schema.text_copies.c.id_a, schema.text_copies.c.id_b))
    near = np.fromiter(itertools.chain.from_iterable(copies), dtype=np.int64).reshape(-1, 2)
    similar = conn.execute(
        sa.select(schema.media_matches.c.sha256_a, schema.media_matches.c.sha256_b)
    ).all()
    links = link_posts(posts, near, [tuple(r) for r in similar], min_posts=MIN_CARRIED)
    dates = {post.id: post.date for post in posts}
    post_dates: dict[str, list[int]] = defaultdict(list)
    for post in posts:
        post_dates[post.channel_id].append(post.date)
    for channel_dates in post_dates.values():  # cheaper than sorting every post by date
        channel_dates.sort()
    pairs = choose_sources(links, dates, post_dates)
    _since_rebrand(pairs, rebrands)
    networks = assign_networks(pairs)
    _write_mirrors(conn, pairs, networks)
    return pairs, networks


def _write_lineages(conn: sa.Connection, found: list[Lineage]) -> None:
    conn.execute(schema.lineage_links.delete())
    conn.execute(schema.lineages.delete())
    if not found:
        return
    conn.execute(
        schema.lineages.insert(),
        [
            {"lineage_id": x.lineage_id, "channels": x.channels, "lifetimes": x.lifetimes}
            for x in found
        ],
    )
    conn.execute(
        schema.lineage_links.insert(),
        [
            {
                "lineage_id": x.lineage_id,
                "from_id": link.source,
                "to_id": link.target,
                "score": link.score,
                "evidence": link.evidence,
            }
            for x in found
            for link in x.links
        ],
    )


def _since_rebrand(pairs: list[MirrorPair], rebrands: list[Rebrand]) -> None:
    """A channel that starts carrying a feed within days of taking a new name is a mirror
    since the rebrand: that is when it became one, even if the first copy came later."""
    by_channel: dict[str, list[int]] = defaultdict(list)
    for rebrand in rebrands:
        by_channel[rebrand.channel_id].append(rebrand.at)
    for pair in pairs:
        recent = [
            at for at in by_channel.get(pair.channel_id, ()) if 0 <= pair.since - at <= REBRAND_LEAD
        ]
        if recent:
            pair.since = max(recent)


def _write_mirrors(
    conn: sa.Connection, pairs: list[MirrorPair], networks: dict[str, list[str]]
) -> None:
    conn.execute(schema.mirror_pairs.delete())
    conn.execute(schema.networks.delete())
    if pairs:
        conn.execute(
            schema.mirror_pairs.insert(),
            [
                {
                    "channel_id": p.channel_id,
                    "source_id": p.source_id,
                    "carried": p.carried,
                    "eligible": p.eligible,
                    "share": p.share,
                    "median_lag_s": p.median_lag_s,
                    "lag_iqr_s": p.lag_iqr_s,
                    "methods": p.methods,
                    "since": p.since,
                    "until": p.until,
                    "network_id": p.network_id,
                }
                for p in pairs
            ],
        )
    if not networks:
        return
    f = schema.text_features
    scores = dict(
        conn.execute(
            sa.select(f.c.channel_id, sa.func.avg(f.c.propaganda)).group_by(f.c.channel_id)
        ).all()
    )
    conn.execute(
        schema.networks.insert(),
        [
            {
                "network_id": network_id,
                "root_id": members[0],
                "channels": members,
                "propaganda": scores.get(members[0]),
            }
            for network_id, members in networks.items()
        ],
    )
