"""Which channel a forward came from: `forwarded_from` names resolved by titles *at that time*.

Telegram exports name a forward's origin by the title the origin channel had when it posted
(kept through forward chains), not by an id.  Titles change (rebrands) and are reused by
look-alikes, so a name is resolved against every channel's title history: a channel
qualifies if it carried that title at some point up to the forward's date.  Each title run
is valid from its first observation until the next different title; a channel's first run
is extended back to the beginning of time, since an export may begin after its creation.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from undertow.store import schema

EARLIEST = -(2**62)


@dataclass(frozen=True, slots=True)
class TitleRun:
    channel_id: str
    title: str
    start: int
    end: int | None  # None: still current


class TitleIndex:
    """Title runs of every channel, looked up by normalised title."""

    def __init__(self, runs: list[TitleRun]) -> None:
        self.runs = runs
        self._by_title: dict[str, list[TitleRun]] = {}
        for run in runs:
            self._by_title.setdefault(_key(run.title), []).append(run)

    @classmethod
    def load(cls, conn: sa.Connection) -> TitleIndex:
        t = schema.channel_titles
        runs: list[TitleRun] = []
        current: list[str | int] = []  # channel_id, title, start
        for channel_id, title, at in conn.execute(
            sa.select(t.c.channel_id, t.c.title, t.c.at).order_by(t.c.channel_id, t.c.at, t.c.id)
        ):
            if current and current[0] == channel_id and current[1] == title:
                continue
            if current and current[0] == channel_id:
                runs.append(TitleRun(str(current[0]), str(current[1]), int(current[2]), at))
                current = [channel_id, title, at]
                continue
            if current:
                runs.append(TitleRun(str(current[0]), str(current[1]), int(current[2]), None))
            current = [channel_id, title, EARLIEST]
        if current:
            runs.append(TitleRun(str(current[0]), str(current[1]), int(current[2]), None))
        return cls(runs)

    def candidates(self, name: str, at: int) -> list[str]:
        """Channels that had title `name` at some time up to `at`, the one whose
        run covers `at` first."""
        runs = [run for run in self._by_title.get(_key(name), ()) if run.start <= at]
        runs.sort(key=lambda run: (not (run.end is None or run.end > at), -run.start))
        seen: list[str] = []
        for run in runs:
            if run.channel_id not in seen:
                seen.append(run.channel_id)
        return seen


def _key(title: str) -> str:
    # Exact, apart from surrounding whitespace: look-alike titles ("Nаshir" with a Cyrillic
    # а) belong to other channels, and the export writes the origin's title verbatim.
    return title.strip()
