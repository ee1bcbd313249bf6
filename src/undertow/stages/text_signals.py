"""Stage: text and link signals for every message not analysed yet, and for changed channels.

For each batch of new messages (by `messages.id`, watermark `text.messages`) it enriches the
text (language, links with their platform, indicator rule hits, the classifier's
probability), weighs each message in its channel's context, and writes in one transaction:
classified links (`message_links`), per-message features and the combined score
(`text_features`), the channel's running text statistics (`channel_text_stats`) and the
signals of the `indicators`, `urlbank` and `propaganda` detectors.  Channels whose title or
bio changed since the last run (watermark `text.channels` on `channels.updated_at`) get
channel-level indicator signals.

A message is scored with its channel's statistics as they stand after its own batch; earlier
messages keep their score when later posts change the channel's picture (the channel-level
signals and the network analysis see the whole channel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa

from undertow.detect.base import Detector
from undertow.detect.indicators import IndicatorDetector
from undertow.detect.propaganda import PropagandaDetector
from undertow.detect.urlbank import UrlBankDetector, UrlEntry
from undertow.enrich.classifier import TextModel, default_model
from undertow.enrich.language import detect_language
from undertow.enrich.links import extract_links
from undertow.enrich.rules import RuleHit, RuleSet, load_rules
from undertow.gcpause import collector_paused
from undertow.plugins import load_detectors
from undertow.records import ChannelContext, Signal, TextItem
from undertow.settings import Settings
from undertow.stages.signals import write_signals
from undertow.stages.text_store import write_features, write_links, write_stats
from undertow.stages.watermarks import get_watermark, set_watermark
from undertow.store import Store, schema

BUILT_IN = ("indicators", "urlbank", "propaganda")
TEXT_CACHE = 200_000
"""Distinct texts whose analysis is remembered (then the memory starts afresh)."""
MESSAGE_STAGE = "text.messages"
CHANNEL_STAGE = "text.channels"


@dataclass
class TextReport:
    messages: int = 0
    links: int = 0
    channels: int = 0
    signals: dict[str, int] = field(default_factory=dict)


class TextAnalyser:
    """Enrichment and the text detectors, without I/O: the stage, the benchmark and the
    combiner's fitting script all run messages through this one object."""

    def __init__(
        self,
        rules: RuleSet,
        model: TextModel | None,
        *,
        url_entries: dict[str, list[UrlEntry]] | None = None,
        floor: float = 0.2,
        extra: Sequence[Detector] = (),
    ) -> None:
        self.rules = rules
        self.model = model
        self.indicators = IndicatorDetector(rules)
        self.urlbank = UrlBankDetector(url_entries or {})
        self.propaganda = PropagandaDetector(floor=floor)
        self.extra = list(extra)
        self._text_cache: dict[str, tuple[str | None, list[RuleHit]]] = {}
        self._probability: dict[str, float] = {}
        self._url_cache: dict[str, list[RuleHit]] = {}
        self._title_cache: dict[str, list[RuleHit]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, url_entries: dict[str, list[UrlEntry]] | None = None
    ) -> TextAnalyser:
        model = TextModel.load(settings.text_model) if settings.text_model else default_model()
        # Third-party detectors registered for text (`inputs = "text"`) run beside ours.
        extra: list[Detector] = [
            cast(Any, cls).from_settings(settings)
            for name, cls in load_detectors().items()
            if getattr(cls, "inputs", None) == "text" and name not in BUILT_IN
        ]
        return cls(
            load_rules(settings.rule_folders),
            model,
            url_entries=url_entries,
            floor=settings.propaganda_floor,
            extra=extra,
        )

    def channel_context(
        self, channel_id: str, title: str | None, description: str | None, titles: Iterable[str]
    ) -> ChannelContext:
        context = ChannelContext(channel_id, title, description)
        seen: set[str] = set()
        for name in [title or "", *titles]:
            if name and name not in seen:
                seen.add(name)
                context.titles.append(name)
                context.hits += self.rules.match(name, "title")
        if description:
            context.hits += self.rules.match(description, "bio")
        return context

    def enrich(self, items: Sequence[TextItem]) -> None:
        """Fill language, links, rule hits and classifier probability of every item.

        What depends on the text alone (language, rule hits in it, the classifier's
        probability) is remembered per distinct text, since mirrors post the same text many
        times; links depend on the entities too and are always extracted.
        """
        rules, cache = self.rules, self._text_cache
        if len(cache) > TEXT_CACHE:
            cache.clear()
        fresh: dict[str, tuple[str | None, list[RuleHit]]] = {}
        for item in items:
            text = item.text
            known = cache.get(text) or fresh.get(text)
            if known is None:
                known = (detect_language(text), rules.match(text, "text")) if text else (None, [])
                fresh[text] = known
            item.language, text_hits = known
            item.links = extract_links(text, item.entities) if text else []
            hits = list(text_hits)
            for link in item.links:
                hits += self._url_hits(link.normalized_url)
            if item.forwarded_from:
                hits += self._title_hits(item.forwarded_from)
            item.hits = hits
        new_texts = [text for text in fresh if text and text not in self._probability]
        if self.model is not None and new_texts:
            if len(self._probability) > TEXT_CACHE:
                self._probability.clear()
            scores = self.model.predict_proba(new_texts).tolist()
            self._probability.update(zip(new_texts, scores, strict=True))
        for text, known in fresh.items():
            cache[text] = known
        if self.model is not None:
            for item in items:
                if item.text:
                    item.classifier = float(self._probability[item.text])

    def _url_hits(self, url: str) -> list[RuleHit]:
        hits = self._url_cache.get(url)
        if hits is None:
            hits = self._url_cache[url] = self.rules.match_url(url)
        return hits

    def _title_hits(self, title: str) -> list[RuleHit]:
        hits = self._title_cache.get(title)
        if hits is None:
            hits = self._title_cache[title] = self.rules.match(title, "title", "forwarded_from")
        return hits

    @staticmethod
    def count(items: Sequence[TextItem]) -> None:
        """Add `items` to their channels' running statistics."""
        for item in items:
            channel = item.channel
            if channel is None:
                continue
            channel.messages += 1
            channel.marked += bool(item.hits)
            channel.classifier_sum += item.classifier if item.classifier is not None else 0.5

    def analyse(self, items: Sequence[TextItem]) -> tuple[list[float], list[Signal]]:
        """Enrich `items`, add them to their channels' statistics, and run the detectors:
        their combined scores and every signal."""
        self.enrich(items)
        self.count(items)
        return self.detect(items)

    def detect(self, items: Sequence[TextItem]) -> tuple[list[float], list[Signal]]:
        """Combined scores of `items` and every signal of the message detectors."""
        evaluated = self.propaganda.evaluate(items)
        signals = self.indicators.detect(items) + self.urlbank.detect(items)
        for detector in self.extra:
            signals += detector.detect(items)
        signals += self.propaganda.signals(items, evaluated)
        return [score for score, _ in evaluated], signals


