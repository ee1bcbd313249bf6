"""`undertow run`: every stage after ingest, in order, each doing only what is new."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from undertow.settings import Settings
from undertow.stages.media_hashing import HashingReport, hash_stored_media
from undertow.stages.media_matching import MatchingReport, match_banks, match_collected_media
from undertow.stages.network import NetworkReport, analyse_network
from undertow.stages.text_signals import TextReport, analyse_text
from undertow.store import Store
from undertow.triage.cases import CaseReport, build_cases


@dataclass
class RunReport:
    hashing: HashingReport = field(default_factory=HashingReport)
    matching: MatchingReport = field(default_factory=MatchingReport)
    media_pairs: int = 0
    text: TextReport = field(default_factory=TextReport)
    network: NetworkReport = field(default_factory=NetworkReport)
    cases: CaseReport = field(default_factory=CaseReport)


def run_stages(
    store: Store,
    settings: Settings,
    *,
    on_stage: Callable[[str], None] | None = None,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunReport:
    report = RunReport()

    def say(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    say("hashing media")
    report.hashing = hash_stored_media(store, settings, workers=workers)
    say("matching media against hash banks")
    report.matching = match_banks(store, settings)
    say("finding near-identical media across channels")
    report.media_pairs = match_collected_media(store, settings)
    say("text and link signals")
    report.text = analyse_text(store, settings, progress=on_progress)
    say("network: near-duplicate text, mirrors, networks, rebrands")
    report.network = analyse_network(store, settings)
    say("triage: cases and priorities")
    report.cases = build_cases(store)
    return report
