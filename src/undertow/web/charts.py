"""Small SVG drawings for the pages, made on the server (no script, no external library):
a channel's posts per day, and a network's mirror graph around its root."""

from __future__ import annotations

import math
from html import escape
from typing import Any

WIDTH, HEIGHT = 720, 140


def activity_svg(activity: list[dict[str, Any]]) -> str:
    """Bars of posts per day, with the day and count in each bar's tooltip."""
    if not activity:
        return ""
    top = max(day["posts"] for day in activity) or 1
    step = WIDTH / len(activity)
    bars = []
    for index, day in enumerate(activity):
        height = (HEIGHT - 20) * day["posts"] / top
        x, y = index * step, HEIGHT - 16 - height
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 1, 1):.1f}" '
            f'height="{height:.1f}" class="bar"><title>{escape(str(day["day"]))}: '
            f"{int(day['posts'])} posts</title></rect>"
        )
    first, last = escape(str(activity[0]["day"])), escape(str(activity[-1]["day"]))
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="posts per day from {first} to {last}, at most {top} a day">'
        + "".join(bars)
        + f'<text x="0" y="{HEIGHT - 2}">{first}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 2}" text-anchor="end">{last}</text></svg>'
    )


def network_svg(root: str, edges: list[dict[str, Any]], titles: dict[str, str]) -> str:
    """The network's channels on circles around its root (each ring one hop further down the
    mirror chain), with an arrow from each source to the channel carrying it."""
    size = 640
    centre = size / 2
    depth = {root: 0}
    pending = [root]
    while pending:
        source = pending.pop(0)
        for edge in edges:
            if edge["source_id"] == source and edge["channel_id"] not in depth:
                depth[edge["channel_id"]] = depth[source] + 1
                pending.append(edge["channel_id"])
    for edge in edges:  # channels not reached from the root go on the outer ring
        for channel in (edge["channel_id"], edge["source_id"]):
            depth.setdefault(channel, max(depth.values(), default=0) + 1)
    rings: dict[int, list[str]] = {}
    for channel, ring in sorted(depth.items(), key=lambda pair: (pair[1], pair[0])):
        rings.setdefault(ring, []).append(channel)
    outer = max(rings) or 1
    position: dict[str, tuple[float, float]] = {}
    for ring, members in rings.items():
        radius = (centre - 40) * ring / outer
        for index, channel in enumerate(members):
            angle = 2 * math.pi * index / len(members) + ring * 0.3
            position[channel] = (centre + radius * math.cos(angle),
                                 centre + radius * math.sin(angle))  # fmt: skip
    parts = [
        f'<svg class="graph" viewBox="0 0 {size} {size}" role="img" '
        f'aria-label="mirror network of {len(position)} channels">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for edge in edges:
        (x1, y1), (x2, y2) = position[edge["source_id"]], position[edge["channel_id"]]
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'class="edge" marker-end="url(#arrow)"><title>{escape(edge["channel_id"])} '
            f"carries {escape(edge['source_id'])} ({float(edge['share']):.0%})</title></line>"
        )
    for channel, (x, y) in position.items():
        label = escape(titles.get(channel) or channel)
        href = "/channels/" + escape(channel, quote=True)
        kind = "root" if channel == root else "node"
        parts.append(
            f'<a href="{href}"><circle cx="{x:.1f}" cy="{y:.1f}" r="7" class="{kind}">'
            f"<title>{label}</title></circle>"
            f'<text x="{x + 9:.1f}" y="{y + 4:.1f}">{label[:28]}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
