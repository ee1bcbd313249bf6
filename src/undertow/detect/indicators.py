"""Detector `indicators`: one signal per indicator rule that a message or a channel matches.

Works on what the text stage found (`TextItem.hits`, `ChannelContext.hits`): a message signal
says which rule matched where (text, hashtag, link, or the title of the channel a message was
forwarded from) and shows the matched span of the raw text; a channel signal says which rule
its title (now or before) or bio matched.  The score is the rule's severity weight: on its own
an indicator is a lead, not a verdict (the `propaganda` detector weighs it in context).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from undertow.enrich.rules import RuleHit, RuleSet, default_rules, load_rules
from undertow.records import ChannelContext, Signal, TextItem
from undertow.settings import Settings

VERSION = "1"


class IndicatorDetector:
    name = "indicators"
    version = VERSION  # the instance's adds the loaded packs' fingerprint
    inputs = "text"

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules if rules is not None else default_rules()
        self.version = f"{VERSION}+{self.rules.fingerprint}"

    @classmethod
    def from_settings(cls, settings: Settings) -> IndicatorDetector:
        return cls(load_rules(settings.rule_folders))

    def detect(self, batch: Sequence[Any]) -> list[Signal]:
        signals: list[Signal] = []
        for item in batch:
            if isinstance(item, TextItem):
                signals += self._signals(item.hits, item.channel_id, item.message_id)
            elif isinstance(item, ChannelContext):
                signals += self._signals(item.hits, item.channel_id, None)
        return signals

    def _signals(
        self, hits: Sequence[RuleHit], channel_id: str, message_id: int | None
    ) -> list[Signal]:
        """One signal per (rule, scope) on a message, or on a channel (`message_id` None)."""
        if not hits:
            return []
        target = channel_id if message_id is None else f"{channel_id}:{message_id}"
        kind = "channel" if message_id is None else "message"
        return [
            Signal(
                self.name,
                self.version,
                f"{target}:{hit.rule.id}:{hit.scope}",
                kind,
                hit.rule.weight,
                _explain(hit, count),
                hit.rule.category,
                channel_id,
                message_id,
            )
            for hit, count in _first_hits(hits)
        ]


def _first_hits(hits: Sequence[RuleHit]) -> list[tuple[RuleHit, int]]:
    """The first hit of each (rule, scope) and how many there were."""
    if len(hits) == 1:
        return [(hits[0], 1)]
    first: dict[tuple[str, str], RuleHit] = {}
    counts: dict[tuple[str, str], int] = {}
    for hit in hits:
        key = (hit.rule.id, hit.scope)
        first.setdefault(key, hit)
        counts[key] = counts.get(key, 0) + 1
    return [(hit, counts[key]) for key, hit in first.items()]


def _explain(hit: RuleHit, count: int) -> dict[str, Any]:
    explanation: dict[str, Any] = {
        "rule": hit.rule.id,
        "pack": hit.rule.pack,
        "description": hit.rule.description,
        "severity": hit.rule.severity,
        "scope": hit.scope,
        "matched": hit.matched[:200],
        "field": hit.field,
        "span": [hit.start, hit.end],
        "count": count,
    }
    return explanation
