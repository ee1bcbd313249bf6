"""Lineages: channels that are one actor over time, banned and re-created under look-alike names.

A link A -> B says B is A come back.  B must start after A stops (at most `MAX_OVERLAP` before
A's last post, at most `MAX_GAP` after it) and something must name or resemble A: a t.me link
or @mention in A resolving to B, or in B's first posts resolving to A (handles resolve by the
`handle` column, else by `name_stem` of titles); a "we are back" greeting in B's first posts;
or look-alike titles.  Candidate pairs come from blocks, never from all pairs: channels sharing
the first letters of a title stem, the channels an announcement resolves to, and the channels
that stopped just before a greeting - each block scanned in time order.  A handle matching
several channels' stem (every incarnation shares it) counts for the likeliest in time whose
mirroring does not contradict it.

Score: ``1 - (1 - named) * (1 - factor * rest)``, where `named` is the noisy-OR of `NAMED` per
message naming the other channel, `rest` the noisy-OR of the title (`SAME_NAME` or
`SIMILAR_NAME`), a greeting (`GREETING`), mirroring the same feed by the same method with
alike lags (`SAME_STYLE`) and timing (`TIMING` for no gap, falling linearly to 0 at `MAX_GAP`),
and `factor` (`OTHER_METHOD`, `OTHER_SOURCE`, else 1) discounts the rest when the two mirror
differently.  Links need a score of `LINK_THRESHOLD`, so timing and source alone, which many
parallel mirrors share, never make one.  Each channel keeps its best-scoring predecessor and
successor; then a link that skips over a channel left out, which links both ways, goes through
it (`lineage_chains.py`).  The mirroring comparison is `lineage_style.py`.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from undertow.enrich.normalise import matching_form
from undertow.network.lineage_chains import LineageLink, fill_skips, resolve_conflicts
from undertow.network.lineage_style import MirrorStyles, duration
from undertow.network.names import name_stem
from undertow.store import schema

DAY = 86_400
MAX_OVERLAP = DAY  # B may start this long before A's last post
MAX_GAP = 21 * DAY  # longest pause from A's last post to B's first
EARLY_WINDOW = 2 * DAY  # B's posts this soon after its first may greet or name A
LINK_THRESHOLD = 0.7
NAMED = 0.9  # a message of A names B, or one of B's first names A
GREETING = 0.5  # B's first posts say "we are back" without naming A
SAME_NAME = 0.7  # equal title stems
SIMILAR_NAME = 0.5  # title stems at least SIMILAR_RATIO alike (both >= MIN_SIMILAR_CHARS)
SIMILAR_RATIO = 0.85
MIN_SIMILAR_CHARS = 5
TIMING = 0.3  # for no gap; falls linearly to 0 at MAX_GAP
BLOCK_CHARS = 4  # title stems are compared within blocks sharing this many first letters

_GREETING = re.compile(
    r"\b(?:we(?: a|'|’| )?re back|we (?:have )?returned|back again|our new channel"
    r"|this is the new channel|old channel)\b|عدنا"
)


@dataclass
class Lineage:
    lineage_id: str
    channels: list[str]
    links: list[LineageLink]
    lifetimes: list[dict[str, Any]]


@dataclass
class _Span:
    channel_id: str
    first: int
    last: int
    title: str = ""  # the current one
    titles: list[tuple[str, str]] = field(default_factory=list)  # (title, stem), oldest first


@dataclass
class _Evidence:
    named: list[str] = field(default_factory=list)
    greeting: tuple[str, str] | None = None  # (quoted text, sentence)
    title: tuple[float, str] | None = None  # (weight, sentence)


@lru_cache(maxsize=1 << 16)
def _stem_weight(stem_a: str, stem_b: str) -> tuple[float, float]:
    """(`SAME_NAME`, `SIMILAR_NAME` or 0; similarity) of two stems.  Cached: incarnations
    share a few stems, and a block's same-name channels are compared pair by pair."""
    if stem_a == stem_b:
        return (SAME_NAME, 1.0) if stem_a else (0.0, 0.0)
    if min(len(stem_a), len(stem_b)) < MIN_SIMILAR_CHARS:
        return 0.0, 0.0
    ratio = SequenceMatcher(None, stem_a, stem_b).ratio()
    return (SIMILAR_NAME, ratio) if ratio >= SIMILAR_RATIO else (0.0, ratio)