def url_bank_entries(conn: sa.Connection) -> dict[str, list[UrlEntry]]:
    b, e = schema.banks, schema.bank_entries
    query = (
        sa.select(e.c.id, b.c.name, e.c.value, e.c.category, b.c.category, e.c.note)
        .join(b, b.c.id == e.c.bank_id)
        .where(b.c.enabled.is_(True), e.c.hash_type == "url")
    )
    entries: dict[str, list[UrlEntry]] = {}
    for entry_id, bank, value, category, bank_category, note in conn.execute(query):
        entries.setdefault(value, []).append(
            UrlEntry(entry_id, bank, category or bank_category, note)
        )
    return entries


def pending_messages(store: Store) -> int:
    """How many messages the next run will analyse."""
    with store.engine.connect() as conn:
        low = get_watermark(conn, MESSAGE_STAGE)
        query = sa.select(sa.func.count()).select_from(schema.messages)
        return int(conn.execute(query.where(schema.messages.c.id > low)).scalar_one())


def analyse_text(
    store: Store,
    settings: Settings,
    *,
    progress: Callable[[int], None] | None = None,
    analyser: TextAnalyser | None = None,
) -> TextReport:
    """Analyse every message and channel that is new or changed since the last run."""
    report = TextReport()
    with store.engine.connect() as conn:
        entries = url_bank_entries(conn)
    analyser = analyser or TextAnalyser.from_settings(settings, entries)
    contexts: dict[str, ChannelContext] = {}

    with store.engine.begin() as conn:
        since = get_watermark(conn, CHANNEL_STAGE)
        changed = conn.execute(
            sa.select(schema.channels.c.channel_id, schema.channels.c.updated_at).where(
                schema.channels.c.updated_at > since
            )
        ).all()
        if changed:
            loaded = _contexts(conn, analyser, [row.channel_id for row in changed], contexts)
            signals = analyser.indicators.detect(loaded)
            write_signals(conn, signals)
            _count(report, signals)
            report.channels = len(loaded)
            set_watermark(conn, CHANNEL_STAGE, max(row.updated_at for row in changed))

    m = schema.messages
    # The collector is paused for the whole loop (undertow/gcpause.py): full collections
    # now and then instead of walking every batch's survivors.
    with collector_paused() as worked:
        while True:
            with store.engine.begin() as conn:
                low = get_watermark(conn, MESSAGE_STAGE)
                rows = conn.execute(
                    sa.select(
                        m.c.id,
                        m.c.channel_id,
                        m.c.message_id,
                        m.c.kind,
                        m.c.text,
                        m.c.entities,
                        m.c.forwarded_from,
                    )
                    .where(m.c.id > low)
                    .order_by(m.c.id)
                    .limit(settings.text_batch_size)
                ).all()
                if not rows:
                    break
                _contexts(conn, analyser, {row.channel_id for row in rows}, contexts)
                # Rows unpacked, not read by attribute: a third of the time for 5,000 rows.
                items = [
                    TextItem(
                        channel_id,
                        message_id,
                        text or "",
                        entities or [],
                        forwarded_from,
                        channel=contexts[channel_id],
                    )
                    for _, channel_id, message_id, kind, text, entities, forwarded_from in rows
                    if kind == "message"
                ]
                scores, signals = analyser.analyse(items)
                report.links += write_links(conn, items)
                write_features(conn, items, scores)
                write_stats(conn, {item.channel_id: contexts[item.channel_id] for item in items})
                write_signals(conn, signals)
                _count(report, signals)
                set_watermark(conn, MESSAGE_STAGE, rows[-1].id)
            report.messages += len(items)
            worked(len(rows))
            if progress is not None:
                progress(len(rows))
    return report


