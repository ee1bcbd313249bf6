"""Importing into a real store (SQLite file and PostgreSQL): idempotent, updating, and
all-or-nothing per file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from undertow.ingest import IngestError, ingest_file, ingest_paths
from undertow.settings import Settings
from undertow.store import Store, schema
from undertow.store.database import current_revision, head_revision

from conftest import shared_dataset
from export_builder import chat, message, service, write_export


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table except the import log, for before/after comparisons."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if table.name != "imports":
                rows = conn.execute(sa.select(table)).all()
                out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


def count(store: Store, table: sa.Table, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


def channel_export(messages: list[dict[str, Any]], name: str = "Test Channel") -> dict[str, Any]:
    return chat(messages, name=name)


def test_store_is_at_the_head_migration(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()


def test_migrations_match_the_schema(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == []


def test_reimport_stores_each_message_once(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    (tmp_path / "e" / "photos").mkdir(parents=True)
    (tmp_path / "e" / "photos" / "a.jpg").write_bytes(b"image-bytes")
    path = write_export(
        tmp_path / "e",
        channel_export(
            [
                service(1, "create_channel", title="Test Channel"),
                message(
                    2,
                    [
                        "hello ",
                        {"type": "hashtag", "text": "#Amaq"},
                        " ",
                        {"type": "link", "text": "https://t.me/x"},
                    ],
                    photo="photos/a.jpg",
                ),
                message(3, "forwarded", forwarded_from="Amaq Agency"),
            ]
        ),
    )
    first = ingest_file(store, settings, path)
    before = snapshot(store)
    second = ingest_file(store, settings, path)
    assert (first.chats, first.messages, first.media_stored) == (1, 3, 1)
    assert second.messages == 3
    assert snapshot(store) == before
    assert count(store, schema.messages) == 3
    assert count(store, schema.media) == 1
    assert count(store, schema.links) == 1
    assert count(store, schema.message_tags) == 1
    assert count(store, schema.imports) == 2


def test_newer_overlapping_export_updates_edits_and_titles(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    old = write_export(
        tmp_path / "old",
        channel_export(
            [
                service(1, "create_channel", title="Daily Recipes"),
                message(2, ["first ", {"type": "hashtag", "text": "#soup"}]),
                message(3, "second"),
            ],
            name="Daily Recipes",
        ),
    )
    new = write_export(
        tmp_path / "new",
        channel_export(
            [
                message(
                    2,
                    ["first, edited ", {"type": "hashtag", "text": "#KhilafahNews"}],
                    edited="2020-09-13T12:00:00",
                    edited_unixtime="1600000000",
                ),
                message(3, "second"),
                service(4, "edit_group_title", title="Nashir News Agency"),
                message(5, "third"),
            ],
            name="Nashir News Agency",
        ),
    )
    ingest_file(store, settings, old)
    ingest_file(store, settings, new)
    ingest_file(store, settings, old)  # an older export never overwrites a newer edit
    m, c = schema.messages, schema.channels
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(m.c.message_id, m.c.text, m.c.edited).order_by(m.c.message_id)
        ).all()
        channel = conn.execute(sa.select(c)).one()
        titles = conn.execute(
            sa.select(schema.channel_titles.c.title, schema.channel_titles.c.source).order_by(
                schema.channel_titles.c.at
            )
        ).all()
        edits = conn.execute(
            sa.select(schema.message_edits.c.message_id, schema.message_edits.c.text)
        ).all()
        tags = conn.execute(sa.select(schema.message_tags.c.tag)).scalars().all()
    assert [(r.message_id, r.text) for r in rows] == [
        (1, ""),
        (2, "first, edited #KhilafahNews"),
        (3, "second"),
        (4, ""),
        (5, "third"),
    ]
    assert rows[1].edited == 1600000000
    assert edits == [(2, "first #soup")]
    assert sorted(tags) == ["#KhilafahNews"]
    assert channel.title == "Nashir News Agency"
    assert ("Daily Recipes", "create_channel") in titles and (
        "Nashir News Agency",
        "edit_group_title",
    ) in titles
    assert titles[-1] == ("Nashir News Agency", "export")


@pytest.mark.parametrize("reader", ["in-process", "child-process"])
@pytest.mark.parametrize(
    "damage",
    ["truncate", "garbage", "bad-record", "not-an-export"],
)
def test_a_bad_file_leaves_the_store_exactly_as_it_was(
    tmp_path: Path, store: Store, settings: Settings, damage: str, reader: str
) -> None:
    if reader == "child-process":
        settings = settings.with_overrides(parallel_ingest_bytes=1)
    good = write_export(
        tmp_path / "good", channel_export([message(1, "kept"), message(2, "kept too")])
    )
    ingest_file(store, settings, good)
    before = snapshot(store)
    blobs_before = sorted(p.name for p in settings.evidence_dir.rglob("*") if p.is_file())

    folder = tmp_path / "bad"
    (folder / "photos").mkdir(parents=True)
    (folder / "photos" / "new.jpg").write_bytes(
        b"a new image that must not stay in the evidence store"
    )
    many = [message(i, f"new {i}", photo="photos/new.jpg") for i in range(3, 3000)]
    path = write_export(folder, channel_export([message(1, "changed!"), *many]))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: int(len(data) * 0.9)])
    elif damage == "garbage":
        path.write_bytes(data[: len(data) // 2] + b"\x00}{][" + data[len(data) // 2 :])
    elif damage == "bad-record":
        path.write_bytes(data.replace(b'"id": 2999', b'"id": "two thousand"'))
    else:
        path.write_text('{"success": true, "messages": [{"_id": "x", "msg": "rocket chat"}]}')
    with pytest.raises(IngestError) as caught:
        ingest_file(store, settings.with_overrides(batch_size=100), path)
    assert str(path) in str(caught.value)
    assert snapshot(store) == before
    assert sorted(p.name for p in settings.evidence_dir.rglob("*") if p.is_file()) == blobs_before


def test_ingest_paths_reports_bad_files_and_imports_the_rest(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    write_export(tmp_path / "a", channel_export([message(1, "a")]))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "result.json").write_text('{"messages": [')
    reports = ingest_paths(store, settings, [tmp_path])
    assert [r.error is None for r in reports] == [True, False]
    assert "truncated" in (reports[1].error or "")
    assert count(store, schema.messages) == 1
    with pytest.raises(IngestError, match="no such file"):
        ingest_paths(store, settings, [tmp_path / "absent"])


def test_pseudonymisation_key_is_made_once_and_reused(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    path = write_export(
        tmp_path,
        chat(
            [
                {
                    "id": 1,
                    "type": "message",
                    "date_unixtime": "5",
                    "from": "A Person",
                    "from_id": "user31337",
                    "text": "x",
                }
            ],
            kind="public_supergroup",
        ),
    )
    keyless = settings.with_overrides(pseudonym_key=None)
    ingest_file(store, keyless, path)
    key_file = keyless.pseudonym_key_file
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    with store.engine.connect() as conn:
        author = conn.execute(sa.select(schema.messages.c.author)).scalar_one()
    ingest_file(store, keyless, path)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(schema.messages.c.author)).scalar_one() == author
        dump = repr(conn.execute(sa.select(schema.messages)).all())
    assert "31337" not in dump and "A Person" not in dump


def test_all_real_sample_exports_import(tmp_path: Path, store: Store, settings: Settings) -> None:
    folder = shared_dataset("telegram-exports")
    copy = tmp_path / "samples"
    shutil.copytree(folder, copy)
    reports = ingest_paths(store, settings.with_overrides(include_private=True), [copy])
    assert len(reports) == 6
    assert [r.error for r in reports] == [None] * 6
    assert count(store, schema.messages) == sum(r.messages for r in reports) >= 160
    assert count(store, schema.channels) == 6
    assert (
        count(store, schema.messages, schema.messages.c.service_action == "edit_group_title") == 1
    )


def test_a_large_export_spans_many_batches_and_stays_idempotent(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    many = [
        message(i, ["post ", {"type": "hashtag", "text": f"#t{i % 7}"}], forwarded_from="Src")
        for i in range(1, 20_001)
    ]
    path = write_export(tmp_path, channel_export(many))
    small_batches = settings.with_overrides(batch_size=333)
    assert ingest_file(store, small_batches, path).messages == 20_000
    assert ingest_file(store, small_batches, path).messages == 20_000
    assert count(store, schema.messages) == 20_000
    assert count(store, schema.message_tags) == 20_000


def test_a_child_process_reader_stores_exactly_what_the_in_process_reader_stores(
    tmp_path: Path, settings: Settings
) -> None:
    from undertow.store import open_store

    folder = tmp_path / "e"
    (folder / "photos").mkdir(parents=True)
    (folder / "photos" / "a.jpg").write_bytes(b"picture bytes")
    messages = [
        message(
            i,
            ["post ", {"type": "hashtag", "text": "#x"}],
            photo="photos/a.jpg" if i % 3 else "photos/gone.jpg",
        )
        for i in range(1, 2500)
    ]
    account = {
        "chats": {
            "list": [chat(messages), chat([message(1, "dm")], chat_id=5, kind="personal_chat")]
        }
    }
    path = write_export(folder, account)
    snapshots = []
    notices = []
    for name, threshold in (("in", 0), ("child", 1)):
        store = open_store(f"sqlite:///{tmp_path / (name + '.db')}")
        report = ingest_file(store, settings.with_overrides(parallel_ingest_bytes=threshold), path)
        notices.append(report.notices)
        snapshots.append(snapshot(store))
        assert (report.messages, report.media_stored, report.media_missing) == (2499, 1666, 833)
        store.close()
    # Only the clock may differ (ingested_at, updated_at, first_seen of this import).
    now = int(time.time())

    def without_clock(snap: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
        def cell(value: Any) -> Any:
            return "NOW" if value.isdigit() and abs(int(value) - now) < 600 else value

        return {
            table: [tuple(cell(v) for v in row) for row in rows] for table, rows in snap.items()
        }

    assert without_clock(snapshots[0]) == without_clock(snapshots[1])
    assert len(snapshots[0]["messages"]) == len(snapshots[1]["messages"]) == 2499
    assert notices[0] == notices[1] and "personal_chat" in notices[1][0]


def test_reimporting_a_second_later_changes_nothing(
    tmp_path: Path, store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_export(tmp_path, channel_export([message(1, "a"), message(2, "b")]))
    ingest_file(store, settings, path)
    before = snapshot(store)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    ingest_file(store, settings, path)
    assert snapshot(store) == before
