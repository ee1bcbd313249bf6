"""Referral packages on a simulated world after `undertow run`: the links, the STIX bundle and
the evidence zip agree with the decided cases, the manifest's hashes are those of the bytes
zipped, statuses are tracked and every step is in the audit chain."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import stix2
from typer.testing import CliRunner

from undertow.cli.common import state
from undertow.cli.referrals import referral_app
from undertow.settings import Settings, load_settings, sqlite_url
from undertow.store import Store, open_store, schema
from undertow.triage import audit
from undertow.triage.decisions import decide
from undertow.triage.referrals import (
    ReferralError,
    create_referral,
    permalink,
    referral_report,
    update_status,
)


@pytest.fixture(scope="module")
def world(analysed_world: Any) -> Path:
    return Path(analysed_world.folder)


@pytest.fixture
def settings(world: Path, tmp_path: Path) -> Settings:
    """A private copy of the analysed store for each test, on the shared evidence folder."""
    copy = tmp_path / "u.db"
    copy.write_bytes((world / "u.db").read_bytes())
    return load_settings(sqlite_url(copy), world / "data")


@pytest.fixture
def store(settings: Settings) -> Any:
    opened = open_store(settings.db_url)
    yield opened
    opened.close()


def _decide(store: Store, count: int = 2) -> list[str]:
    """Decide the `count` highest-priority item cases with copies violating."""
    c = schema.cases
    with store.engine.connect() as conn:
        case_ids = list(
            conn.execute(
                sa.select(c.c.case_id)
                .where(c.c.kind == "item", c.c.copies >= 2)
                .order_by(c.c.priority.desc(), c.c.case_id)
                .limit(count)
            ).scalars()
        )
    for case_id in case_ids:
        decide(store, case_id, "violating", "alice", note="clear O'Brien-style branding")
    return case_ids


def _case_items(store: Store, case_ids: list[str]) -> set[tuple[str, str, int]]:
    ci = schema.case_items
    with store.engine.connect() as conn:
        return {
            (row.case_id, row.channel_id, int(row.message_id))
            for row in conn.execute(sa.select(ci).where(ci.c.case_id.in_(case_ids)))
        }


def test_the_package_matches_the_decided_cases(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    case_ids = _decide(store)
    result = create_referral(store, settings, "Telegram", tmp_path / "out", actor="bob")
    folder = tmp_path / "out" / result.referral_id
    assert result.folder == folder and result.referral_id.startswith("ref-")
    assert result.cases == len(case_ids) and result.missing == 0

    with (folder / "permalinks.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["case_id"], r["channel_id"], int(r["message_id"])) for r in rows} == _case_items(
        store, case_ids
    )
    assert len(rows) == result.items
    for row in rows:
        number = row["channel_id"].removeprefix("telegram:")
        assert row["permalink"] == f"https://t.me/c/{number}/{row['message_id']}"
        assert row["referral_id"] == result.referral_id and row["decided_at"].endswith("Z")

    bundle = stix2.parse((folder / "bundle.json").read_text(encoding="utf-8"), allow_custom=False)
    kinds = [obj.type for obj in bundle.objects]
    assert kinds.count("indicator") == len(case_ids) and kinds.count("note") == len(case_ids)
    assert "observed-data" in kinds and "url" in kinds and "identity" in kinds
    patterns = " ".join(obj.pattern for obj in bundle.objects if obj.type == "indicator")
    assert all(f"'{row['permalink']}'" in patterns for row in rows)
    notes = [obj.content for obj in bundle.objects if obj.type == "note"]
    assert all("O\\'Brien" not in n and "O'Brien" in n and "Reasons" in n for n in notes)

    with store.engine.connect() as conn:
        items = conn.execute(sa.select(schema.referral_items)).all()
        referral = conn.execute(sa.select(schema.referrals)).one()
    assert len(items) == result.items and {item.status for item in items} == {"sent"}
    assert referral.recipient == "Telegram" and referral.created_by == "bob"


def test_the_manifest_hashes_the_zipped_bytes(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    _decide(store)
    result = create_referral(store, settings, "Partner", tmp_path, actor="bob")
    beside = json.loads((result.folder / "manifest.json").read_bytes())
    with zipfile.ZipFile(result.folder / "evidence.zip") as archive:
        inside = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist()) - {"manifest.json"}
        for entry in inside["files"]:
            data = archive.read(entry["path"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert len(data) == entry["size"] and entry["status"] == "preserved"
            assert entry["source"]["permalink"].startswith("https://t.me/c/")
            assert entry["posted_at"] and entry["captured_at"]
    assert inside == beside and inside["referral_id"] == result.referral_id
    assert {entry["path"] for entry in inside["files"]} == names
    assert any(n.startswith("media/") for n in names) and any(n.startswith("text/") for n in names)
    assert len(names) == result.files


def test_missing_blobs_are_listed_not_fatal(
    store: Store, settings: Settings, world: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(world / "data", data)
    settings = load_settings(settings.db_url, data)
    case_ids = _decide(store, 1)
    mm, ci = schema.message_media, schema.case_items
    with store.engine.connect() as conn:
        sha = conn.execute(
            sa.select(mm.c.sha256)
            .join(ci, sa.and_(ci.c.channel_id == mm.c.channel_id,
                              ci.c.message_id == mm.c.message_id))
            .where(ci.c.case_id == case_ids[0], mm.c.sha256.is_not(None))
        ).scalar()  # fmt: skip
    assert sha is not None
    (data / "evidence" / "sha256" / sha[:2] / sha[2:4] / sha).unlink()
    result = create_referral(store, settings, "Partner", tmp_path / "out", actor="bob")
    manifest = json.loads((result.folder / "manifest.json").read_bytes())
    assert result.missing >= 1 and len(manifest["missing"]) == result.missing
    assert all(m["sha256"] == sha and m["path"] is None for m in manifest["missing"])
    assert all(entry["sha256"] != sha for entry in manifest["files"])


def test_status_updates_report_and_audit(store: Store, settings: Settings, tmp_path: Path) -> None:
    _decide(store)
    result = create_referral(store, settings, "Telegram", tmp_path, actor="bob")
    with store.engine.connect() as conn:
        first, second = conn.execute(sa.select(schema.referral_items).limit(2)).all()
    assert update_status(store, result.referral_id, first.channel_id, first.message_id,
                         "removed", actor="carol") == "sent"  # fmt: skip
    update_status(store, result.referral_id, second.channel_id, second.message_id,
                  "still_up", actor="carol")  # fmt: skip
    (report,) = referral_report(store, result.referral_id)
    assert report["statuses"] == {
        "sent": result.items - 2, "removed": 1, "still_up": 1, "came_back": 0,
    }  # fmt: skip
    assert referral_report(store) == [report]
    with pytest.raises(ReferralError, match="status"):
        update_status(store, result.referral_id, first.channel_id, first.message_id, "gone",
                      actor="carol")  # fmt: skip
    with pytest.raises(ReferralError, match="no item"):
        update_status(store, result.referral_id, first.channel_id, 10**9, "removed",
                      actor="carol")  # fmt: skip
    with pytest.raises(ReferralError, match="no referral"):
        update_status(store, "ref-none", first.channel_id, first.message_id, "removed",
                      actor="carol")  # fmt: skip
    with pytest.raises(ReferralError, match="no referral"):
        referral_report(store, "ref-none")
    with store.engine.connect() as conn:
        assert audit.verify(conn).ok
        actions = [(e.action, e.target, e.actor) for e in audit.entries(conn)]
    assert ("referral.create", result.referral_id, "bob") in actions
    assert actions.count(("referral.status", result.referral_id, "carol")) == 2


def test_nothing_to_refer_and_filters(store: Store, settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ReferralError, match="nothing to refer"):
        create_referral(store, settings, "Telegram", tmp_path, actor="bob")
    first, second = _decide(store)
    decide(store, second, "not_violating", "dave")  # the latest decision counts
    with pytest.raises(ReferralError, match="not decided violating"):
        create_referral(store, settings, "Telegram", tmp_path, actor="bob", case_ids=[second])
    with pytest.raises(ReferralError, match="nothing to refer"):
        create_referral(store, settings, "Telegram", tmp_path, actor="bob", category="none")
    with store.engine.connect() as conn:
        category = conn.execute(
            sa.select(schema.cases.c.category).where(schema.cases.c.case_id == first)
        ).scalar()
    result = create_referral(
        store, settings, "Telegram", tmp_path, actor="bob", case_ids=[first], category=category
    )
    assert result.cases == 1 and result.items == len(_case_items(store, [first]))
    assert [p.name for p in tmp_path.glob("ref-*")] == [result.referral_id]  # failures left none


def test_permalinks() -> None:
    assert permalink("telegram:123", 5, "@name", "telegram") == "https://t.me/name/5"
    assert permalink("telegram:-100123", 5, None, "telegram") == "https://t.me/c/123/5"
    assert permalink("telegram:123", 0, None, "telegram") == ""
    assert permalink("telegram:123", 0, "name", "telegram") == "https://t.me/name"
    assert permalink("discord:123", 5, "name", "discord") == ""


def test_cli(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "db", settings.db_url)
    monkeypatch.setattr(state, "data_dir", settings.data_dir)
    runner = CliRunner()
    refused = runner.invoke(referral_app, ["create", "--recipient", "T", "--out", str(tmp_path)])
    assert refused.exit_code == 2
    (case_id,) = _decide(store, 1)
    created = runner.invoke(
        referral_app, ["create", "--recipient", "T", "--out", str(tmp_path), "--case", case_id]
    )
    assert created.exit_code == 0, created.output
    referral_id = created.stdout.split()[1].rstrip(":")
    item = next(iter(_case_items(store, [case_id])))
    changed = runner.invoke(referral_app, ["status", referral_id, item[1], str(item[2]), "removed"])
    assert changed.exit_code == 0, changed.output
    assert runner.invoke(referral_app, ["status", referral_id, item[1], "1", "x"]).exit_code == 2
    report = runner.invoke(referral_app, ["report", referral_id])
    assert report.exit_code == 0, report.output
    line = json.loads(report.stdout.strip())
    assert line["referral_id"] == referral_id and line["statuses"]["removed"] == 1
