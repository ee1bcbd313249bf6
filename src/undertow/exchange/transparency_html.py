"""The transparency report as one static HTML page (`render_html`), with SVG bar charts.

The page has inline CSS and SVG, no scripts, no external resources, and every stored string
escaped: categories and platforms come from data an adversary can shape.  The charts are
readable without colour: the two bars of a day differ in fill pattern as well as colour, and
carry their figures as titles and in a table.  The report itself is counted by
`undertow.exchange.transparency`, which imports the measures and units from here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

MEASURES = ("reviewed", "actioned", "referred", "removed")
UNITS = ("items", "channels")

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
