"""How two channels mirror: the same feed, by the same method, with alike lags?  One part of
the evidence for a lineage link (`lineages.py`): incarnations of one actor keep mirroring
their feed the same way, and parallel mirrors of other feeds contradict a link."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa

from undertow.store import schema

DAY = 86_400
SAME_STYLE = 0.4  # same feed, same method, median lags at most LAG_RATIO apart
LAG_RATIO = 5
MIN_LAG = 60
OTHER_METHOD = 0.8  # factor on the rest: same feed, other method
OTHER_SOURCE = 0.5  # factor on the rest: both mirror, but unrelated sources


class Style(NamedTuple):
    weight: float  # SAME_STYLE or 0
    factor: float  # on the rest of the evidence
    sentence: str | None
    contradicts: bool  # other sources, methods or lags


@dataclass
class MirrorStyles:
    """Each channel's mirrored sources with the method it mostly uses and its median lag;
    `titles` name channels in the sentences."""

    feeds: dict[str, dict[str, tuple[str, int | None]]]
    titles: Mapping[str, str]

    @classmethod
    def load(cls, conn: sa.Connection, titles: Mapping[str, str]) -> MirrorStyles:
        p = schema.mirror_pairs
        feeds: dict[str, dict[str, tuple[str, int | None]]] = {}
        query = sa.select(p.c.channel_id, p.c.source_id, p.c.methods, p.c.median_lag_s)
        for channel_id, source_id, found, lag in conn.execute(query):
            counts = {k: v for k, v in (found or {}).items() if k != "media"} or found or {}
            if counts:
                method = max(sorted(counts), key=lambda k: counts[k])
                feeds.setdefault(channel_id, {})[source_id] = (method, lag)
        return cls(feeds, titles)

    def feed_keys(self, channel: str) -> set[str]:
        """The channel's sources and theirs: two channels whose feeds `compare` relates
        share one (empty for a channel that mirrors nothing)."""
        sources = self.feeds.get(channel, {})
        return {*sources, *(up for source in sources for up in self.feeds.get(source, {}))}

    def compare(self, a: str, b: str) -> Style:
        """How the mirroring of channels a and b agrees.  Sources count as one feed when
        equal or when one mirrors the other (a distributor, or a sibling credited instead)."""
        of_a, of_b = self.feeds.get(a, {}), self.feeds.get(b, {})
        if not of_a or not of_b:
            return Style(0.0, 1.0, None, contradicts=False)
        best: tuple[int, str, str] | None = None
        for source_a, source_b in sorted((x, y) for x in of_a for y in of_b):
            if not (
                source_a == source_b
                or source_a in self.feeds.get(source_b, {})
                or source_b in self.feeds.get(source_a, {})
            ):
                continue
            (method_a, lag_a), (method_b, lag_b) = of_a[source_a], of_b[source_b]
            rank = 1 + (method_a == method_b) + (method_a == method_b and _alike(lag_a, lag_b))
            if best is None or rank > best[0]:
                best = (rank, source_a, source_b)
        if best is None:
            names = f"{self._name(min(of_a))}; {self._name(min(of_b))}"
            return Style(0.0, OTHER_SOURCE, f"note: they mirror other sources ({names})", True)
        rank, source_a, source_b = best
        name = self._name(source_a)
        if source_b != source_a:
            name += f" / {self._name(source_b)}"
        (method_a, lag_a), (method_b, lag_b) = of_a[source_a], of_b[source_b]
        lags = f"median lags of {duration(lag_a)} and {duration(lag_b)}" if lag_a and lag_b else ""
        if rank == 3:
            sentence = f"both mirror the same feed ({name}) by {method_a}" + (lags and f", {lags}")
            return Style(SAME_STYLE, 1.0, sentence, contradicts=False)
        if rank == 2:
            return Style(0.0, 1.0, f"note: both mirror {name} by {method_a}, but {lags}", True)
        note = f"note: both mirror {name}, but by {method_a} and by {method_b}"
        return Style(0.0, OTHER_METHOD, note, contradicts=True)

    def _name(self, channel_id: str) -> str:
        return self.titles.get(channel_id) or channel_id


def _alike(lag_a: int | None, lag_b: int | None) -> bool:
    if lag_a is None or lag_b is None:
        return True
    low, high = sorted((max(lag_a, MIN_LAG), max(lag_b, MIN_LAG)))
    return high <= LAG_RATIO * low


def duration(seconds: int) -> str:
    """ "47 min", "2 hours", "10.3 days"."""
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < DAY:
        hours = round(seconds / 3600)
        return f"{hours} hour" + ("" if hours == 1 else "s")
    return f"{seconds / DAY:.1f} days"
