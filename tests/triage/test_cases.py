"""Cases on a simulated world after `undertow run`: copies grouped under one case, priorities,
decisions that cover every copy and feed back, suppression.  Checked against the truth."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from undertow.settings import sqlite_url
from undertow.store import Store, open_store, schema
from undertow.triage import audit
from undertow.triage.cases import build_cases
from undertow.triage.decisions import CONFIRMED_BANK, DecisionError, decide


@pytest.fixture(scope="module")
def world(analysed_world: Any) -> Any:
    return analysed_world.folder, None, analysed_world.report


@pytest.fixture
def store(world: Any, tmp_path: Path) -> Any:
    """A private copy of the analysed store for each test (decisions change it)."""
    folder = world[0]
    copy = tmp_path / "u.db"
    copy.write_bytes((folder / "u.db").read_bytes())
    opened = open_store(sqlite_url(copy))
    yield opened
    opened.close()


def _items(store: Store) -> dict[tuple[str, int], str]:
    with store.engine.connect() as conn:
        return {
            (row.channel_id, int(row.message_id)): row.case_id
            for row in conn.execute(sa.select(schema.case_items))
        }


def _truth(world: Any) -> list[dict[str, Any]]:
    folder = world[0]
    lines = (folder / "world" / "truth_messages.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_copies_of_one_post_share_one_case(world: Any, store: Store) -> None:
    items = _items(store)
    copies: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
    for record in _truth(world):
        origin = record["origin"]
        if origin and record["method"] == "copy":
            copies[(origin["channel_id"], origin["message_id"])].append(
                (record["channel_id"], record["message_id"])
            )
    checked = together = 0
    for original, copied in copies.items():
        in_cases = [items[k] for k in [original, *copied] if k in items]
        if len(in_cases) >= 2:
            checked += 1
            together += len(set(in_cases)) == 1
    assert checked >= 20
    assert together >= 0.9 * checked
    # And a case rarely lumps different posts together (chains of near-duplicates).
    origin = {
        (r["channel_id"], r["message_id"]): (
            (r["origin"]["channel_id"], r["origin"]["message_id"]) if r["origin"]
            else (r["channel_id"], r["message_id"])
        )
        for r in _truth(world)
    }  # fmt: skip
    origins: dict[str, set[Any]] = defaultdict(set)
    for key, case_id in items.items():
        origins[case_id].add(origin.get(key))
    mixed = sum(len(found) > 1 for found in origins.values())
    assert mixed <= 0.02 * len(origins)


def test_grouping_saves_decisions_and_the_queue_is_ordered(world: Any, store: Store) -> None:
    report = world[2].cases
    assert report.item_cases > 0 and report.channel_cases > 0
    assert report.decisions_saved >= report.item_cases  # at least 2 messages per case
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.cases).order_by(schema.cases.c.priority.desc())).all()
    assert all(0 <= r.priority <= 100 and r.reasons for r in rows)
    assert {r.status for r in rows} == {"open"}
    top = rows[0]
    assert top.copies >= 2 or top.kind == "channel"


def test_a_decision_covers_every_copy_and_feeds_back(store: Store) -> None:
    with store.engine.connect() as conn:
        case = conn.execute(
            sa.select(schema.cases)
            .where(schema.cases.c.kind == "item", schema.cases.c.copies >= 3)
            .order_by(schema.cases.c.priority.desc())
        ).first()
    assert case is not None
    result = decide(store, case.case_id, "violating", "alice", category="branded-publication")
    assert result.items == case.copies and result.training_examples >= 1
    build_cases(store)  # rebuilding keeps the decision
    with store.engine.connect() as conn:
        status = conn.execute(
            sa.select(schema.cases.c.status).where(schema.cases.c.case_id == case.case_id)
        ).scalar()
        examples = conn.execute(sa.select(schema.training_examples.c.label)).scalars().all()
        logged = [e for e in audit.entries(conn) if e.action == "decision"]
        banks = conn.execute(sa.select(schema.banks.c.name)).scalars().all()
    assert status == "decided"
    assert examples and all(examples)
    assert logged and logged[-1].target == case.case_id and logged[-1].actor == "alice"
    if result.bank_entries:
        assert CONFIRMED_BANK in banks


def test_not_violating_suppresses_the_items(store: Store) -> None:
    with store.engine.connect() as conn:
        first, second = (
            conn.execute(
                sa.select(schema.cases.c.case_id)
                .where(schema.cases.c.kind == "item")
                .order_by(schema.cases.c.priority)
                .limit(2)
            )
            .scalars()
            .all()
        )
    result = decide(store, first, "not_violating", "bob")
    assert result.suppressed >= 1
    # An item cleared before turns up in another case's group: that case is suppressed.
    with store.engine.begin() as conn:
        item = conn.execute(
            sa.select(schema.case_items).where(schema.case_items.c.case_id == second)
        ).first()
        conn.execute(
            schema.suppressions.insert().values(
                channel_id=item.channel_id, message_id=item.message_id,
                decision_id=result.decision_id,
            )
        )  # fmt: skip
    report = build_cases(store)
    assert report.suppressed >= 1
    with store.engine.connect() as conn:
        status = conn.execute(
            sa.select(schema.cases.c.status).where(schema.cases.c.case_id == second)
        ).scalar()
        examples = conn.execute(sa.select(schema.training_examples.c.label)).scalars().all()
    assert status == "suppressed" and examples and not any(examples)


def test_escalation_stays_in_the_queue_and_bad_input_is_refused(store: Store) -> None:
    with store.engine.connect() as conn:
        case_id = conn.execute(sa.select(schema.cases.c.case_id).limit(1)).scalar()
    decide(store, case_id, "escalate", "carol", note="needs a second look")
    with store.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(schema.cases.c.status).where(schema.cases.c.case_id == case_id)
            ).scalar()
            == "escalated"
        )
    with pytest.raises(DecisionError, match="verdict"):
        decide(store, case_id, "maybe", "carol")
    with pytest.raises(DecisionError, match="category"):
        decide(store, case_id, "violating", "carol", category="not-a-category")
    with pytest.raises(DecisionError, match="no case"):
        decide(store, "item:none:1", "violating", "carol")


def test_a_channel_decision_can_cover_its_lineage(store: Store) -> None:
    with store.engine.begin() as conn:
        lineage = max(conn.execute(sa.select(schema.lineages.c.channels)).scalars().all(), key=len)
        assert len(lineage) >= 2
        existing = set(conn.execute(sa.select(schema.cases.c.case_id)).scalars().all())
        for channel in lineage:
            if f"channel:{channel}" not in existing:
                conn.execute(schema.cases.insert().values(
                    case_id=f"channel:{channel}", kind="channel", channel_id=channel,
                    priority=50.0, confidence=0.5, severity=0.5, reasons=["test"], signals=0,
                    copies=0, channels=1, status="open", updated_at=0,
                ))  # fmt: skip
    first, *others = lineage
    result = decide(store, f"channel:{first}", "violating", "dana", cover_lineage=True)
    assert set(result.covered_cases) == {f"channel:{c}" for c in others}
    with store.engine.connect() as conn:
        statuses = (
            conn.execute(
                sa.select(schema.cases.c.status).where(
                    schema.cases.c.case_id.in_([f"channel:{c}" for c in lineage])
                )
            )
            .scalars()
            .all()
        )
        notes = conn.execute(sa.select(schema.decisions.c.note)).scalars().all()
    assert set(statuses) == {"decided"}
    assert sum("same lineage" in (n or "") for n in notes) == len(others)


def test_an_account_with_signalled_posts_in_groups_gets_a_case(store: Store) -> None:
    with store.engine.begin() as conn:
        posts = conn.execute(
            sa.select(schema.messages.c.channel_id, schema.messages.c.message_id,
                      schema.messages.c.author)
            .join(schema.channels, schema.channels.c.channel_id == schema.messages.c.channel_id)
            .where(schema.channels.c.kind != "channel", schema.messages.c.author.is_not(None))
            .order_by(schema.messages.c.author, schema.messages.c.message_id)
        ).all()  # fmt: skip
        by_author: dict[str, list[Any]] = {}
        for post in posts:
            by_author.setdefault(post.author, []).append(post)
        # the pseudonym key is random per store, so pick by count, not by name order
        author, mine = next((a, p[:2]) for a, p in by_author.items() if len(p) >= 2)
        for number, post in enumerate(mine):
            conn.execute(schema.signals.insert().values(
                detector="indicators", detector_version="1", key=f"test:{number}",
                target_kind="message", channel_id=post.channel_id, message_id=post.message_id,
                score=0.9, category="glorification", explanation={"rule": "test"}, created_at=0,
            ))  # fmt: skip
    report = build_cases(store)
    assert report.account_cases == 1
    with store.engine.connect() as conn:
        case = conn.execute(
            sa.select(schema.cases).where(schema.cases.c.case_id == f"account:{author}")
        ).one()
    assert case.kind == "account" and "2 signalled messages" in case.reasons[-1]


def test_decided_texts_export_as_labelled_training_data(store: Store, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from undertow.cli import app
    from undertow.exchange.labelled import Columns, read_labelled

    with store.engine.connect() as conn:
        first, second = (
            conn.execute(
                sa.select(schema.cases.c.case_id).where(schema.cases.c.kind == "item").limit(2)
            )
            .scalars()
            .all()
        )
    decide(store, first, "violating", "erin", category="branded-publication")
    decide(store, second, "not_violating", "erin")
    out = tmp_path / "examples.jsonl"
    result = CliRunner().invoke(
        app, ["--db", str(store.url), "--data-dir", str(tmp_path / "d"), "model", "examples",
              "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = read_labelled([out], Columns(group="group", subset="subset"))
    assert any(data.labels) and not all(data.labels)
    assert "branded-publication" in data.subsets and "cleared" in data.subsets


def test_the_cases_cli_lists_shows_and_decides(store: Store, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from undertow.cli import app

    base = ["--db", str(store.url), "--data-dir", str(tmp_path / "d"), "cases"]
    runner = CliRunner()
    listed = runner.invoke(app, [*base, "list", "--limit", "5"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert listed.exit_code == 0 and len(rows) == 5
    assert [r["priority"] for r in rows] == sorted((r["priority"] for r in rows), reverse=True)
    shown = runner.invoke(app, [*base, "show", rows[0]["case_id"]])
    case = json.loads(shown.stdout)
    assert shown.exit_code == 0 and len(case["items"]) == rows[0]["copies"]
    decided = runner.invoke(app, [*base, "decide", rows[0]["case_id"], "--verdict", "escalate"])
    assert decided.exit_code == 0 and "decision" in decided.stdout
    assert runner.invoke(app, [*base, "show", "item:none:1"]).exit_code == 1
    with store.engine.connect() as conn:
        assert [e.action for e in audit.entries(conn)][-2:] == ["case.view", "decision"]
