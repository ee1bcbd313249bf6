"""Carriages: which earlier post of another channel each post carries, from every kind of
evidence (the first half of mirror detection; `mirrors.py` chooses sources from them).

Evidence that two posts in different channels are the same post: identical text (after
normalisation), near-identical text (MinHash-LSH pairs: copies with emoji, hashtags, case or
truncation), the same or a near-identical picture (SHA-256, PDQ pairs), and a forward whose
origin name resolves to the channel by its title at the time.  Each post is linked to the
latest equivalent post of every other channel published before it; text evidence outranks
pictures (outlets re-use pictures), and a forward names its method.

Columnar: posts become arrays, every kind of evidence a pair of arrays (post, earlier post),
and choosing is sorting, so the cost is a few passes over arrays as long as the evidence, not
Python work per post.  A text or picture repeated across the store (boilerplate) gives each
post a bounded number of candidates: the earliest and the nearest (`MAX_EQUIVALENTS`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

I64 = np.ndarray[Any, np.dtype[np.int64]]

MEDIA_MAX_LAG = 3 * 86_400
"""A picture alone links posts at most this far apart (outlets and pools re-use pictures)."""
MAX_EQUIVALENTS = 64
"""Equivalent posts of other channels considered per post: the earliest half (the original
and the first to re-post it) and the nearest half in time.  Boilerplate and popular pictures
are posted by more channels the larger the store, so this bound keeps each post's cost flat."""
_ROOM = 2 * MAX_EQUIVALENTS  # read at each end of a group: room for a channel's own repeats
_METHODS = ("copy", "media", "forward")
_CHUNK = 1 << 16  # carriages converted to Python objects at once
_BLOCK = 1 << 16
"""Posts of mirror channels whose evidence is weighed at once (a bound on the arrays sorted)."""


@dataclass(slots=True)
class Post:
    id: int
    channel_id: str
    date: int
    text_key: int | str | None = None  # equal for identical texts (after normalisation)
    media: tuple[str, ...] = ()
    forward_channels: tuple[str, ...] = ()  # channels its forward name resolves to
    is_forward: bool = False


@dataclass(slots=True)
class Carriage:
    """Post `mirror_post` of one channel carries post `source_post` (None: named by a forward
    only) of another, `lag` seconds later, by `method`."""

    mirror_post: int
    source_post: int | None
    lag: int | None
    method: str


def link_posts(
    posts: Sequence[Post],
    near_pairs: Iterable[tuple[int, int]] | I64 = (),
    media_pairs: Iterable[tuple[str, str]] = (),
    *,
    min_posts: int = 1,
) -> dict[tuple[str, str], list[Carriage]]:
    """Carriages by (mirror channel, source channel), each list in the order of `posts`;
    `near_pairs` are pairs of post ids (or an n x 2 array of them).  Channel pairs with
    fewer than `min_posts` carriages are left out: in a larger store, boilerplate links ever
    more channels by a post or two, evidence of nothing that costs the most to carry on.

    The evidence is prepared for all posts at once (sorted once), then worked out a block of
    mirror channels at a time (`_BLOCK` posts): every array a block sorts and gathers stays
    the same size however large the store, so the cost per post does not grow with it."""
    table = _Table(posts)
    blocks = _Blocks(table)
    text = _TextEvidence(table, near_pairs, blocks)
    media = _MediaEvidence(table, posts, media_pairs, blocks)
    named, named_channel = table.named
    other = named_channel != table.channel[named]
    named_parts = blocks.split(named[other], named_channel[other])
    links: dict[tuple[str, str], list[Carriage]] = {}
    for block in range(blocks.count):
        text_post, text_match = _latest_per_channel(table, *text.candidates(block))
        media_post, media_match = _latest_per_channel(table, *media.candidates(block))
        # A picture alone counts only between posts whose texts do not disagree (one has none).
        agree = (table.text[media_post] < 0) | (table.text[media_match] < 0)
        forward_post, forward_channel = named_parts[block]
        sizes = [len(text_post), int(agree.sum()), len(forward_post)]
        post = np.concatenate((text_post, media_post[agree], forward_post))
        matched = np.concatenate((text_match, media_match[agree]))
        source = np.concatenate((matched, np.full(sizes[2], -1)))
        channel = np.concatenate((table.channel[matched], forward_channel))
        # Per post and channel: text evidence first, then a picture, then a forward's name
        # alone (a forward whose name resolves to a channel no evidence chose).  Sorted by
        # mirror channel, channel and post, which is also the order the carriages are listed in.
        rank = np.repeat(np.arange(3), sizes)
        order = np.lexsort((rank, post, channel, table.channel[post]))
        post, source, channel, rank = post[order], source[order], channel[order], rank[order]
        first = _run_heads(post, channel)
        post, source, channel, rank = post[first], source[first], channel[first], rank[first]
        if min_posts > 1:
            heads = _run_heads(table.channel[post], channel)
            kept = _run_ends(heads) - _run_starts(heads) >= min_posts
            post, source, channel, rank = post[kept], source[kept], channel[kept], rank[kept]
        _assemble(links, table, post, source, channel, np.where(table.forward[post], 2, rank))
    return links


