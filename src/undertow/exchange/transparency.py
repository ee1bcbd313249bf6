"""The transparency report: how much was reviewed, actioned, referred and removed in a period.

Public accountability for a counter-terrorism review team rests on a few numbers anyone can
read and compare between periods: what was looked at, what was judged violating, what was
sent to a platform, and what the platform took down.  This module counts them from the
store, never from logs, so that a report can be re-derived later for the same period.

What counts (`DEFINITIONS` says it in words, and the report carries it):

- **reviewed**: the items of every case whose latest decision *inside the period* falls in
  it, whatever the verdict; **actioned**: those whose latest decision was `violating`.
  Taking the latest decision inside the period (not the latest ever) keeps a published
  report stable when a case is re-decided afterwards.
- **referred**: items of referral packages created in the period; **removed**: referred
  items whose status became `removed` in the period (by `status_at`).
- An *item* is one row of `case_items` (every copy of a post counts); a channel case with no
  items counts as one item, the channel itself.  *Channels* are distinct channel ids of the
  items.  An item counts once per bucket, however often it was referred.

Each measure is broken down by category (the decision's, else the case's, else
"uncategorised"), by platform (of the case's channel) and by UTC day; every day of the
period appears, zeros included, so the daily bar chart has one bar per day.

`render_json` writes the report as JSON; `render_html` (from
`undertow.exchange.transparency_html`, re-exported here) makes one static page of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from undertow.exchange.transparency_html import MEASURES, UNITS, render_html
from undertow.store import Store, schema

__all__ = [
    "ACTIONED",
    "DEFINITIONS",
    "MEASURES",
    "REMOVED",
    "UNCATEGORISED",
    "UNITS",
    "UNKNOWN_PLATFORM",
    "ItemKey",
    "ReportError",
    "render_html",
    "render_json",
    "transparency_report",
]

UNCATEGORISED = "uncategorised"
UNKNOWN_PLATFORM = "unknown"
ACTIONED = "violating"
REMOVED = "removed"
DEFINITIONS = {
    "reviewed": "Items of cases whose latest decision in the period was made in it (any verdict).",
    "actioned": "Reviewed items whose latest decision in the period was 'violating'.",
    "referred": "Items in referral packages created in the period.",
    "removed": "Referred items whose recipient reported them removed in the period.",
    "items": "Messages covered by the cases (every copy counts); a channel case with no "
    "messages counts as one item.",
    "channels": "Distinct channels holding those items.",
}
_CHUNK = 500
ItemKey = tuple[str, int | None]


class ReportError(ValueError):
    """The period asked for is not a period."""


@dataclass(frozen=True, slots=True)
class _Fact:
    """One item counted under one measure, with what it is broken down by."""

    measure: str
    item: ItemKey
    category: str
    platform: str
    day: str


@dataclass(frozen=True, slots=True)
class _Case:
    channel_id: str
    category: str | None


@dataclass
class _Tally:
    items: dict[str, set[ItemKey]] = field(default_factory=lambda: defaultdict(set))
    channels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, fact: _Fact) -> None:
        self.items[fact.measure].add(fact.item)
        if fact.item[0]:
            self.channels[fact.measure].add(fact.item[0])

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            measure: {"items": len(self.items[measure]), "channels": len(self.channels[measure])}
            for measure in MEASURES
        }


# -- counting ----------------------------------------------------------------------------


def transparency_report(store: Store, date_from: date, date_to: date) -> dict[str, Any]:
    """The counts for decisions, referrals and removals from `date_from` to `date_to`
    (both included, UTC days), as plain JSON-ready data."""
    if date_from > date_to:
        raise ReportError(f"the period starts ({date_from}) after it ends ({date_to})")
    start, end = _bounds(date_from, date_to)
    with store.engine.connect() as conn:
        facts = _decision_facts(conn, start, end) + _referral_facts(conn, start, end)
    return _aggregate(facts, date_from, date_to)


def _bounds(date_from: date, date_to: date) -> tuple[int, int]:
    """Unix seconds of the period's first instant and of the instant after its last."""
    start = datetime(date_from.year, date_from.month, date_from.day, tzinfo=UTC)
    after = datetime(date_to.year, date_to.month, date_to.day, tzinfo=UTC) + timedelta(days=1)
    return int(start.timestamp()), int(after.timestamp())


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(values))
    for offset in range(0, len(ordered), _CHUNK):
        yield ordered[offset : offset + _CHUNK]


def _latest(rows: Iterable[Any]) -> dict[str, Any]:
    """The latest decision row of each case (ties broken by decision id)."""
    latest: dict[str, Any] = {}
    for row in rows:
        seen = latest.get(row.case_id)
        if seen is None or (row.at, row.id) > (seen.at, seen.id):
            latest[row.case_id] = row
    return latest


def _decisions(
    conn: sa.Connection, start: int | None, end: int, case_ids: Iterable[str] | None = None
) -> dict[str, Any]:
    """Latest decision per case made in [start, end) (from the beginning if start is None)."""
    d = schema.decisions
    query = sa.select(d.c.id, d.c.case_id, d.c.verdict, d.c.category, d.c.at).where(d.c.at < end)
    if start is not None:
        query = query.where(d.c.at >= start)
    if case_ids is None:
        return _latest(conn.execute(query))
    rows: list[Any] = []
    for chunk in _chunks(case_ids):
        rows += conn.execute(query.where(d.c.case_id.in_(chunk))).all()
    return _latest(rows)


