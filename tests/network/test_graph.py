"""The channel graph of a simulated world after `undertow run`, its analysis, and its GEXF and
GraphML files read back by networkx; plus an empty store, lineage rows and handle resolution
on small hand-made stores."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import sqlalchemy as sa

from undertow.exchange.graph_export import (
    GRAPH_FORMATS,
    dump_graph,
    portable_graph,
    write_graph,
)
from undertow.ingest import ingest_paths
from undertow.network.graph import HandleResolver, analyse, build_graph
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.run import run_stages
from undertow.store import Store, open_store, schema

SEED = 21
READERS = {"gexf": nx.read_gexf, "graphml": nx.read_graphml}


@pytest.fixture(scope="module")
def world_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graph-world")
    simulate_world(folder / "world", seed=SEED, scale=1)
    return folder


@pytest.fixture(scope="module")
def world(world_folder: Path) -> Any:
    """(truth, graph, summary, {format: graph read back from its file}) of one world."""
    folder = world_folder
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    try:
        ingest_paths(store, settings, [folder / "world" / "exports"])
        run_stages(store, settings, workers=1)
        with store.engine.connect() as conn:
            graph = build_graph(conn)
        summary = analyse(graph)
        files = {}
        for fmt in GRAPH_FORMATS:
            write_graph(store, fmt, folder / f"graph.{fmt}")
            files[fmt] = READERS[fmt](folder / f"graph.{fmt}")
    finally:
        store.close()
    truth = json.loads((folder / "world" / "truth.json").read_text())
    return truth, graph, summary, files


def role_of(truth: dict[str, Any], role: str) -> str:
    return str(next(c["channel_id"] for c in truth["channels"] if c["role"] == role))


def edge_types(graph: Any, u: str, v: str) -> set[str]:
    return {data["type"] for data in graph.get_edge_data(u, v, default={}).values()}


def test_mirrors_of_the_outlet_have_edges_of_their_method(world: Any) -> None:
    truth, graph, _, _ = world
    outlet = role_of(truth, "outlet")
    expected = [m for m in truth["mirrors"] if m["source_id"] == outlet]
    assert expected
    found = [m for m in expected if m["method"] in edge_types(graph, m["channel_id"], outlet)]
    assert len(found) >= 0.9 * len(expected)
    methods = {m["method"] for m in found}
    assert {"forward", "copy"} <= methods
    for u, v, data in graph.edges(data=True):
        if data["type"] in ("forward", "copy", "media"):
            assert graph.nodes[u]["kind"] == graph.nodes[v]["kind"] == "channel"
            assert data["weight"] > 0 and 0 < data["share"] <= 1
            assert data["first"] <= data["last"]


def test_outlet_and_distributor_are_the_top_hubs(world: Any) -> None:
    truth, graph, summary, _ = world
    outlet, distributor = role_of(truth, "outlet"), role_of(truth, "distributor")
    assert graph.nodes[outlet]["hub_rank"] <= 3
    assert graph.nodes[distributor]["hub_rank"] <= 3
    assert {hub["node"] for hub in summary["hubs"][:3]} >= {outlet, distributor}
    assert graph.nodes[distributor]["carried_by"] >= 1


def test_migration_edges_point_to_destinations_of_their_platform(world: Any) -> None:
    truth, graph, summary, _ = world
    migrations = [(u, v) for u, v, t in graph.edges(data="type") if t == "migration"]
    assert migrations and summary["edges"]["migration"] == len(migrations)
    for u, v in migrations:
        assert graph.nodes[u]["kind"] == "channel"
        assert graph.nodes[v]["kind"] == "destination"
        assert graph.nodes[v]["platform"] not in ("web", "telegram")
    reached = {(u, graph.nodes[v]["platform"]) for u, v in migrations}
    for move in truth["migrations"]:
        if move["platform"] not in ("website", "telegram"):
            assert (move["channel_id"], move["platform"]) in reached


def test_group_members_are_accounts_that_post_in_the_group(world: Any) -> None:
    truth, graph, summary, _ = world
    group = role_of(truth, "benign_group")
    members = [u for u, _, t in graph.in_edges(group, data="type") if t == "posted_in"]
    assert members and graph.nodes[group]["accounts"] == len(members)
    for account in members:
        data = graph.nodes[account]
        assert data["kind"] == "account" and data["channels"] >= 1 and data["messages"] >= 1
    assert summary["nodes"]["account"] == len(members)


def test_communities_keep_benign_channels_apart(world: Any) -> None:
    truth, graph, summary, _ = world
    roles = {c["channel_id"]: c["role"] for c in truth["channels"]}
    outlet = role_of(truth, "outlet")
    assert summary["communities"] >= 2
    assert all(graph.nodes[c]["community"] >= 0 for c in roles)
    benign = {graph.nodes[c]["community"] for c, r in roles.items() if r.startswith("benign")}
    assert graph.nodes[outlet]["community"] not in benign


@pytest.mark.parametrize("fmt", GRAPH_FORMATS)
def test_files_read_back_with_their_attributes(world: Any, fmt: str) -> None:
    truth, graph, _, files = world
    back = files[fmt]
    assert set(back.nodes) == set(graph.nodes)
    assert back.number_of_edges() == graph.number_of_edges()
    outlet = role_of(truth, "outlet")
    for name in ("kind", "title", "public", "messages", "community", "hub_rank", "first_seen"):
        assert back.nodes[outlet][name] == graph.nodes[outlet][name], name
    assert back.nodes[outlet]["hub_score"] == pytest.approx(graph.nodes[outlet]["hub_score"])
    assert back.nodes[outlet]["propaganda"] == pytest.approx(graph.nodes[outlet]["propaganda"])
    type_name = "relation" if fmt == "gexf" else "type"
    written = sorted(
        (u, v, data[type_name], float(data["weight"]), data["first"], data["last"])
        for u, v, data in back.edges(data=True)
    )
    expected = sorted(
        (u, v, data["type"], float(data["weight"]), data["first"], data["last"])
        for u, v, data in graph.edges(data=True)
    )
    assert written == expected


@pytest.mark.parametrize("fmt", GRAPH_FORMATS)
def test_an_empty_store_gives_a_valid_empty_file(tmp_path: Path, fmt: str) -> None:
    store = open_store(sqlite_url(tmp_path / "empty.db"))
    out = io.BytesIO()
    try:
        summary = write_graph(store, fmt, out)
    finally:
        store.close()
    assert summary["nodes"] == {} and summary["communities"] == 0
    back = READERS[fmt](io.BytesIO(out.getvalue()))
    assert back.number_of_nodes() == 0 and back.number_of_edges() == 0


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path / "empty.db"))
    try:
        with pytest.raises(ValueError, match="gexf, graphml"):
            write_graph(store, "dot", io.BytesIO())
    finally:
        store.close()


def add_channel(conn: sa.Connection, native: int, title: str) -> str:
    channel_id = f"telegram:{native}"
    conn.execute(
        schema.channels.insert().values(
            channel_id=channel_id,
            platform="telegram",
            native_id=str(native),
            kind="channel",
            public=True,
            title=title,
            updated_at=0,
        )
    )
    return channel_id


def add_link(conn: sa.Connection, channel_id: str, message_id: int, target: str) -> None:
    conn.execute(
        schema.messages.insert().values(
            channel_id=channel_id,
            message_id=message_id,
            date=1_600_000_000 + message_id,
            kind="message",
            text=f"t.me/{target}",
            ingested_at=0,
        )
    )
    conn.execute(
        schema.message_links.insert().values(
            channel_id=channel_id,
            message_id=message_id,
            position=0,
            url=f"https://t.me/{target}",
            normalized_url=f"https://t.me/{target}",
            platform="telegram",
            kind="channel",
            target=target,
            source="link",
        )
    )


@pytest.fixture
def small_store(tmp_path: Path) -> Any:
    store = open_store(sqlite_url(tmp_path / "small.db"))
    yield store
    store.close()


def test_handles_resolve_only_to_a_single_fitting_channel(small_store: Store) -> None:
    with small_store.engine.begin() as conn:
        amaq = add_channel(conn, 101, "Amaq Agency")
        add_channel(conn, 102, "Nashir")
        add_channel(conn, 103, "N.a.s.h.i.r")  # the same matching form: ambiguous
        news = add_channel(conn, 104, "News Desk")
        add_link(conn, news, 1, "amaq_agency_40")
        add_link(conn, news, 2, "nashir")
        add_link(conn, news, 3, "c/101")
        resolver = HandleResolver(conn)
        assert resolver.resolve("amaq_agency_40") == (amaq, "title_loose")
        assert resolver.resolve("AMAQ_AGENCY") == (amaq, "title")
        assert resolver.resolve("nashir") == (None, "unresolved")
        assert resolver.resolve("c/101") == (amaq, "id")
        assert resolver.resolve("c/999") == (None, "unresolved")
        graph = build_graph(conn)
    assert edge_types(graph, news, amaq) == {"link"}
    assert graph[news][amaq]["link"]["weight"] == 2  # two spellings, one edge
    assert graph.nodes["handle:nashir"]["kind"] == "handle"
    assert edge_types(graph, news, "handle:nashir") == {"link"}


def test_lineage_rows_become_lineage_edges(small_store: Store) -> None:
    with small_store.engine.begin() as conn:
        old, new = add_channel(conn, 201, "Nashir"), add_channel(conn, 202, "Nashir 2")
        lives = [
            {"channel_id": old, "first_post": 1_599_000_000},
            {"channel_id": new, "first_post": 1_600_000_000},
        ]
        conn.execute(
            schema.lineages.insert().values(
                lineage_id="lineage:x", channels=[old, new], lifetimes=lives
            )
        )
        conn.execute(
            schema.lineage_links.insert().values(
                lineage_id="lineage:x", from_id=old, to_id=new, score=0.9, evidence=["announced"]
            )
        )
    out = io.BytesIO()
    summary = write_graph(small_store, "graphml", out)
    assert summary["edges"] == {"lineage": 1}
    back = nx.read_graphml(io.BytesIO(out.getvalue()))
    ((u, v, data),) = back.edges(data=True)
    assert (u, v) == (old, new)
    assert data["type"] == "lineage" and data["score"] == 0.9
    assert json.loads(data["evidence"]) == ["announced"]
    assert data["first"] == "2020-09-13T12:26:40Z"


def test_portable_graph_makes_every_value_writable() -> None:
    graph = nx.MultiDiGraph()
    graph.add_node("a", kind="channel", title="bad\x00title\x1f", score=1, extra={"b": [1]})
    graph.add_node("b", kind="handle", score=0.5, gone=None, nan=float("nan"))
    graph.add_edge("a", "b", key="link", type="link", weight=1, tags={"y", "x"})
    safe = portable_graph(graph)
    assert safe.nodes["a"] == {
        "kind": "channel",
        "title": "badtitle",
        "score": 1.0,
        "extra": '{"b": [1]}',
    }
    assert safe.nodes["b"] == {"kind": "handle", "score": 0.5}
    assert safe["a"]["b"]["e0"]["tags"] == '["x", "y"]'
    for fmt, reader in READERS.items():
        out = io.BytesIO()
        dump_graph(graph, fmt, out)
        assert reader(io.BytesIO(out.getvalue())).nodes["a"]["title"] == "badtitle"


@pytest.mark.postgres
def test_postgresql_store_gives_the_same_graph(world: Any, world_folder: Path, pg_url: str) -> None:
    _, graph, summary, _ = world
    settings = load_settings(pg_url, world_folder / "pg-data")
    store = open_store(settings.db_url)
    try:
        ingest_paths(store, settings, [world_folder / "world" / "exports"])
        run_stages(store, settings, workers=1)
        out = io.BytesIO()
        pg_summary = write_graph(store, "graphml", out)
    finally:
        store.close()
    back = nx.read_graphml(io.BytesIO(out.getvalue()))
    assert pg_summary["nodes"] == summary["nodes"] and pg_summary["edges"] == summary["edges"]

    # Account pseudonyms are keyed per data folder, so only the rest is compared by id.
    def named(g: Any) -> list[tuple[str, str, str]]:
        return sorted((u, v, t) for u, v, t in g.edges(data="type") if t != "posted_in")

    assert named(back) == named(graph)
