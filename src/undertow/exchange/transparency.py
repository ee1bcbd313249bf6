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

`render_html` makes one static page (inline CSS and SVG, no scripts, no external resources,
every stored string escaped: categories and platforms come from data an adversary can
shape), with the charts readable without colour: the two bars of a day differ in fill
pattern as well as colour, and carry their figures as titles and in a table.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from undertow.store import Store, schema

MEASURES = ("reviewed", "actioned", "referred", "removed")
UNITS = ("items", "channels")
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


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#111;line-height:1.4}
table{border-collapse:collapse;margin:1rem 0}
caption{text-align:left;font-weight:bold;padding:.25rem 0}
th,td{border:1px solid #888;padding:.25rem .5rem}
td.n{text-align:right;font-variant-numeric:tabular-nums}
thead th{background:#eee}
figure{margin:1rem 0}
svg{max-width:100%;height:auto}
.reviewed{fill:#cfe0f1;stroke:#1f4e79;stroke-width:1}
.axis{stroke:#111;stroke-width:1}
.grid{stroke:#ccc;stroke-width:1}
svg text{font-size:11px;fill:#111}
dt{font-weight:bold}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_html(report: Mapping[str, Any]) -> str:
    """One static, self-contained page: totals, daily charts, breakdowns, definitions."""
    period = report["period"]
    title = f"Transparency report, {period['from']} to {period['to']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Period: {_e(period['from'])} to {_e(period['to'])} inclusive "
        f"({_e(period['days'])} days, {_e(period['timezone'])}). "
        f"Generated {_e(report.get('generated_at', ''))}.</p>",
        _totals_table(report["totals"]),
        "<h2>Daily counts</h2>",
        _daily_chart(report["by_day"], "items"),
        _daily_chart(report["by_day"], "channels"),
        "<h2>By category</h2>",
        _breakdown_table("Counts by category", "Category", report["by_category"]),
        "<h2>By platform</h2>",
        _breakdown_table("Counts by platform", "Platform", report["by_platform"]),
        "<details><summary>Daily counts as a table</summary>",
        _breakdown_table("Counts by day (UTC)", "Day", report["by_day"], sort=False),
        "</details>",
        _definitions(report.get("definitions", {})),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _totals_table(totals: Mapping[str, Mapping[str, int]]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{_e(measure.capitalize())}</th>'
        + "".join(f'<td class="n">{_e(counts[unit])}</td>' for unit in UNITS)
        + "</tr>"
        for measure, counts in totals.items()
    )
    head = "".join(f'<th scope="col">{_e(unit.capitalize())}</th>' for unit in UNITS)
    return (
        f'<table><caption>Totals</caption><thead><tr><th scope="col">Measure</th>{head}'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _breakdown_table(
    caption: str,
    label: str,
    rows: Mapping[str, Mapping[str, Mapping[str, int]]],
    *,
    sort: bool = True,
) -> str:
    names = list(rows)
    if sort:
        names.sort(key=lambda name: (-rows[name]["reviewed"]["items"], name))
    head = "".join(
        f'<th scope="col">{_e(measure.capitalize())} {_e(unit)}</th>'
        for measure in MEASURES
        for unit in UNITS
    )
    body = "".join(
        f'<tr><th scope="row">{_e(name)}</th>'
        + "".join(
            f'<td class="n">{_e(rows[name][measure][unit])}</td>'
            for measure in MEASURES
            for unit in UNITS
        )
        + "</tr>"
        for name in names
    )
    if not names:
        body = f'<tr><td colspan="{1 + len(MEASURES) * len(UNITS)}">None in this period.</td></tr>'
    return (
        f'<table><caption>{_e(caption)}</caption><thead><tr><th scope="col">{_e(label)}</th>'
        f"{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _definitions(definitions: Mapping[str, str]) -> str:
    entries = "".join(
        f"<dt>{_e(name)}</dt><dd>{_e(text)}</dd>" for name, text in definitions.items()
    )
    return f"<h2>Definitions</h2><dl>{entries}</dl>"


# -- the daily bar chart -----------------------------------------------------------------

_LEFT, _RIGHT, _TOP, _BOTTOM, _PLOT_H, _MIN_WIDTH = 48, 16, 40, 36, 200, 420


def _nice(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 1
    while power * 10 <= value:
        power *= 10
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _daily_chart(by_day: Mapping[str, Mapping[str, Mapping[str, int]]], unit: str) -> str:
    """Two bars per day, reviewed (light, outlined) and actioned (dark, hatched), as SVG."""
    days = list(by_day)
    pairs = [(by_day[d]["reviewed"][unit], by_day[d]["actioned"][unit]) for d in days]
    top = _nice(max([1, *(v for pair in pairs for v in pair)]))
    group = max(6.0, min(40.0, 720 / max(len(days), 1)))
    width = max(_MIN_WIDTH, _LEFT + group * len(days) + _RIGHT)  # the legend must fit
    height = _TOP + _PLOT_H + _BOTTOM
    cid = f"chart-{unit}"
    caption = f"{unit.capitalize()} reviewed and actioned per day"
    summary = _summary(days, pairs)
    parts = [
        f'<figure><svg role="img" aria-labelledby="{cid}-t {cid}-d" width="{width:.0f}" '
        f'height="{height}" viewBox="0 0 {width:.0f} {height}">',
        f'<title id="{cid}-t">{_e(caption)}</title><desc id="{cid}-d">{_e(summary)}</desc>',
        f'<defs><pattern id="{cid}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#1f4e79"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern></defs>',
        _legend(cid),
        *_y_axis(top, width),
        *_bars(days, pairs, top, group, cid, unit),
        *_x_labels(days, group),
        "</svg>",
        f"<figcaption>{_e(caption)} (UTC days). Exact figures are in the daily table below."
        "</figcaption></figure>",
    ]
    return "\n".join(parts)


def _summary(days: Sequence[str], pairs: Sequence[tuple[int, int]]) -> str:
    """The chart in words, for screen readers and for readers who cannot tell the bars apart."""
    if not days:
        return "No days in the period."
    peak = max(range(len(days)), key=lambda i: pairs[i][0])
    return (
        f"One pair of bars per day from {days[0]} to {days[-1]}: reviewed (light, outlined, "
        f"left) and actioned (dark, hatched, right). Most reviewed: {pairs[peak][0]} on "
        f"{days[peak]}."
    )


def _legend(cid: str) -> str:
    return (
        f'<g><rect class="reviewed" x="{_LEFT}" y="10" width="14" height="14"/>'
        f'<text x="{_LEFT + 20}" y="21">Reviewed (all verdicts)</text>'
        f'<rect x="{_LEFT + 190}" y="10" width="14" height="14" fill="url(#{cid}-hatch)" '
        f'stroke="#1f4e79"/><text x="{_LEFT + 210}" y="21">Actioned (violating)</text></g>'
    )


def _y(value: float, top: int) -> float:
    return _TOP + _PLOT_H - value / top * _PLOT_H


def _y_axis(top: int, width: float) -> list[str]:
    step = max(1, top // 5)
    lines = []
    for tick in range(0, top + 1, step):
        y = _y(tick, top)
        lines.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{width - _RIGHT:.1f}" '
            f'y2="{y:.1f}"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_e(tick)}</text>"
        )
    base = _y(0, top)
    lines.append(f'<line class="axis" x1="{_LEFT}" y1="{base:.1f}" x2="{width - _RIGHT:.1f}" '
                 f'y2="{base:.1f}"/>')  # fmt: skip
    return lines


def _bars(
    days: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    top: int,
    group: float,
    cid: str,
    unit: str,
) -> list[str]:
    bar = group * 0.4
    out = []
    for index, (day, (reviewed, actioned)) in enumerate(zip(days, pairs, strict=True)):
        x = _LEFT + index * group + group * 0.1
        for offset, value, look, word in (
            (0.0, reviewed, 'class="reviewed"', "reviewed"),
            (bar, actioned, f'fill="url(#{cid}-hatch)" stroke="#1f4e79"', "actioned"),
        ):
            y = _y(value, top)
            out.append(
                f'<rect {look} x="{x + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{_TOP + _PLOT_H - y:.1f}"><title>{_e(day)}: {_e(unit)} {_e(word)}: '
                f"{_e(value)}</title></rect>"
            )
    return out


def _x_labels(days: Sequence[str], group: float) -> list[str]:
    every = max(1, math.ceil(44 / group))
    base = _TOP + _PLOT_H
    return [
        f'<text x="{_LEFT + index * group + group / 2:.1f}" y="{base + 16}" '
        f'text-anchor="middle">{_e(day[5:])}</text>'
        for index, day in enumerate(days)
        if index % every == 0
    ]