def _count(report: TextReport, signals: Iterable[Signal]) -> None:
    for signal in signals:
        report.signals[signal.detector] = report.signals.get(signal.detector, 0) + 1


def _contexts(
    conn: sa.Connection,
    analyser: TextAnalyser,
    channel_ids: Iterable[str],
    cache: dict[str, ChannelContext],
) -> list[ChannelContext]:
    """Contexts of `channel_ids` (loaded into `cache` if missing), with stored statistics."""
    wanted = sorted(set(channel_ids) - set(cache))
    c, t, s = schema.channels, schema.channel_titles, schema.channel_text_stats
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        titles: dict[str, list[str]] = {}
        for channel_id, title in conn.execute(
            sa.select(t.c.channel_id, t.c.title).where(t.c.channel_id.in_(chunk)).order_by(t.c.at)
        ):
            titles.setdefault(channel_id, []).append(title)
        stats = {
            row.channel_id: row
            for row in conn.execute(sa.select(s).where(s.c.channel_id.in_(chunk)))
        }
        for row in conn.execute(
            sa.select(c.c.channel_id, c.c.title, c.c.description).where(c.c.channel_id.in_(chunk))
        ):
            context = analyser.channel_context(
                row.channel_id, row.title, row.description, titles.get(row.channel_id, [])
            )
            known = stats.get(row.channel_id)
            if known is not None:
                context.messages = known.messages
                context.marked = known.marked
                context.classifier_sum = known.classifier_sum
            cache[row.channel_id] = context
    return [cache[channel_id] for channel_id in channel_ids if channel_id in cache]
