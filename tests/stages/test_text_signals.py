"""The text stage over a simulated world, on SQLite and PostgreSQL: indicator, URL-bank and
combined propaganda signals, classified links, and only new messages on each run."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from undertow.exchange.banks import BankEntry, add_entries, create_bank
from undertow.exchange.records_export import iter_links
from undertow.ingest import ingest_paths
from undertow.settings import Settings
from undertow.simulate import simulate_world
from undertow.stages.text_signals import analyse_text
from undertow.store import Store, schema

from export_builder import chat, message, write_export


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    simulate_world(folder, seed=8, scale=1)
    return folder


def truth(world: Path) -> dict[str, Any]:
    return json.loads((world / "truth.json").read_text())  # type: ignore[no-any-return]


def labels(world: Path) -> dict[tuple[str, int], bool]:
    with (world / "truth_messages.jsonl").open() as handle:
        rows = [json.loads(line) for line in handle]
    return {(r["channel_id"], r["message_id"]): r["propaganda"] for r in rows}


def signal_rows(store: Store, detector: str) -> list[sa.Row[Any]]:
    s = schema.signals
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(s).where(s.c.detector == detector)).all())


def test_world_gets_text_signals_links_and_scores(
    world: Path, store: Store, settings: Settings
) -> None:
    ingest_paths(store, settings, [world / "exports"])
    report = analyse_text(store, settings)
    assert report.messages > 1000 and report.links > 10
    assert report.signals["indicators"] > 100 and report.signals["propaganda"] > 100

    # Indicator spans index the raw text of the message they name.
    with store.engine.connect() as conn:
        texts = {
            (row.channel_id, row.message_id): row.text
            for row in conn.execute(sa.select(schema.messages))
        }
    for row in signal_rows(store, "indicators"):
        explanation = row.explanation
        if row.target_kind == "message" and explanation["field"] == "text":
            start, end = explanation["span"]
            assert texts[(row.channel_id, row.message_id)][start:end] == explanation["matched"]

    # Titles: the outlet's channel carries a channel-level indicator signal.
    channels = {c["role"]: c for c in truth(world)["channels"]}
    titled = {row.channel_id for row in signal_rows(store, "indicators") if row.message_id is None}
    assert channels["outlet"]["channel_id"] in titled
    assert channels["news"]["channel_id"] not in titled

    # Combined score: propaganda ranks above the news and research channels quoting the brands.
    truth_by_message = labels(world)
    with store.engine.connect() as conn:
        scores = {
            (row.channel_id, row.message_id): row.propaganda
            for row in conn.execute(sa.select(schema.text_features))
        }
    by_role: dict[str, list[float]] = defaultdict(list)
    role_of = {c["channel_id"]: c["role"] for c in truth(world)["channels"]}
    for key, score in scores.items():
        by_role[role_of[key[0]]].append(score)
    quoting = by_role["news"] + by_role["research"]
    assert quoting and max(quoting) < 0.5
    positives = [score for key, score in scores.items() if truth_by_message.get(key)]
    assert sum(score >= 0.5 for score in positives) / len(positives) > 0.9
    negatives = [score for key, score in scores.items() if truth_by_message.get(key) is False]
    assert sum(score >= 0.5 for score in negatives) / len(negatives) < 0.05

    # Every link is classified and exported with the documented fields.
    rows = list(iter_links(store))
    assert len(rows) == report.links
    assert {"channel_id", "message_id", "url", "normalized_url", "platform", "kind"} <= set(rows[0])
    assert {"telegram", "web"} <= {row["platform"] for row in rows}

    # A second run finds nothing new.
    again = analyse_text(store, settings)
    assert again.messages == 0 and not again.signals


def test_new_messages_and_url_banks_are_picked_up_incrementally(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    first = write_export(
        tmp_path / "a",
        chat([message(1, "Weekly market opened in the northern town.")], name="Daily notes"),
    )
    ingest_paths(store, settings, [first])
    assert analyse_text(store, settings).messages == 1

    create_bank(store, "tat-urls", category="tat-url")
    add_entries(store, "tat-urls", [BankEntry("url", "https://justpaste.it/abc12", note="alert 7")])
    second = write_export(
        tmp_path / "b",
        chat(
            [
                message(1, "Weekly market opened in the northern town."),
                message(2, "Full list: HTTPS://www.JustPaste.it/abc12?utm_source=tg #KhilafahNews"),
            ],
            name="Daily notes",
        ),
    )
    ingest_paths(store, settings, [second])
    report = analyse_text(store, settings)
    assert report.messages == 1
    (hit,) = signal_rows(store, "urlbank")
    assert hit.message_id == 2 and hit.category == "tat-url"
    assert hit.explanation["normalized_url"] == "https://justpaste.it/abc12"
    (tag,) = [row for row in signal_rows(store, "indicators") if row.message_id == 2]
    assert tag.explanation["rule"] == "is.hashtag.khilafahnews"
    assert tag.explanation["matched"] == "#KhilafahNews"
    with store.engine.connect() as conn:
        (stats,) = conn.execute(sa.select(schema.channel_text_stats)).all()
    assert stats.messages == 2 and stats.marked == 1
