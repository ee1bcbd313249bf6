"""Lineages of re-created channels: the name helpers and conflict resolution on their own, a
handcrafted store, and the simulator's truth on several seeds (nothing tuned to one world)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from undertow.ingest import ingest_paths
from undertow.network.lineages import (
    LINK_THRESHOLD,
    Lineage,
    LineageLink,
    fill_skips,
    find_lineages,
    resolve_conflicts,
)
from undertow.network.names import name_stem
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.run import run_stages
from undertow.store import open_store, schema
from undertow.store.database import create_engine

DAY = 86_400
T0 = 1_560_000_000


# -- name stems ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Nashir",
        "Nashir 2",
        "Nashir_v3",
        "Nashir new",
        "Nashir backup",
        "Nashir official",
        "NASHIR 7",
        "N\u0430shir",  # Cyrillic а
        "N\u0430shir 2",
        "N.a.s.h.i.r",
        "N a s h i r",
        "Nashir (v.4)",
        "nashir_86_backup",  # a handle
        "nashir2",
        "Nashir3",
    ],
)
def test_look_alike_titles_and_handles_share_a_stem(title: str) -> None:
    assert name_stem(title) == "nashir"


def test_stems_keep_what_names_a_channel() -> None:
    assert name_stem("Amaq Daily backup") == name_stem("\u0410m\u0430q D\u0430ily 2")
    assert name_stem("Amaq Daily") == "amaqdaily"
    assert name_stem("D.a.w.l.a.h Media") == name_stem("dawlah_media_20_v3") == "dawlahmedia"
    assert name_stem("Nashir Archive") != name_stem("Nashir")
    assert name_stem("Khilafah News") != name_stem("Khilafah Feed")
    assert name_stem("2") == "2"  # a title of numbering alone is kept, not emptied


# -- conflict resolution ---------------------------------------------------------------------


def link(source: str, target: str, score: float) -> LineageLink:
    return LineageLink(source, target, score, [])


def test_each_channel_keeps_its_best_predecessor_and_successor() -> None:
    kept = resolve_conflicts(
        [link("a", "c", 0.8), link("a", "b", 0.9), link("b", "c", 0.85), link("x", "c", 0.95)]
    )
    assert {(k.source, k.target) for k in kept} == {("x", "c"), ("a", "b")}


def test_conflict_resolution_never_closes_a_cycle() -> None:
    kept = resolve_conflicts([link("a", "b", 0.9), link("b", "c", 0.9), link("c", "a", 0.8)])
    assert {(k.source, k.target) for k in kept} == {("a", "b"), ("b", "c")}


def test_a_link_skipping_over_a_left_out_incarnation_goes_through_it() -> None:
    candidates = [link("a", "b", 0.75), link("b", "c", 0.75), link("a", "c", 0.85)]
    kept = resolve_conflicts(candidates)
    assert [(k.source, k.target) for k in kept] == [("a", "c")]
    filled = fill_skips(kept, candidates)
    assert {(k.source, k.target) for k in filled} == {("a", "b"), ("b", "c")}
    assert fill_skips(kept, candidates, keep={("a", "c")}) == kept
    # a channel kept elsewhere is not taken away from its own chain
    others = [*candidates, link("x", "b", 0.95)]
    assert {(k.source, k.target) for k in fill_skips(resolve_conflicts(others), others)} == {
        ("a", "c"),
        ("x", "b"),
    }


# -- a handcrafted store ---------------------------------------------------------------------


class Store:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn, self.next_id = conn, 1

    def channel(self, channel_id: str, title: str, start: int, end: int, posts: int = 5) -> None:
        self.conn.execute(
            sa.insert(schema.channels).values(
                channel_id=channel_id, platform="telegram", native_id=channel_id,
                kind="channel", title=title, updated_at=0,
            )
        )  # fmt: skip
        self.conn.execute(
            sa.insert(schema.channel_titles).values(
                channel_id=channel_id, title=title, at=start, source="export"
            )
        )
        step = (end - start) // max(posts - 1, 1)
        for index in range(posts):
            self.post(channel_id, start + index * step, f"bulletin {index}")

    def post(self, channel_id: str, date: int, text: str, handle: str | None = None) -> None:
        self.conn.execute(
            sa.insert(schema.messages).values(
                channel_id=channel_id, message_id=self.next_id, date=date, kind="message",
                text=text, ingested_at=0,
            )
        )  # fmt: skip
        if handle:
            self.conn.execute(
                sa.insert(schema.message_links).values(
                    channel_id=channel_id, message_id=self.next_id, position=0,
                    url=f"https://t.me/{handle}", normalized_url=f"https://t.me/{handle}",
                    platform="telegram", kind="channel", target=handle, source="link",
                )
            )  # fmt: skip
        self.next_id += 1

    def mirror(self, channel_id: str, source_id: str, method: str, lag: int) -> None:
        self.conn.execute(
            sa.insert(schema.mirror_pairs).values(
                channel_id=channel_id, source_id=source_id, carried=5, eligible=5, share=1.0,
                median_lag_s=lag, methods={method: 5}, since=0, until=0,
            )
        )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = create_engine(sqlite_url(tmp_path / "u.db"))
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        yield Store(conn)
    engine.dispose()


def pairs(lineages: list[Lineage]) -> set[tuple[str, str]]:
    return {(k.source, k.target) for lineage in lineages for k in lineage.links}


def test_an_announced_successor_is_linked_with_its_evidence(store: Store) -> None:
    store.channel("t:1", "Amaq Daily", T0, T0 + 10 * DAY)
    store.post("t:1", T0 + 9 * DAY, "new channel: https://t.me/amaq_daily_v2", "amaq_daily_v2")
    store.channel("t:2", "Amaq Daily backup", T0 + 13 * DAY, T0 + 30 * DAY)
    store.channel("t:3", "Weather Watch", T0 + 11 * DAY, T0 + 30 * DAY)
    (lineage,) = find_lineages(store.conn)
    assert lineage.lineage_id == "lineage:t:1" and lineage.channels == ["t:1", "t:2"]
    (found,) = lineage.links
    assert found.score >= 0.95
    assert found.evidence[0].startswith("announced: 'new channel: https://t.me/amaq_daily_v2'")
    assert "1.0 days before it stopped" in found.evidence[0]
    assert "look-alike titles: 'Amaq Daily' -> 'Amaq Daily backup'" in found.evidence[1]
    assert "started 3.0 days after the previous one stopped" in found.evidence
    first, second = lineage.lifetimes
    assert first == {
        "channel_id": "t:1", "first_post": T0, "last_post": T0 + 10 * DAY,
        "lifetime_s": 10 * DAY, "gap_before_next_s": 3 * DAY,
    }  # fmt: skip
    assert second["gap_before_next_s"] is None


def test_a_greeting_and_a_similar_name_link_an_unannounced_successor(store: Store) -> None:
    store.channel("t:1", "Amaq Daily", T0, T0 + 10 * DAY)
    store.channel("t:2", "Amaq Dailly", T0 + 15 * DAY, T0 + 30 * DAY)
    store.post("t:2", T0 + 15 * DAY + 60, "We’re back! #KhilafahNews")
    (lineage,) = find_lineages(store.conn)
    (found,) = lineage.links
    assert (
        found.evidence[0] == "greeting: 'We’re back! #KhilafahNews' posted 1 min after it started"
    )
    assert found.evidence[1].endswith("(names 95% alike)")


def test_timing_and_source_alone_link_nothing(store: Store) -> None:
    store.channel("t:1", "Kitchen Corner", T0, T0 + 10 * DAY)
    store.channel("t:2", "Sports Roundup", T0 + 11 * DAY, T0 + 30 * DAY)
    store.mirror("t:1", "t:9", "copy", 600)
    store.mirror("t:2", "t:9", "copy", 600)
    assert find_lineages(store.conn) == []


def test_a_greeting_names_the_old_channel_without_a_title_match(store: Store) -> None:
    store.channel("t:1", "Khilafah Media", T0, T0 + 10 * DAY)
    store.channel("t:2", "Bulletin Board", T0 + 12 * DAY, T0 + 30 * DAY)
    store.post(
        "t:2", T0 + 12 * DAY + 600, "we are back, old channel @khilafah_media_1", "khilafah_media_1"
    )
    assert pairs(find_lineages(store.conn)) == {("t:1", "t:2")}


def test_the_next_incarnation_wins_over_a_later_look_alike(store: Store) -> None:
    store.channel("t:1", "Nashir", T0, T0 + 10 * DAY)
    store.channel("t:2", "Nashir 2", T0 + 12 * DAY, T0 + 20 * DAY)
    store.channel("t:3", "N.a.s.h.i.r", T0 + 25 * DAY, T0 + 40 * DAY)
    lineages = find_lineages(store.conn)
    assert [lineage.channels for lineage in lineages] == [["t:1", "t:2", "t:3"]]
    assert all(k.score >= LINK_THRESHOLD for k in lineages[0].links)


def test_a_look_alike_mirroring_another_feed_is_not_a_successor(store: Store) -> None:
    store.channel("t:1", "Dawlah Media", T0, T0 + 10 * DAY)
    store.channel("t:2", "Dawlah Media 24", T0 + 12 * DAY, T0 + 40 * DAY)
    store.mirror("t:1", "t:8", "copy", 600)
    store.mirror("t:2", "t:9", "forward", 60)
    assert find_lineages(store.conn) == []


def test_parallel_channels_are_not_successors(store: Store) -> None:
    store.channel("t:1", "Nashir", T0, T0 + 10 * DAY)
    store.channel("t:2", "Nashir 2", T0 + 5 * DAY, T0 + 20 * DAY)  # overlaps by 5 days
    store.channel("t:3", "Nashir new", T0 + 50 * DAY, T0 + 60 * DAY)  # after too long a gap
    assert find_lineages(store.conn) == []


# -- the simulator's truth -------------------------------------------------------------------


@pytest.fixture(scope="module", params=[8, 21, 33])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder: Path = tmp_path_factory.mktemp(f"lineage-world-{request.param}")
    simulate_world(folder / "world", seed=request.param, scale=1)
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "world" / "exports"])
    run_stages(store, settings, workers=1)
    with store.engine.connect() as conn:
        lineages = find_lineages(conn)
    store.close()
    return json.loads((folder / "world" / "truth.json").read_text()), lineages


def test_every_true_successor_is_found_and_nothing_else(world: Any) -> None:
    truth, lineages = world
    expected = {(k["from"], k["to"]) for lineage in truth["lineages"] for k in lineage["links"]}
    found = pairs(lineages)
    assert expected, "every simulated world has a lineage"
    assert expected - found == set(), "missed successors"
    assert found - expected == set(), "links that are not in the truth"


def test_lineages_keep_to_one_role_and_one_true_lineage(world: Any) -> None:
    truth, lineages = world
    roles = {c["channel_id"]: c["role"] for c in truth["channels"]}
    true_of = {c: t["lineage_id"] for t in truth["lineages"] for c in t["channels"]}
    for lineage in lineages:
        assert {roles[c] for c in lineage.channels} == {"lineage"}
        assert len({true_of[c] for c in lineage.channels}) == 1
    assert sorted(lineage.channels for lineage in lineages) == sorted(
        t["channels"] for t in truth["lineages"]
    )


def test_lifetimes_gaps_and_evidence_are_filled_in(world: Any) -> None:
    truth, lineages = world
    gaps = {(k["from"], k["to"]): k["gap_s"] for t in truth["lineages"] for k in t["links"]}
    announced = {
        (k["from"], k["to"])
        for t in truth["lineages"]
        for k in t["links"]
        if k["announcement"] and k["announcement"]["kind"] != "we_are_back"
    }
    for lineage in lineages:
        assert lineage.lineage_id == f"lineage:{lineage.channels[0]}"
        assert [row["channel_id"] for row in lineage.lifetimes] == lineage.channels
        for row, following in zip(lineage.lifetimes, lineage.lifetimes[1:], strict=False):
            assert 0 < row["lifetime_s"] == row["last_post"] - row["first_post"]
            assert row["gap_before_next_s"] == following["first_post"] - row["last_post"]
            # the truth measures from the ban; the last post comes before it
            assert row["gap_before_next_s"] >= gaps[(row["channel_id"], following["channel_id"])]
        assert lineage.lifetimes[-1]["gap_before_next_s"] is None
        for found in lineage.links:
            assert LINK_THRESHOLD <= found.score <= 1
            assert any(e.startswith("look-alike titles") for e in found.evidence)
            assert any(e.startswith("started ") for e in found.evidence)
            if (found.source, found.target) in announced:
                assert found.evidence[0].startswith("announced: ")
