"""From scored candidate links to chains: each channel keeps one predecessor and one successor,
no chain closes on itself, and a link skipping over a channel that links both ways goes
through it (`lineages.py` scores the candidates)."""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass


@dataclass
class LineageLink:
    source: str
    target: str
    score: float
    evidence: list[str]


def fill_skips(
    kept: list[LineageLink], candidates: list[LineageLink], keep: Container[tuple[str, str]] = ()
) -> list[LineageLink]:
    """Replace each kept A -> C (unless in `keep`) by candidates A -> B -> C through a B left
    out of every kept link: the chain through B explains the same succession, and B too."""
    by_pair = {(link.source, link.target): link for link in candidates}
    successors: dict[str, list[str]] = {}
    for source, target in sorted(by_pair):
        successors.setdefault(source, []).append(target)
    result = list(kept)
    used = {channel for link in result for channel in (link.source, link.target)}
    index = 0
    while index < len(result):
        a, c = result[index].source, result[index].target
        middles = [b for b in successors.get(a, ()) if b not in used and (b, c) in by_pair]
        if not middles or (a, c) in keep:
            index += 1
            continue
        b = max(middles, key=lambda m: by_pair[(a, m)].score + by_pair[(m, c)].score)
        result[index : index + 1] = [by_pair[(a, b)], by_pair[(b, c)]]
        used.add(b)
    return result


def resolve_conflicts(links: Iterable[LineageLink]) -> list[LineageLink]:
    """The best links such that each channel has one predecessor and one successor at most
    and no chain closes on itself; higher scores win, ties go by channel ids."""
    head: dict[str, str] = {}  # union-find over chains

    def root(channel: str) -> str:
        while head.get(channel, channel) != channel:
            channel = head[channel]
        return channel

    kept: list[LineageLink] = []
    has_successor: set[str] = set()
    has_predecessor: set[str] = set()
    for link in sorted(links, key=lambda link: (-link.score, link.source, link.target)):
        if link.source in has_successor or link.target in has_predecessor:
            continue
        if root(link.source) == root(link.target):
            continue
        head[root(link.target)] = root(link.source)
        has_successor.add(link.source)
        has_predecessor.add(link.target)
        kept.append(link)
    return kept