def find_lineages(conn: sa.Connection) -> list[Lineage]:
    """Every chain of re-created channels in the store, with the evidence for each link."""
    spans = _load_spans(conn)
    pairs: dict[tuple[str, str], _Evidence] = {}
    mirrors = MirrorStyles.load(conn, {cid: span.title for cid, span in spans.items()})
    _add_title_evidence(spans, pairs, mirrors)
    greeted = _add_greetings(conn, spans, pairs, mirrors)
    for sentence, candidates in _find_announcements(conn, spans):
        a, b = _likeliest(candidates, mirrors)
        evidence = pairs.setdefault((a.channel_id, b.channel_id), _Evidence())
        if sentence not in evidence.named:
            evidence.named.append(sentence)
        evidence.title = evidence.title or _best_title_match(a, b)
    for (_, target), evidence in pairs.items():  # every pair here may follow
        evidence.greeting = evidence.greeting or greeted.get(target)
    links = []
    for (source, target), evidence in pairs.items():
        score, sentences = _weigh(spans[source], spans[target], evidence, mirrors)
        if score >= LINK_THRESHOLD:
            links.append(LineageLink(source, target, round(score, 3), sentences))
    named = {pair for pair, evidence in pairs.items() if evidence.named}
    return _chain(fill_skips(resolve_conflicts(links), links, keep=named), spans)


def _first_post(span: _Span) -> tuple[int, str]:
    return span.first, span.channel_id


def _may_follow(a: _Span, b: _Span) -> bool:
    """Whether b's timeline lets it be a's successor."""
    return (
        b.channel_id != a.channel_id
        and b.first > a.first
        and b.last >= a.last
        and a.last - MAX_OVERLAP <= b.first <= a.last + MAX_GAP
    )


def _load_spans(conn: sa.Connection) -> dict[str, _Span]:
    """First and last post (messages, not service actions) and titles of every channel."""
    m, c, t = schema.messages, schema.channels, schema.channel_titles
    spans = {
        channel_id: _Span(channel_id, int(first), int(last))
        for channel_id, first, last in conn.execute(
            sa.select(m.c.channel_id, sa.func.min(m.c.date), sa.func.max(m.c.date))
            .where(m.c.kind == "message")
            .group_by(m.c.channel_id)
        )
    }
    history = conn.execute(sa.select(t.c.channel_id, t.c.title).order_by(t.c.channel_id, t.c.at))
    current = list(conn.execute(sa.select(c.c.channel_id, c.c.title).where(c.c.title.is_not(None))))
    for channel_id, title in [*history, *current]:
        span = spans.get(channel_id)
        if span is not None and title and all(title != known for known, _ in span.titles):
            span.titles.append((title, name_stem(title)))
    for channel_id, title in current:
        if channel_id in spans:
            spans[channel_id].title = title
    return spans


def _add_title_evidence(
    spans: dict[str, _Span], pairs: dict[tuple[str, str], _Evidence], mirrors: MirrorStyles
) -> None:
    """Look-alike titles of channels that may follow each other, compared within blocks of
    channels sharing a stem's first letters and a feed.  Two channels that both mirror, but
    unrelated feeds, are never compared: their titles alone score under `LINK_THRESHOLD`
    (`OTHER_SOURCE`), so the pairs to compare grow with the channels of one feed, not with
    every channel of a popular name.  A channel that mirrors nothing is compared with all."""
    blocks: dict[tuple[str, str | None], set[str]] = {}
    for span in spans.values():
        keys: set[str | None] = {None, *mirrors.feed_keys(span.channel_id)}
        for _, stem in span.titles:
            for key in keys:
                blocks.setdefault((stem[:BLOCK_CHARS], key), set()).add(span.channel_id)
    for (_, feed), members in blocks.items():
        block = sorted((spans[c] for c in members), key=_first_post)
        # Pairs with a channel that mirrors nothing are for the block of no feed.
        free = [s for s in block if not mirrors.feeds.get(s.channel_id)] if feed is None else []
        free_ids = {span.channel_id for span in free}
        scans = [(block, [span.first for span in block]), (free, [span.first for span in free])]
        for a in block:
            among, firsts = scans[feed is None and a.channel_id not in free_ids]
            lo = bisect_left(firsts, a.last - MAX_OVERLAP)
            for b in among[lo : bisect_right(firsts, a.last + MAX_GAP)]:
                if (a.channel_id, b.channel_id) in pairs or not _may_follow(a, b):
                    continue
                match = _best_title_match(a, b)
                if match is not None:
                    pairs[(a.channel_id, b.channel_id)] = _Evidence(title=match)


