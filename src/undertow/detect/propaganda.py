"""Detector `propaganda`: one calibrated probability per message, weighing words in context.

Reporting *about* the Islamic State (news, research, counter-extremism) names the same outlets
and hashtags its supporters use.  So a name alone decides little; the score combines

- the text classifier's probability for the message (`TextItem.classifier`),
- the indicator rules it matches, by where: text, hashtag, a link, or the title of the
  channel it was forwarded from (forwarding the outlet is what mirrors do),
- its channel: indicators in the channel's titles (now or before) and bio, the share of the
  channel's posts that carry indicators, and the classifier's mean over the channel's posts,

in a logistic model whose weights are data (`data/propaganda.json`, fitted by
`scripts/fit_propaganda.py`), so the output is a probability, not an arbitrary scale.  A
quoting news channel has a low classifier mean and no marked title, which pulls its messages
down; the outlet's own channel pulls them up.  Scores at or above the floor (a setting)
become signals; the stage keeps every score in `text_features`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from undertow.records import ChannelContext, Signal, TextItem
from undertow.settings import Settings

FEATURES = (
    "classifier",
    "text_indicator",
    "hashtag_indicator",
    "distinct_rules",
    "forward_indicator",
    "link_indicator",
    "channel_title",
    "channel_marked",
    "channel_classifier",
)
COMBINER_FORMAT = "undertow-propaganda-combiner"
_NAME_RANK = np.argsort(np.argsort(FEATURES))  # each feature's place in alphabetical order


class CombinerError(ValueError):
    pass


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def channel_features(channel: ChannelContext | None) -> list[float]:
    """The combiner's last three inputs: what the message's channel says."""
    if channel is None:
        return [0.0, 0.0, 0.0]
    return [
        channel.title_weight,
        channel.marked_share,
        _logit(channel.classifier_mean) if channel.messages else 0.0,
    ]


def features(item: TextItem, context: list[float] | None = None) -> list[float]:
    """The combiner's inputs for one enriched message, in `FEATURES` order (`context`: its
    channel's, if already known)."""
    if context is None:
        context = channel_features(item.channel)
    classifier = _logit(item.classifier if item.classifier is not None else 0.5)
    if not item.hits:
        return [classifier, 0.0, 0.0, 0.0, 0.0, 0.0, *context]
    text = hashtag = forward = url = 0.0
    rules = set()
    for hit in item.hits:
        weight = hit.rule.weight
        if hit.field == "forwarded_from":
            forward = max(forward, weight)
            continue
        rules.add(hit.rule.id)
        if hit.scope == "text":
            text = max(text, weight)
        elif hit.scope == "hashtag":
            hashtag = max(hashtag, weight)
        elif hit.scope == "url":
            url = max(url, weight)
    return [
        classifier,
        max(text, hashtag),
        hashtag,
        min(len(rules), 3) / 3,
        forward,
        url,
        *context,
    ]


@dataclass(frozen=True, slots=True)
class Combiner:
    """Logistic weights over `FEATURES`, loaded from a JSON file."""

    weights: tuple[float, ...]
    bias: float
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: Path | None = None) -> Combiner:
        where = str(path) if path else "undertow/data/propaganda.json"
        try:
            text = (
                path.read_text("utf-8")
                if path
                else resources.files("undertow").joinpath("data/propaganda.json").read_text("utf-8")
            )
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise CombinerError(f"{where}: cannot read the combiner: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != COMBINER_FORMAT:
            raise CombinerError(f"{where}: not a {COMBINER_FORMAT} file")
        if data.get("version") != 1:
            raise CombinerError(f"{where}: unsupported version {data.get('version')!r}")
        if data.get("features") != list(FEATURES):
            raise CombinerError(f"{where}: its features differ from {', '.join(FEATURES)}")
        weights = data.get("weights")
        if not isinstance(weights, list) or len(weights) != len(FEATURES):
            raise CombinerError(f"{where}: 'weights' must list {len(FEATURES)} numbers")
        return cls(tuple(float(w) for w in weights), float(data["bias"]), data)

    def probability(self, values: Sequence[float]) -> float:
        return float(self.probabilities([values])[0])

    def probabilities(self, rows: Sequence[Sequence[float]]) -> Any:
        """The probability of each row of features, as a numpy array."""
        z = np.asarray(rows, dtype=np.float64) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


@cache
def default_combiner() -> Combiner:
    return Combiner.load()


class PropagandaDetector:
    name = "propaganda"
    version = "1"
    inputs = "text"

    def __init__(self, combiner: Combiner | None = None, *, floor: float = 0.2) -> None:
        self.combiner = combiner if combiner is not None else default_combiner()
        self.floor = floor
        fitted = self.combiner.meta.get("fitted_at", "")
        self.version = f"1+{fitted}" if fitted else "1"

    @classmethod
    def from_settings(cls, settings: Settings) -> PropagandaDetector:
        return cls(floor=settings.propaganda_floor)

    def scores(self, batch: Sequence[TextItem]) -> list[float]:
        """The combined probability of every message in `batch`."""
        return [score for score, _ in self.evaluate(batch)]

    def evaluate(self, batch: Sequence[TextItem]) -> list[tuple[float, list[float]]]:
        """(combined probability, features) of every message in `batch`."""
        # Channel statistics do not change within a batch: worked out once per channel.
        contexts: dict[int, list[float]] = {}
        rows = []
        for item in batch:
            context = contexts.get(id(item.channel))
            if context is None:
                context = contexts[id(item.channel)] = channel_features(item.channel)
            rows.append(features(item, context))
        if not rows:
            return []
        return list(zip(self.combiner.probabilities(rows).tolist(), rows, strict=True))

    def detect(self, batch: Sequence[Any]) -> list[Signal]:
        items = [item for item in batch if isinstance(item, TextItem)]
        return self.signals(items, self.evaluate(items))

    def signals(
        self, items: Sequence[TextItem], evaluated: Sequence[tuple[float, list[float]]]
    ) -> list[Signal]:
        """The signals of the `items` whose combined score (from `evaluate`) reaches the floor."""
        chosen = [n for n, (score, _) in enumerate(evaluated) if score >= self.floor]
        if not chosen:
            return []
        values = np.asarray([evaluated[n][1] for n in chosen], dtype=np.float64)
        parts = values * np.asarray(self.combiner.weights)
        # Each signal's contributions, largest first by size (ties by feature name).
        by_name = np.broadcast_to(_NAME_RANK, parts.shape)
        order = np.lexsort((by_name, -np.abs(parts)), axis=1).tolist()
        rounded, nonzero = np.round(parts, 3).tolist(), (parts != 0).tolist()
        signals = []
        for n, row, present, ranks in zip(chosen, rounded, nonzero, order, strict=True):
            contributions = {FEATURES[k]: row[k] for k in ranks if present[k]}
            signals.append(self._signal(items[n], evaluated[n][0], contributions))
        return signals

    def _signal(self, item: TextItem, score: float, contributions: dict[str, float]) -> Signal:
        categories = [hit.rule.category for hit in item.hits]
        probability = round(score, 4)
        return Signal(
            detector=self.name,
            version=self.version,
            key=f"{item.channel_id}:{item.message_id}",
            target_kind="message",
            score=probability,
            category=max(set(categories), key=categories.count) if categories else None,
            channel_id=item.channel_id,
            message_id=item.message_id,
            explanation={
                "probability": probability,
                "classifier": None if item.classifier is None else round(item.classifier, 4),
                "indicators": sorted({hit.rule.id for hit in item.hits}),
                "language": item.language,
                "contributions": contributions,
            },
        )
