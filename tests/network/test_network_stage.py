"""Mirrors, networks and rebrands from `undertow run`, checked against the simulator's truth
on several seeds (nothing may be tuned to one world)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from undertow.exchange.network_export import iter_migrations, iter_mirrors, iter_rebrands
from undertow.ingest import ingest_paths
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.run import run_stages
from undertow.store import open_store

DAY = 86_400


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module", params=[8, 21, 33])
def analysed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp(f"world-{request.param}")
    simulate_world(folder / "world", seed=request.param, scale=1)
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "world" / "exports"])
    report = run_stages(store, settings, workers=1)
    truth = json.loads((folder / "world" / "truth.json").read_text())
    result = (
        truth,
        report,
        list(iter_mirrors(store)),
        list(iter_rebrands(store)),
        list(iter_migrations(store)),
    )
    store.close()
    return result


def test_mirrors_of_the_outlet_are_found_exactly(analysed: Any) -> None:
    truth, _, mirrors, _, _ = analysed
    roles = {c["channel_id"]: c["role"] for c in truth["channels"]}
    outlet = next(c for c, role in roles.items() if role == "outlet")
    expected = {m["channel_id"] for m in truth["mirrors"] if m["source_id"] == outlet}
    found = {m["channel_id"] for m in mirrors if m["source_id"] == outlet}
    assert found <= expected, f"wrong mirrors of the outlet: {[roles[c] for c in found - expected]}"
    assert len(found & expected) >= 0.95 * len(expected)


def test_all_mirror_relations_mostly_right_and_benign_kept_apart(analysed: Any) -> None:
    truth, _, mirrors, _, _ = analysed
    expected = {(m["channel_id"], m["source_id"]) for m in truth["mirrors"]}
    found = {(m["channel_id"], m["source_id"]) for m in mirrors}
    assert len(found & expected) >= 0.9 * len(expected)
    assert len(found & expected) >= 0.9 * len(found)
    roles = {c["channel_id"]: c["role"] for c in truth["channels"]}
    outlet = next(c for c, role in roles.items() if role == "outlet")
    in_outlet_network = {m["channel_id"] for m in mirrors if m["network_id"] == f"net:{outlet}"}
    assert not {c for c in in_outlet_network if roles[c].startswith("benign")}
    assert not {c for c in in_outlet_network if roles[c] in {"news", "research"}}
    for row in mirrors:
        assert 0 < row["share"] <= 1 and row["methods"] and row["since"] <= row["until"]


def test_the_rebranded_sleeper_is_a_mirror_since_its_rebrand(analysed: Any) -> None:
    truth, _, mirrors, _, _ = analysed
    sleeper = next(r for r in truth["rebrands"] if r["kind"] == "sleeper")
    (row,) = [m for m in mirrors if m["channel_id"] == sleeper["channel_id"]]
    assert abs(ts(row["since"]) - ts(sleeper["at"])) <= DAY


def test_every_rebrand_is_found_on_time_and_sleepers_are_marked(analysed: Any) -> None:
    truth, _, _, rebrands, _ = analysed
    found = {(r["channel_id"], r["to_title"]): r for r in rebrands}
    for event in truth["rebrands"]:
        row = found[(event["channel_id"], event["to_title"])]
        assert row["from_title"] == event["from_title"]
        assert abs(ts(row["at"]) - ts(event["at"])) <= DAY
        assert (row["kind"] == "sleeper") == (event["kind"] == "sleeper")
        assert row["evidence"]["summary"]


def test_migration_map_lists_every_destination_of_a_network_move(analysed: Any) -> None:
    truth, _, _, _, migrations = analysed
    found = {(m["channel_id"], m["message_id"]) for m in migrations}
    moves = [m for m in truth["migrations"] if m["platform"] != "website"]
    assert all((m["channel_id"], m["message_id"]) in found for m in moves)
    shared = [m for m in migrations if m["channels"] > 1]
    assert shared, "a network move posts one destination from several channels"
    for row in migrations:
        assert row["first_seen"] <= row["date"]


def test_lineages_are_stored_and_exported(analysed: Any) -> None:
    truth, report, _, _, _ = analysed
    assert report.network.lineages == len(truth["lineages"])


def test_lineage_export_rows(tmp_path_factory: pytest.TempPathFactory) -> None:
    from undertow.exchange.network_export import iter_lineages

    folder = tmp_path_factory.mktemp("lineage-export")
    simulate_world(folder / "world", seed=8, scale=1)
    settings = load_settings(sqlite_url(folder / "u.db"), folder / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "world" / "exports"])
    run_stages(store, settings, workers=1)
    rows = list(iter_lineages(store))
    store.close()
    truth = json.loads((folder / "world" / "truth.json").read_text())
    expected = {(link["from"], link["to"]) for x in truth["lineages"] for link in x["links"]}
    found = {(link["from"], link["to"]) for row in rows for link in row["links"]}
    assert found == expected
    for row in rows:
        assert row["incarnations"] == len(row["channels"]) == len(row["lifetimes"])
        assert all(link["evidence"] and 0 < link["score"] <= 1 for link in row["links"])


def test_a_bulk_load_rebuilds_the_reverse_pair_index_and_later_runs_add_to_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run loads everything in bulk (the index on `id_b` dropped, then rebuilt);
    a later, smaller run inserts into it.  Both end with the same pairs as one run over all."""
    import sqlalchemy as sa

    import undertow.stages.network as stage
    from undertow.stages import neardup
    from undertow.store import schema

    monkeypatch.setattr(neardup, "BULK_FLOOR", 1)
    simulate_world(tmp_path / "world", seed=8, scale=1)
    folders = sorted((tmp_path / "world" / "exports").iterdir())
    first, rest = folders[: len(folders) * 2 // 3], folders[len(folders) * 2 // 3 :]
    bulk_loads: list[bool] = []
    drop = sa.Index.drop

    def spy(index: sa.Index, bind: Any, checkfirst: bool = False) -> None:
        bulk_loads.append(index.name == "ix_text_copies_b")
        drop(index, bind, checkfirst=checkfirst)

    monkeypatch.setattr(sa.Index, "drop", spy)

    def pairs(db: str, parts: list[list[Any]]) -> set[tuple[int, int]]:
        settings = load_settings(sqlite_url(tmp_path / db), tmp_path / f"{db}-data")
        store = open_store(settings.db_url)
        for part in parts:
            ingest_paths(store, settings, part)
            if len(parts) > 1:
                stage.analyse_network(store, settings)
        if len(parts) == 1:
            stage.analyse_network(store, settings)
        with store.engine.connect() as conn:
            indexes = sa.inspect(conn).get_indexes("text_copies")
            found = set(
                conn.execute(sa.select(schema.text_copies.c.id_a, schema.text_copies.c.id_b))
            )
        store.close()
        assert [i["column_names"] for i in indexes] == [["id_b"]]
        return {(int(a), int(b)) for a, b in found}

    one_run = pairs("one.db", [first + rest])
    assert bulk_loads == [True]
    two_runs = pairs("two.db", [first, rest])
    assert bulk_loads == [True, True]  # the second run of two.db added to the index
    assert one_run and one_run == two_runs


def test_a_run_that_fails_midway_resumes_from_its_last_save(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pairs written after the last save of the index are found again, never lost or doubled."""
    import sqlalchemy as sa

    import undertow.stages.network as stage
    from undertow.stages import neardup
    from undertow.store import schema

    monkeypatch.setattr(neardup, "BATCH", 100)
    monkeypatch.setattr(neardup, "SAVE_EVERY", 300)
    simulate_world(tmp_path / "world", seed=21, scale=1)

    def run(db: str, fail_at: int | None) -> set[tuple[int, int]]:
        settings = load_settings(sqlite_url(tmp_path / db), tmp_path / f"{db}-data")
        store = open_store(settings.db_url)
        ingest_paths(store, settings, [tmp_path / "world" / "exports"])
        if fail_at is not None:
            calls = 0
            write = neardup._write_copies

            def failing(conn: sa.Connection, pairs: Any) -> None:
                nonlocal calls
                calls += 1
                if calls == fail_at:
                    raise RuntimeError("disk full")
                write(conn, pairs)

            monkeypatch.setattr(neardup, "_write_copies", failing)
            with pytest.raises(RuntimeError, match="disk full"):
                stage.analyse_network(store, settings)
            monkeypatch.setattr(neardup, "_write_copies", write)
        stage.analyse_network(store, settings)
        with store.engine.connect() as conn:
            found = conn.execute(sa.select(schema.text_copies.c.id_a, schema.text_copies.c.id_b))
            pairs = {(int(a), int(b)) for a, b in found}
        store.close()
        return pairs

    clean = run("clean.db", None)
    assert clean and run("failed.db", 5) == clean


def test_the_stage_asks_for_small_pages_and_restores_numpy_s_setting(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Huge pages are off while the stage runs (decision 61) and as before afterwards."""
    import numpy as np

    import undertow.stages.network as stage

    switch = np._core.multiarray._set_madvise_hugepage  # type: ignore[attr-defined]
    seen: list[bool] = []
    find_rebrands = stage.find_rebrands

    def spy(conn: Any) -> Any:
        current = switch(False)  # returns the setting in force, then sets it back below
        switch(current)
        seen.append(current)
        return find_rebrands(conn)

    settings = load_settings(sqlite_url(tmp_path / "u.db"), tmp_path / "data")
    store = open_store(settings.db_url)
    monkeypatch.setattr(stage, "find_rebrands", spy)
    before = switch(True)
    try:
        stage.analyse_network(store, settings)
        assert seen == [False]
        assert switch(True) is True  # restored to what it was before the stage
    finally:
        switch(before)
        store.close()