def _best_title_match(a: _Span, b: _Span) -> tuple[float, str] | None:
    best: tuple[float, float, str, str] | None = None
    for title_a, stem_a in reversed(a.titles):  # A's latest title and B's first one first
        for title_b, stem_b in b.titles:
            weight, ratio = _stem_weight(stem_a, stem_b)
            if weight and (best is None or (weight, ratio) > best[:2]):
                best = (weight, ratio, title_a, title_b)
    if best is None:
        return None
    weight, ratio, title_a, title_b = best
    how = "same name after normalisation" if ratio == 1.0 else f"names {ratio:.0%} alike"
    return weight, f"look-alike titles: {title_a!r} -> {title_b!r} ({how})"


def _find_announcements(
    conn: sa.Connection, spans: dict[str, _Span]
) -> list[tuple[str, list[tuple[_Span, _Span]]]]:
    """(sentence, the (A, B) pairs it may mean, likeliest in time first) for every t.me link
    or @mention in A naming a possible successor, or in B's first posts naming a predecessor."""
    c, m, ml = schema.channels, schema.messages, schema.message_links
    by_name: dict[str, set[str]] = {}
    for span in spans.values():
        for _, stem in span.titles:
            by_name.setdefault(stem, set()).add(span.channel_id)
    by_handle: dict[str, set[str]] = {}
    for channel_id, handle in conn.execute(sa.select(c.c.channel_id, c.c.handle)):
        if handle and channel_id in spans:
            by_handle.setdefault(handle.lower().lstrip("@"), set()).add(channel_id)
    query = (
        sa.select(ml.c.channel_id, ml.c.target, m.c.date, m.c.text)
        .join(m, sa.and_(m.c.channel_id == ml.c.channel_id, m.c.message_id == ml.c.message_id))
        .where(ml.c.platform == "telegram", ml.c.kind.in_(("channel", "message")))
        .where(ml.c.target.is_not(None))
        .order_by(m.c.date, ml.c.channel_id, ml.c.message_id, ml.c.position)
    )
    found: list[tuple[str, list[tuple[_Span, _Span]]]] = []
    for channel_id, target, date, text in conn.execute(query):
        poster = spans.get(channel_id)
        if poster is None or target.startswith("c/"):
            continue
        named = by_handle.get(target) or by_name.get(name_stem(target), set())
        others = [spans[other] for other in sorted(named) if other != channel_id]
        successors = sorted((b for b in others if _may_follow(poster, b)), key=_first_post)
        if successors:
            before = duration(poster.last - date)
            sentence = f"announced: {_quote(text)} posted {before} before it stopped"
            found.append((sentence, [(poster, b) for b in successors]))
        predecessors = [a for a in others if _may_follow(a, poster)]
        if predecessors and date <= poster.first + EARLY_WINDOW:
            predecessors.sort(key=lambda span: (-span.last, span.channel_id))
            after = duration(date - poster.first)
            sentence = f"announced: {_quote(text)} posted {after} after the successor started"
            found.append((sentence, [(a, poster) for a in predecessors]))
    return found


def _add_greetings(
    conn: sa.Connection,
    spans: dict[str, _Span],
    pairs: dict[tuple[str, str], _Evidence],
    mirrors: MirrorStyles,
) -> dict[str, tuple[str, str]]:
    """'We are back' in a channel's first posts: the greetings by channel, added to the pairs
    of channels that stopped just before and mirror the same feed."""
    m = schema.messages
    first = (
        sa.select(m.c.channel_id, sa.func.min(m.c.date).label("first"))
        .where(m.c.kind == "message")
        .group_by(m.c.channel_id)
        .subquery()
    )
    query = (
        sa.select(m.c.channel_id, m.c.date, m.c.text)
        .join(first, first.c.channel_id == m.c.channel_id)
        .where(m.c.kind == "message", m.c.date <= first.c.first + EARLY_WINDOW)
        .order_by(m.c.channel_id, m.c.date, m.c.message_id)
    )
    greeted: dict[str, tuple[str, str]] = {}
    for channel_id, date, text in conn.execute(query):
        if channel_id not in greeted and text and _is_greeting(text):
            quote, after = _quote(text), duration(date - spans[channel_id].first)
            greeted[channel_id] = (quote, f"greeting: {quote} posted {after} after it started")
    # A greeting and a pause alone score under LINK_THRESHOLD; with look-alike titles the pair
    # is already here, else it needs the same feed mirrored alike (`SAME_STYLE`): so only
    # channels sharing a feed are paired here, not every channel that stopped in time.
    by_feed: dict[str, list[_Span]] = {}
    for span in spans.values():
        for key in mirrors.feed_keys(span.channel_id):
            by_feed.setdefault(key, []).append(span)
    lasts: dict[str, list[int]] = {}
    for key, group in by_feed.items():
        group.sort(key=lambda s: (s.last, s.channel_id))
        lasts[key] = [span.last for span in group]
    for channel_id, greeting in greeted.items():
        b = spans[channel_id]
        for key in sorted(mirrors.feed_keys(channel_id)):
            lo = bisect_left(lasts[key], b.first - MAX_GAP)
            for a in by_feed[key][lo : bisect_right(lasts[key], b.first + MAX_OVERLAP)]:
                if _may_follow(a, b):
                    pairs.setdefault((a.channel_id, b.channel_id), _Evidence()).greeting = greeting
    return greeted