class _Table:
    """Posts as arrays, by position in the given sequence; channels and texts as codes."""

    def __init__(self, posts: Sequence[Post]) -> None:
        channels: dict[str, int] = {}
        texts: dict[int | str, int] = {}
        n = len(posts)
        self.ids = np.fromiter((p.id for p in posts), dtype=np.int64, count=n)
        self.date = np.fromiter((p.date for p in posts), dtype=np.int64, count=n)
        self.channel = np.fromiter(
            (channels.setdefault(p.channel_id, len(channels)) for p in posts), np.int64, n
        )
        self.text = np.fromiter(
            (-1 if p.text_key is None else texts.setdefault(p.text_key, len(texts)) for p in posts),
            np.int64,
            n,
        )
        self.forward = np.fromiter((p.is_forward for p in posts), dtype=bool, count=n)
        named = [(k, channels.setdefault(c, len(channels)))
                 for k, p in enumerate(posts) for c in p.forward_channels]  # fmt: skip
        pairs = np.array(named, dtype=np.int64).reshape(-1, 2)
        self.named = pairs[:, 0], pairs[:, 1]
        self.channel_names = list(channels)
        # Ids are message ids, nearly consecutive: a direct map from id to position costs one
        # read per lookup; ids spread thinly fall back to a binary search.
        self._low = int(self.ids.min()) if n else 0
        span = int(self.ids.max()) - self._low + 1 if n else 0
        self._where: I64 | None = None
        if span <= 4 * n:
            self._where = np.full(span, -1, dtype=np.int64)
            self._where[(self.ids - self._low)[::-1]] = np.arange(n - 1, -1, -1)  # first wins
        self._by_id = np.argsort(self.ids, kind="stable") if self._where is None else None

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, ids: I64) -> tuple[I64, np.ndarray[Any, np.dtype[np.bool_]]]:
        """Position of each id among the posts, and whether it is one of them."""
        if not len(self):
            return np.zeros(len(ids), np.int64), np.zeros(len(ids), bool)
        if self._where is not None:
            offset = ids - self._low
            inside = (offset >= 0) & (offset < len(self._where))
            at = self._where[np.where(inside, offset, 0)]
            found = inside & (at >= 0)
            return np.where(found, at, 0), found
        assert self._by_id is not None
        at = np.minimum(np.searchsorted(self.ids, ids, sorter=self._by_id), len(self) - 1)
        return self._by_id[at], self.ids[self._by_id[at]] == ids


class _Blocks:
    """Mirror channels in blocks of about `_BLOCK` posts, in channel order (so that blocks
    list carriages in the order one pass over all of them would)."""

    def __init__(self, table: _Table) -> None:
        per_channel = np.bincount(table.channel, minlength=len(table.channel_names))
        of_channel = (np.cumsum(per_channel) - per_channel) // _BLOCK
        self.of_post = of_channel[table.channel] if len(table) else np.zeros(0, np.int64)
        self.count = int(self.of_post.max()) + 1 if len(table) else 0

    def split(self, post: I64, *columns: I64) -> list[tuple[I64, ...]]:
        """`post` and `columns` (rows keyed by post) split by the post's block, each block's
        rows in their given order: a counting sort, linear in the rows."""
        block = self.of_post[post]
        order = np.argsort(block.astype(np.uint16 if self.count <= 1 << 16 else np.int64),
                           kind="stable")  # fmt: skip
        bounds = np.concatenate(([0], np.cumsum(np.bincount(block, minlength=self.count))))
        arranged = [column[order] for column in (post, *columns)]
        return [tuple(column[lo:hi] for column in arranged)
                for lo, hi in itertools.pairwise(bounds.tolist())]  # fmt: skip


