"""The network analysis on the simulator's "alt" worlds: other titles, lags and copy edits than
the default world, held to the same bars, so nothing is tuned to one world."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from undertow.exchange.network_export import iter_lineages, iter_mirrors, iter_rebrands
from undertow.ingest import ingest_paths
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.run import run_stages
from undertow.store import open_store

DAY = 86_400


@dataclass
class Analysed:
    truth: dict[str, Any]
    mirrors: list[dict[str, Any]]
    rebrands: list[dict[str, Any]]
    lineages: list[dict[str, Any]]

    @property
    def roles(self) -> dict[str, str]:
        return {c["channel_id"]: c["role"] for c in self.truth["channels"]}

    @property
    def outlet(self) -> str:
        return next(c for c, role in self.roles.items() if role == "outlet")


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module", params=[5, 17])
def analysed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Analysed:
    folder = tmp_path_factory.mktemp(f"alt-world-{request.param}")
    simulate_world(folder / "world", seed=request.param, scale=1, variant="alt")
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "world" / "exports"])
    run_stages(store, settings, workers=1)
    result = Analysed(
        truth=json.loads((folder / "world" / "truth.json").read_text()),
        mirrors=list(iter_mirrors(store)),
        rebrands=list(iter_rebrands(store)),
        lineages=list(iter_lineages(store)),
    )
    store.close()
    return result


def test_the_world_really_differs_from_the_default(analysed: Analysed) -> None:
    titles = {t["title"] for c in analysed.truth["channels"] for t in c["titles"]}
    assert not titles & {"Amaq Agency", "Nashir News Agency", "City Events Daily"}


def test_mirrors_of_the_outlet_are_found_exactly(analysed: Analysed) -> None:
    roles, outlet = analysed.roles, analysed.outlet
    expected = {m["channel_id"] for m in analysed.truth["mirrors"] if m["source_id"] == outlet}
    found = {m["channel_id"] for m in analysed.mirrors if m["source_id"] == outlet}
    assert found <= expected, f"wrong mirrors of the outlet: {[roles[c] for c in found - expected]}"
    missed = [roles[c] for c in expected - found]
    assert len(found & expected) >= 0.95 * len(expected), f"missed mirrors of the outlet: {missed}"


def test_all_mirror_relations_mostly_right(analysed: Analysed) -> None:
    roles = analysed.roles
    expected = {(m["channel_id"], m["source_id"]) for m in analysed.truth["mirrors"]}
    found = {(m["channel_id"], m["source_id"]) for m in analysed.mirrors}
    right = len(found & expected)
    missed = sorted(roles[c] for c, _ in expected - found)
    wrong = sorted(roles[c] for c, _ in found - expected)
    assert right >= 0.9 * len(expected), f"recall {right}/{len(expected)}, missed {missed}"
    assert right >= 0.9 * len(found), f"precision {right}/{len(found)}, wrong {wrong}"
    for row in analysed.mirrors:
        assert 0 < row["share"] <= 1 and row["methods"] and row["since"] <= row["until"]


def test_benign_news_and_research_stay_out_of_the_outlet_network(analysed: Analysed) -> None:
    roles, outlet = analysed.roles, analysed.outlet
    members = {m["channel_id"] for m in analysed.mirrors if m["network_id"] == f"net:{outlet}"}
    intruders = {roles[c] for c in members}
    assert not {r for r in intruders if r.startswith("benign") or r in {"news", "research"}}


def test_the_rebranded_sleeper_is_a_mirror_since_its_rebrand(analysed: Analysed) -> None:
    sleeper = next(r for r in analysed.truth["rebrands"] if r["kind"] == "sleeper")
    (row,) = [m for m in analysed.mirrors if m["channel_id"] == sleeper["channel_id"]]
    assert abs(ts(row["since"]) - ts(sleeper["at"])) <= DAY


def test_every_rebrand_is_found_on_time_and_sleepers_are_marked(analysed: Analysed) -> None:
    found = {(r["channel_id"], r["to_title"]): r for r in analysed.rebrands}
    for event in analysed.truth["rebrands"]:
        row = found[(event["channel_id"], event["to_title"])]
        assert row["from_title"] == event["from_title"]
        assert abs(ts(row["at"]) - ts(event["at"])) <= DAY
        assert (row["kind"] == "sleeper") == (event["kind"] == "sleeper")
        assert row["evidence"]["summary"]


def lineage_links(analysed: Analysed) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(true successor links, links found) as (from, to) channel ids."""
    truth_links = [link for lineage in analysed.truth["lineages"] for link in lineage["links"]]
    expected = {(link["from"], link["to"]) for link in truth_links}
    found = {(link["from"], link["to"]) for row in analysed.lineages for link in row["links"]}
    return expected, found


def test_no_lineage_link_is_invented(analysed: Analysed) -> None:
    expected, found = lineage_links(analysed)
    assert found - expected == set(), f"{len(found - expected)} false links of {len(found)}"
    for row in analysed.lineages:
        assert row["incarnations"] == len(row["channels"]) == len(row["lifetimes"])


def test_every_lineage_link_is_found(analysed: Analysed) -> None:
    expected, found = lineage_links(analysed)
    assert expected - found == set(), f"missed {len(expected - found)} of {len(expected)} links"