def _is_greeting(text: str) -> bool:
    # Folding for evasions also reads "back!" as "backi", so the plain text is tried too.
    return bool(_GREETING.search(text.casefold()) or _GREETING.search(matching_form(text)))


def _likeliest(candidates: list[tuple[_Span, _Span]], mirrors: MirrorStyles) -> tuple[_Span, _Span]:
    """The pair an ambiguous announcement means: the likeliest in time among those whose
    mirroring does not contradict it, preferring a successor that starts after its
    predecessor's last post over one already running beside it."""

    def fit(index: int) -> tuple[bool, bool, int]:
        a, b = candidates[index]
        agrees = not mirrors.compare(a.channel_id, b.channel_id).contradicts
        return agrees, b.first >= a.last, -index

    return candidates[max(range(len(candidates)), key=fit)]


def _weigh(
    a: _Span, b: _Span, evidence: _Evidence, mirrors: MirrorStyles
) -> tuple[float, list[str]]:
    """The link's score (see the module's docstring) and the sentences a reviewer reads."""
    if not (evidence.named or evidence.greeting or evidence.title):
        return 0.0, []
    sentences = list(evidence.named)
    rest: list[float] = []
    if evidence.greeting:
        quote, sentence = evidence.greeting
        if not any(quote in named for named in evidence.named):
            sentences.append(sentence)
        rest.append(GREETING)
    if evidence.title:
        rest.append(evidence.title[0])
        sentences.append(evidence.title[1])
    style = mirrors.compare(a.channel_id, b.channel_id)
    if style.weight:
        rest.append(style.weight)
        sentences.append(style.sentence or "")
    gap = b.first - a.last
    rest.append(TIMING * max(0.0, 1 - max(gap, 0) / MAX_GAP))
    if gap >= 0:
        sentences.append(f"started {duration(gap)} after the previous one stopped")
    else:
        sentences.append(f"started {duration(-gap)} before the previous one's last post")
    if style.sentence and not style.weight:
        sentences.append(style.sentence)
    named = 1 - (1 - NAMED) ** len(evidence.named)
    return 1 - (1 - named) * (1 - style.factor * _noisy_or(rest)), sentences


def _noisy_or(weights: Iterable[float]) -> float:
    miss = 1.0
    for weight in weights:
        miss *= 1 - weight
    return 1 - miss


def _chain(links: list[LineageLink], spans: dict[str, _Span]) -> list[Lineage]:
    successor = {link.source: link for link in links}
    targets = {link.target for link in links}
    lineages: list[Lineage] = []
    for head in sorted(successor.keys() - targets, key=lambda c: _first_post(spans[c])):
        channels, chain_links = [head], []
        while channels[-1] in successor:
            chain_links.append(successor[channels[-1]])
            channels.append(chain_links[-1].target)
        lifetimes = []
        for index, channel_id in enumerate(channels):
            span = spans[channel_id]
            following = spans[channels[index + 1]] if index + 1 < len(channels) else None
            lifetimes.append(
                {
                    "channel_id": channel_id,
                    "first_post": span.first,
                    "last_post": span.last,
                    "lifetime_s": span.last - span.first,
                    "gap_before_next_s": following.first - span.last if following else None,
                }
            )
        lineages.append(Lineage(f"lineage:{head}", channels, chain_links, lifetimes))
    return lineages


def _quote(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
