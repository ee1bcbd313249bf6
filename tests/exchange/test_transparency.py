"""The transparency report on a simulated world after `undertow run`: decisions made here are
counted exactly (reviewed, actioned, referred, removed; by category, platform and day), the
period filter holds, and the HTML page is static, self-contained and escapes stored text."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from undertow.cli.common import state
from undertow.cli.report import report_app
from undertow.exchange.transparency import (
    ReportError,
    render_html,
    render_json,
    transparency_report,
)
from undertow.settings import sqlite_url
from undertow.store import Store, open_store, schema
from undertow.triage import audit
from undertow.triage.decisions import decide

FROM, TO = date(2024, 3, 9), date(2024, 3, 12)
HOSTILE = '<script>alert("x")</script>'
Item = tuple[str, int | None]


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


DAY1, DAY2, DAY3 = (
    _at("2024-03-10T12:00:00"),
    _at("2024-03-11T09:00:00"),
    _at("2024-03-12T23:59:59"),
)
OLD = _at("2020-01-01T08:00:00")


@pytest.fixture(scope="module")
def world(analysed_world: Any) -> Path:
    return Path(analysed_world.folder) / "u.db"


@pytest.fixture
def db_path(world: Path, tmp_path: Path) -> Path:
    """A private copy of the analysed store for each test (decisions change it)."""
    copy = tmp_path / "u.db"
    copy.write_bytes(world.read_bytes())
    return copy


@pytest.fixture
def store(db_path: Path) -> Any:
    opened = open_store(sqlite_url(db_path))
    yield opened
    opened.close()


def _decide_at(store: Store, case_id: str, verdict: str, at: int, category: str | None) -> None:
    decision_id = decide(store, case_id, verdict, "alice", category=category).decision_id
    with store.engine.begin() as conn:
        d = schema.decisions
        conn.execute(d.update().where(d.c.id == decision_id).values(at=at))


def _items(store: Store, case_id: str) -> list[Item]:
    c, ci = schema.cases, schema.case_items
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ci.c.channel_id, ci.c.message_id).where(ci.c.case_id == case_id)
        ).all()
        channel = conn.execute(sa.select(c.c.channel_id).where(c.c.case_id == case_id)).scalar()
    return [(r.channel_id, int(r.message_id)) for r in rows] or [(str(channel), None)]


def _case_category(store: Store, case_id: str) -> str:
    c = schema.cases
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(c.c.category).where(c.c.case_id == case_id)).scalar()
    return str(found or "uncategorised")


@pytest.fixture
def decided(store: Store) -> dict[str, str]:
    """Five cases decided on known days: A, B violating and C cleared (re-decided) on day 1,
    channel case D violating on day 2, E violating long before the period."""
    c = schema.cases
    with store.engine.connect() as conn:
        items = conn.execute(
            sa.select(c.c.case_id).where(c.c.kind == "item", c.c.copies >= 2)
            .order_by(c.c.priority.desc(), c.c.case_id).limit(4)
        ).scalars().all()  # fmt: skip
        channel = conn.execute(
            sa.select(c.c.case_id).where(c.c.kind == "channel").order_by(c.c.case_id).limit(1)
        ).scalar()
    assert len(items) == 4 and channel is not None
    cases = dict(zip("ABCE", items, strict=True)) | {"D": str(channel)}
    _decide_at(store, cases["A"], "violating", DAY1, "branded-publication")
    _decide_at(store, cases["B"], "violating", DAY1, "glorification")
    _decide_at(store, cases["C"], "violating", DAY1 - 60, "glorification")
    _decide_at(store, cases["C"], "not_violating", DAY1, None)  # the latest one counts
    _decide_at(store, cases["D"], "violating", DAY2, "allegiance-marker")
    _decide_at(store, cases["E"], "violating", OLD, "graphic-violence")
    return cases


def _channels(items: set[Item]) -> int:
    return len({channel for channel, _ in items})


def test_reviewed_and_actioned_are_counted_exactly(store: Store, decided: dict[str, str]) -> None:
    items = {name: set(_items(store, case_id)) for name, case_id in decided.items()}
    category = {
        "A": "branded-publication", "B": "glorification", "D": "allegiance-marker",
        "C": _case_category(store, decided["C"]),
    }  # fmt: skip
    reviewed = items["A"] | items["B"] | items["C"] | items["D"]
    actioned = items["A"] | items["B"] | items["D"]
    report = transparency_report(store, FROM, TO)
    totals = report["totals"]
    assert totals["reviewed"] == {"items": len(reviewed), "channels": _channels(reviewed)}
    assert totals["actioned"] == {"items": len(actioned), "channels": _channels(actioned)}
    assert totals["referred"] == totals["removed"] == {"items": 0, "channels": 0}
    assert len(items["D"]) == 1  # a channel case with no items counts as one

    by_category: dict[str, dict[str, set[Item]]] = defaultdict(lambda: defaultdict(set))
    for name in "ABCD":
        by_category[category[name]]["reviewed"] |= items[name]
        if name != "C":
            by_category[category[name]]["actioned"] |= items[name]
    assert set(report["by_category"]) == set(by_category)
    for name, expected in by_category.items():
        for measure in ("reviewed", "actioned"):
            assert report["by_category"][name][measure]["items"] == len(expected[measure])
            assert report["by_category"][name][measure]["channels"] == _channels(expected[measure])

    assert set(report["by_platform"]) == {"telegram"}
    assert report["by_platform"]["telegram"]["reviewed"] == totals["reviewed"]
    assert report["by_platform"]["telegram"]["actioned"] == totals["actioned"]

    days = report["by_day"]
    assert list(days) == ["2024-03-09", "2024-03-10", "2024-03-11", "2024-03-12"]
    day1 = items["A"] | items["B"] | items["C"]
    assert days["2024-03-10"]["reviewed"]["items"] == len(day1)
    assert days["2024-03-10"]["actioned"]["items"] == len(items["A"] | items["B"])
    assert days["2024-03-11"]["reviewed"] == days["2024-03-11"]["actioned"] == {
        "items": 1, "channels": 1,
    }  # fmt: skip
    for empty in ("2024-03-09", "2024-03-12"):
        assert all(v == {"items": 0, "channels": 0} for v in days[empty].values())
    assert report["period"] == {"from": "2024-03-09", "to": "2024-03-12", "days": 4,
                                "timezone": "UTC"}  # fmt: skip


def test_the_period_filter_excludes_other_decisions(store: Store, decided: dict[str, str]) -> None:
    old = set(_items(store, decided["E"]))
    inside = transparency_report(store, FROM, TO)
    assert "graphic-violence" not in inside["by_category"]
    then = transparency_report(store, date(2020, 1, 1), date(2020, 1, 1))
    assert then["totals"]["reviewed"]["items"] == then["totals"]["actioned"]["items"] == len(old)
    assert set(then["by_category"]) == {"graphic-violence"}
    # A decision on the period's last second is in; one day later the window is empty.
    with store.engine.begin() as conn:
        d = schema.decisions
        conn.execute(d.update().where(d.c.case_id == decided["E"]).values(at=DAY3))
    assert "graphic-violence" in transparency_report(store, FROM, TO)["by_category"]
    later = transparency_report(store, date(2024, 3, 13), date(2024, 3, 13))
    assert later["totals"]["reviewed"] == {"items": 0, "channels": 0}
    with pytest.raises(ReportError):
        transparency_report(store, TO, FROM)


def _refer(
    store: Store, referral_id: str, created: int, rows: list[tuple[Item, str, str, int]]
) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            schema.referrals.insert().values(
                referral_id=referral_id, recipient="platform", created_at=created,
                created_by="alice", cases=1, items=len(rows), package="{}",
            )
        )  # fmt: skip
        for (channel_id, message_id), case_id, status, status_at in rows:
            conn.execute(
                schema.referral_items.insert().values(
                    referral_id=referral_id, channel_id=channel_id, message_id=message_id,
                    case_id=case_id, status=status, status_at=status_at,
                )
            )  # fmt: skip


def test_referred_and_removed(store: Store, decided: dict[str, str]) -> None:
    a = sorted(_items(store, decided["A"]))
    b = sorted(_items(store, decided["B"]))
    _refer(store, "r1", DAY2, [(a[0], decided["A"], "removed", DAY2 + 3600),
                               (a[1], decided["A"], "sent", DAY2)])  # fmt: skip
    _refer(store, "r0", OLD, [(b[0], decided["B"], "removed", DAY3)])  # referred long ago
    report = transparency_report(store, FROM, TO)
    assert report["totals"]["referred"]["items"] == 2
    assert report["totals"]["removed"]["items"] == 2
    assert report["by_category"]["branded-publication"]["referred"]["items"] == 2
    assert report["by_category"]["branded-publication"]["removed"]["items"] == 1
    assert report["by_category"]["glorification"]["removed"]["items"] == 1
    assert report["by_platform"]["telegram"]["removed"]["items"] == 2
    assert report["by_day"]["2024-03-11"]["referred"]["items"] == 2
    assert report["by_day"]["2024-03-11"]["removed"]["items"] == 1
    assert report["by_day"]["2024-03-12"]["removed"]["items"] == 1


def test_html_is_static_and_shows_the_figures(store: Store, decided: dict[str, str]) -> None:
    report = transparency_report(store, FROM, TO)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    for measure in ("reviewed", "actioned"):
        counts = report["totals"][measure]
        assert (
            f'<th scope="row">{measure.capitalize()}</th><td class="n">{counts["items"]}</td>'
            f'<td class="n">{counts["channels"]}</td>'
        ) in page
    assert "2024-03-11: items actioned: 1" in page  # each bar carries its figure as a title
    assert "branded-publication" in page and "Reviewed (all verdicts)" in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:|//)""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert json.loads(render_json(report))["totals"] == report["totals"]


def test_hostile_text_is_escaped(store: Store, decided: dict[str, str]) -> None:
    with store.engine.begin() as conn:
        d, c, ch = schema.decisions, schema.cases, schema.channels
        conn.execute(d.update().where(d.c.case_id == decided["B"]).values(category=HOSTILE))
        channel = conn.execute(
            sa.select(c.c.channel_id).where(c.c.case_id == decided["D"])
        ).scalar()
        conn.execute(
            ch.update().where(ch.c.channel_id == channel).values(title=HOSTILE, platform=HOSTILE)
        )
    report = transparency_report(store, FROM, TO)
    assert HOSTILE in report["by_category"] and HOSTILE in report["by_platform"]
    page = render_html(report)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_cli_writes_the_report_and_audits_it(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decided: dict[str, str]
) -> None:
    monkeypatch.setattr(state, "db", sqlite_url(db_path))
    app = typer.Typer()
    app.add_typer(report_app, name="report")
    runner = CliRunner()
    out = tmp_path / "report.html"
    args = ["report", "transparency", "--from", "2024-03-09", "--to", "2024-03-12"]
    result = runner.invoke(app, [*args, "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "<svg" in out.read_text(encoding="utf-8")
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["period"]["days"] == 4
    store = open_store(sqlite_url(db_path))
    try:
        with store.engine.connect() as conn:
            exports = [e for e in audit.entries(conn) if e.action == "export"]
    finally:
        store.close()
    assert [e.target for e in exports] == ["transparency", "transparency"]
    assert exports[0].details["to"] == str(out) and exports[1].details["format"] == "json"
    for bad in (["--from", "2024-13-01", "--to", "2024-03-12"],
                ["--from", "2024-03-12", "--to", "2024-03-09"]):  # fmt: skip
        failed = runner.invoke(app, ["report", "transparency", *bad])
        assert failed.exit_code == 2 and "error" in failed.stderr
    assert runner.invoke(app, [*args, "--format", "pdf"]).exit_code == 2
