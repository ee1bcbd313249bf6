"""Mirror detection: which channel's feed each channel carries, since when, how fast and how.

Each post of a channel M is linked to the latest equivalent post of every other channel S
published before it (`linking.py`: identical or near-identical text, the same picture, a
forward's name). Choosing M's source among the channels it has links to: the outlet always
"has" every post first, and a distributor has the subset it re-posted. A mirror of the
distributor carries nothing the distributor lacks, so the distributor explains as many of M's
posts as the outlet does, with a shorter lag. So sources are chosen greedily: the candidate
explaining most of M's remaining linked posts (ties broken as `choose_sources` says); its
posts are set aside and the next source is sought among the rest. Pure functions: no I/O.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from undertow.network.linking import Carriage

MIN_CARRIED = 3
"""Fewest posts a channel must carry of another for a mirror relation."""
TIE = 0.01
"""Candidates explaining within 1 % as many posts are tied (see `choose_sources`)."""


@dataclass
class MirrorPair:
    channel_id: str
    source_id: str
    carried: int
    eligible: int
    share: float
    median_lag_s: int | None
    lag_iqr_s: int | None
    methods: dict[str, int]
    since: int
    until: int
    network_id: str | None = None
    carriages: list[Carriage] = field(default_factory=list, repr=False)


def choose_sources(
    links: dict[tuple[str, str], list[Carriage]],
    dates: dict[int, int],
    post_dates: dict[str, list[int]],
) -> list[MirrorPair]:
    """For each channel, the feeds it carries.

    `dates`: post id -> date; `post_dates`: channel -> sorted dates of its posts.  Sources
    are taken greedily by the number of the mirror's posts they explain.  Candidates that
    explain (nearly) as many are tied, typically the outlet, a distributor re-posting part of
    it and other mirrors; the tie goes to the most original candidate (fewest posts carried
    from elsewhere) unless a more downstream one holds *all* the explained posts while
    carrying only a share s of the upstream's: s ** n < ALPHA is too unlikely by chance, so
    the mirror follows that one (the largest such s: the nearest to the top).
    """
    by_mirror: dict[str, dict[str, list[Carriage]]] = defaultdict(dict)
    for (mirror, source), carriages in links.items():
        by_mirror[mirror][source] = carriages
    carried_posts: dict[str, set[int]] = defaultdict(set)
    for (mirror, _), carriages in links.items():
        carried_posts[mirror].update(c.mirror_post for c in carriages)
    originality = {
        channel: 1 - len(carried_posts.get(channel, ())) / max(1, len(dates_))
        for channel, dates_ in post_dates.items()
    }
    pairs: list[MirrorPair] = []
    for mirror, candidates in sorted(by_mirror.items()):
        explained: set[int] = set()
        floor = MIN_CARRIED
        # Each candidate's posts, built once: a mirror with many candidates takes few rounds.
        posts_of = {
            source: {c.mirror_post for c in carriages} for source, carriages in candidates.items()
        }
        while True:
            counts = {source: len(posts_of[source] - explained) for source in candidates}
            top = max(counts.values(), default=0)
            if top < floor:
                break
            tied = sorted(source for source, n in counts.items() if n >= top * (1 - TIE))
            source = _break_tie(tied, top, links, originality, dates, post_dates)
            own = [c for c in candidates.pop(source) if c.mirror_post not in explained]
            explained.update(c.mirror_post for c in own)
            pairs.append(_pair(mirror, source, own, dates, post_dates.get(source, [])))
            # A second feed must be a feed, not the first one's stragglers.
            floor = max(MIN_CARRIED, int(SECOND_FEED * len(own)))
    return pairs


ALPHA = 0.05
SECOND_FEED = 0.2


def _break_tie(
    tied: list[str],
    n: int,
    links: dict[tuple[str, str], list[Carriage]],
    originality: dict[str, float],
    dates: dict[int, int],
    post_dates: dict[str, list[int]],
) -> str:
    if len(tied) == 1:
        return tied[0]
    upstream = max(tied, key=lambda channel: (originality.get(channel, 0.0), channel))
    best, best_share = upstream, -1.0
    upstream_dates = post_dates.get(upstream, [])
    for candidate in tied:
        carriages = links.get((candidate, upstream), [])
        if candidate == upstream or not carriages:
            continue
        seen = sorted(dates[c.mirror_post] for c in carriages)
        low = bisect_left(upstream_dates, seen[0] - 86_400)
        high = bisect_right(upstream_dates, seen[-1])
        share = len({c.source_post for c in carriages}) / max(1, high - low)
        if share**n < ALPHA and share > best_share:
            best, best_share = candidate, share
    return best


def _pair(
    mirror: str,
    source: str,
    carriages: list[Carriage],
    dates: dict[int, int],
    source_dates: list[int],
) -> MirrorPair:
    lags = sorted(c.lag for c in carriages if c.lag is not None)
    median_lag = int(statistics.median(lags)) if lags else 0
    seen = sorted(dates[c.mirror_post] for c in carriages)
    since, until = seen[0], seen[-1]
    carried = len({c.source_post for c in carriages if c.source_post is not None})
    # The source's posts published while the mirror was carrying it.
    eligible = bisect_right(source_dates, until - median_lag) - bisect_left(
        source_dates, since - median_lag
    )
    if not carried:  # named by forwards only: the source's posts are not in the store
        carried = len(carriages)
    return MirrorPair(
        channel_id=mirror,
        source_id=source,
        carried=carried,
        eligible=eligible,
        share=round(min(1.0, carried / eligible), 4) if eligible else 0.0,
        median_lag_s=median_lag if lags else None,
        lag_iqr_s=int(_iqr(lags)) if len(lags) >= 4 else None,
        methods=dict(Counter(c.method for c in carriages)),
        since=since,
        until=until,
        carriages=carriages,
    )


def assign_networks(pairs: list[MirrorPair]) -> dict[str, list[str]]:
    """Group mirror relations into networks: each is named after its root, the channel the
    relations lead to that carries no one else's feed (the outlet)."""
    parent = {pair.channel_id: pair.source_id for pair in sorted(pairs, key=lambda p: -p.carried)}

    def root(channel: str) -> str:
        seen = {channel}
        while channel in parent and parent[channel] not in seen:
            channel = parent[channel]
            seen.add(channel)
        return channel

    networks: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        pair.network_id = f"net:{root(pair.source_id)}"
    for pair in pairs:
        assert pair.network_id is not None
        members = networks[pair.network_id]
        for channel in (root(pair.source_id), pair.source_id, pair.channel_id):
            if channel not in members:
                members.append(channel)
    return dict(networks)


def _iqr(values: list[int]) -> float:
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[2] - quartiles[0]