class _TextEvidence:
    """(post, candidate) pairs for near-duplicate pairs (both ways) and for the posts of the
    same text up to each post's date, by block."""

    def __init__(
        self, table: _Table, near_pairs: Iterable[tuple[int, int]] | I64, blocks: _Blocks
    ) -> None:
        listed = near_pairs if isinstance(near_pairs, np.ndarray) else list(near_pairs)
        near = np.asarray(listed, dtype=np.int64).reshape(-1, 2)
        a, found_a = table.positions(near[:, 0])
        b, found_b = table.positions(near[:, 1])
        keep = found_a & found_b
        a, b = a[keep], b[keep]
        self._near = blocks.split(np.concatenate((a, b)), np.concatenate((b, a)))
        has = np.flatnonzero(table.text >= 0)
        self._order = has[np.lexsort((table.ids[has], table.date[has], table.text[has]))]
        group = table.text[self._order]
        # Same-date posts are all "before" one another: the order within a second is unknown.
        self._low = _run_starts(_run_heads(group))
        self._high = _run_ends(_run_heads(group, table.date[self._order]))
        self._at = blocks.split(self._order, np.arange(len(self._order)))

    def candidates(self, block: int) -> tuple[I64, I64]:
        near_post, near_other = self._near[block]
        _, at = self._at[block]
        owner, other = _window(self._low[at], self._high[at], at)
        order = self._order
        return np.concatenate((near_post, order[owner])), np.concatenate((near_other, order[other]))


class _MediaEvidence:
    """(post, candidate) pairs for the posts showing the same or a near-identical picture
    from `MEDIA_MAX_LAG` before each post to its date, by block."""

    def __init__(
        self,
        table: _Table,
        posts: Sequence[Post],
        media_pairs: Iterable[tuple[str, str]],
        blocks: _Blocks,
    ) -> None:
        codes: dict[str, int] = {}
        shown = np.array([(k, codes.setdefault(sha, len(codes)))
                          for k, p in enumerate(posts) for sha in p.media], np.int64)  # fmt: skip
        shown = shown.reshape(-1, 2)
        listed = [(codes[x], codes[y]) for x, y in media_pairs if x in codes and y in codes]
        similar = np.array(listed, dtype=np.int64).reshape(-1, 2)
        # Each post looks up its own pictures and those near-identical to them.
        look = shown
        if len(similar):
            both = np.concatenate((similar, similar[:, ::-1]))
            both = both[np.argsort(both[:, 0], kind="stable")]
            first = np.searchsorted(both[:, 0], shown[:, 1], side="left")
            count = np.searchsorted(both[:, 0], shown[:, 1], side="right") - first
            owner, at = _ranges(first, count)
            look = np.concatenate((shown, np.stack((shown[owner, 0], both[at, 1]), axis=1)))
        # Pictures' posts sorted by (picture, date, id); a post's window is found by key.
        self._span = np.int64(1) << np.int64(34)
        self._base = int(table.date.min()) if len(table) else 0
        order = np.lexsort((table.ids[shown[:, 0]], table.date[shown[:, 0]], shown[:, 1]))
        self._owners = shown[order, 0]
        self._keys = shown[order, 1] * self._span + (table.date[self._owners] - self._base)
        self._look = blocks.split(look[:, 0], look[:, 1])
        self._date = table.date

    def candidates(self, block: int) -> tuple[I64, I64]:
        post, picture = self._look[block]
        dates = self._date[post] - self._base
        key = picture * self._span
        high = np.searchsorted(self._keys, key + dates, side="right")
        low = np.searchsorted(self._keys, key + np.maximum(dates - MEDIA_MAX_LAG, 0))
        owner, at = _window(low, high, np.arange(len(post)))
        return post[owner], self._owners[at]