def _cases(conn: sa.Connection, case_ids: Iterable[str]) -> dict[str, _Case]:
    c = schema.cases
    found: dict[str, _Case] = {}
    for chunk in _chunks(case_ids):
        query = sa.select(c.c.case_id, c.c.channel_id, c.c.category).where(c.c.case_id.in_(chunk))
        for row in conn.execute(query):
            found[row.case_id] = _Case(row.channel_id, row.category)
    return found


def _case_items(conn: sa.Connection, case_ids: Iterable[str]) -> dict[str, list[ItemKey]]:
    ci = schema.case_items
    items: dict[str, list[ItemKey]] = defaultdict(list)
    for chunk in _chunks(case_ids):
        query = sa.select(ci.c.case_id, ci.c.channel_id, ci.c.message_id).where(
            ci.c.case_id.in_(chunk)
        )
        for row in conn.execute(query):
            items[row.case_id].append((row.channel_id, int(row.message_id)))
    return items


def _platforms(conn: sa.Connection, channel_ids: Iterable[str]) -> dict[str, str]:
    ch = schema.channels
    found: dict[str, str] = {}
    for chunk in _chunks(channel_ids):
        query = sa.select(ch.c.channel_id, ch.c.platform).where(ch.c.channel_id.in_(chunk))
        found.update({row.channel_id: row.platform for row in conn.execute(query)})
    return found


def _decision_facts(conn: sa.Connection, start: int, end: int) -> list[_Fact]:
    latest = _decisions(conn, start, end)
    cases = _cases(conn, latest)
    items = _case_items(conn, latest)
    platforms = _platforms(conn, (case.channel_id for case in cases.values()))
    facts: list[_Fact] = []
    for case_id, decision in latest.items():
        case = cases.get(case_id, _Case("", None))
        category = decision.category or case.category or UNCATEGORISED
        platform = platforms.get(case.channel_id, UNKNOWN_PLATFORM)
        measures = ("reviewed", "actioned") if decision.verdict == ACTIONED else ("reviewed",)
        for item in items.get(case_id) or [(case.channel_id, None)]:
            facts += [
                _Fact(measure, item, category, platform, _day(int(decision.at)))
                for measure in measures
            ]
    return facts


def _referral_facts(conn: sa.Connection, start: int, end: int) -> list[_Fact]:
    ri, r = schema.referral_items, schema.referrals
    columns = (ri.c.channel_id, ri.c.message_id, ri.c.case_id)
    referred = conn.execute(
        sa.select(*columns, r.c.created_at.label("at"))
        .join_from(ri, r, ri.c.referral_id == r.c.referral_id)
        .where(r.c.created_at >= start, r.c.created_at < end)
    ).all()
    removed = conn.execute(
        sa.select(*columns, ri.c.status_at.label("at")).where(
            ri.c.status == REMOVED, ri.c.status_at >= start, ri.c.status_at < end
        )
    ).all()
    case_ids = {row.case_id for row in [*referred, *removed]}
    cases = _cases(conn, case_ids)
    decided = _decisions(conn, None, end, case_ids)
    wanted = {row.channel_id for row in [*referred, *removed]}
    platforms = _platforms(conn, wanted | {case.channel_id for case in cases.values()})
    facts: list[_Fact] = []
    for measure, rows in (("referred", referred), ("removed", removed)):
        for row in rows:
            case = cases.get(row.case_id, _Case(row.channel_id, None))
            decision = decided.get(row.case_id)
            category = (decision.category if decision else None) or case.category
            item: ItemKey = (row.channel_id, int(row.message_id))
            platform = platforms.get(case.channel_id, UNKNOWN_PLATFORM)
            facts.append(
                _Fact(measure, item, category or UNCATEGORISED, platform, _day(int(row.at)))
            )
    return facts


def _aggregate(facts: Sequence[_Fact], date_from: date, date_to: date) -> dict[str, Any]:
    totals = _Tally()
    by_category: dict[str, _Tally] = defaultdict(_Tally)
    by_platform: dict[str, _Tally] = defaultdict(_Tally)
    days = (date_to - date_from).days + 1
    by_day = {(date_from + timedelta(days=n)).isoformat(): _Tally() for n in range(days)}
    for fact in facts:
        totals.add(fact)
        by_category[fact.category].add(fact)
        by_platform[fact.platform].add(fact)
        by_day[fact.day].add(fact)
    return {
        "report": "transparency",
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat(), "days": days,
                   "timezone": "UTC"},
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "definitions": dict(DEFINITIONS),
        "totals": totals.counts(),
        "by_category": {name: by_category[name].counts() for name in sorted(by_category)},
        "by_platform": {name: by_platform[name].counts() for name in sorted(by_platform)},
        "by_day": {day: tally.counts() for day, tally in by_day.items()},
    }  # fmt: skip


# -- rendering ---------------------------------------------------------------------------


def render_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON (the machine-readable companion of the page)."""
    return orjson.dumps(dict(report), option=orjson.OPT_INDENT_2).decode() + "\n"