def _run_heads(*columns: I64) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Where a run of equal rows (over all `columns`, sorted) begins."""
    heads = np.zeros(len(columns[0]), dtype=bool)
    heads[:1] = True
    for column in columns:
        heads[1:] |= column[1:] != column[:-1]
    return heads


def _run_starts(heads: np.ndarray[Any, np.dtype[np.bool_]]) -> I64:
    """For each row, where its run begins."""
    starts: I64 = np.maximum.accumulate(np.where(heads, np.arange(len(heads)), 0))
    return starts


def _run_ends(heads: np.ndarray[Any, np.dtype[np.bool_]]) -> I64:
    """For each row, where its run ends."""
    starts = np.flatnonzero(heads)
    ends: I64 = np.append(starts[1:], len(heads))[np.cumsum(heads) - 1]
    return ends


def _window(low: I64, high: I64, owner: I64) -> tuple[I64, I64]:
    """(owner, position) for positions [low, high) of each owner, or only the first and
    last `_ROOM` of them where there are more than twice as many."""
    size = high - low
    wide = size > 2 * _ROOM
    one = np.where(wide, _ROOM, size)
    two = np.where(wide, _ROOM, 0)
    first, at_first = _ranges(low, one)
    last, at_last = _ranges(high - two, two)
    return np.concatenate((owner[first], owner[last])), np.concatenate((at_first, at_last))


def _ranges(starts: I64, counts: I64) -> tuple[I64, I64]:
    """(range number, position) for the ranges [starts, starts + counts)."""
    counts = np.maximum(counts, 0)
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = np.cumsum(counts) - counts
    return owner, np.repeat(starts - offset, counts) + np.arange(total)


def _latest_per_channel(table: _Table, post: I64, earlier: I64) -> tuple[I64, I64]:
    """For each post, its latest candidate (ties: the lowest id) per other channel among
    those published up to its date, after keeping the earliest and nearest
    `MAX_EQUIVALENTS // 2` where a post has more."""
    keep = (post != earlier) & (table.channel[post] != table.channel[earlier])
    keep &= table.date[earlier] <= table.date[post]
    post, earlier = post[keep], earlier[keep]
    order = np.lexsort((table.ids[earlier], table.date[earlier], post))
    post, earlier = post[order], earlier[order]
    fresh = _run_heads(post, earlier)
    post, earlier = post[fresh], earlier[fresh]
    heads = _run_heads(post)
    low, high = _run_starts(heads), _run_ends(heads)
    rank, size = np.arange(len(post)) - low, high - low
    half = MAX_EQUIVALENTS // 2
    bounded = (size <= MAX_EQUIVALENTS) | (rank < half) | (rank >= size - half)
    post, earlier = post[bounded], earlier[bounded]
    channel = table.channel[earlier]
    order = np.lexsort((table.ids[earlier], -table.date[earlier], channel, post))
    post, earlier, channel = post[order], earlier[order], channel[order]
    first = _run_heads(post, channel)
    return post[first], earlier[first]


def _assemble(
    links: dict[tuple[str, str], list[Carriage]],
    table: _Table,
    post: I64,
    source: I64,
    channel: I64,
    method: I64,
) -> None:
    """Add to `links` the carriages from arrays sorted by (mirror channel, channel, post);
    `source` -1: none.  Converted a chunk at a time, so that the Python values made at once
    stay few."""
    matched = source >= 0
    source_id = np.where(matched, table.ids[source], 0)
    lag = np.where(matched, table.date[post] - table.date[source], 0)
    columns = (table.channel[post], channel, table.ids[post], source_id, lag, method, matched)
    names = table.channel_names
    carriages: list[Carriage] = []
    last_m = last_s = -1
    for lo in range(0, len(post), _CHUNK):
        chunk = (column[lo : lo + _CHUNK].tolist() for column in columns)
        for m, s, mirror_post, source_post, delay, how, found in zip(*chunk, strict=True):
            if m != last_m or s != last_s:
                carriages = links.setdefault((names[m], names[s]), [])
                last_m, last_s = m, s
            carriages.append(
                Carriage(
                    mirror_post,
                    source_post if found else None,
                    delay if found else None,
                    _METHODS[how],
                )
            )
