"""`undertow rules ...`, `undertow run` producing text signals, and `undertow export links`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from undertow.cli import app

from export_builder import chat, message, write_export

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(
        app, list(args), env={"UNDERTOW_PSEUDONYM_KEY": "11" * 32, **(env or {})}
    )
    return result.exit_code, result.stdout, result.stderr


def test_rules_list_check_and_match(tmp_path: Path) -> None:
    code, out, _ = invoke("--db", f"sqlite:///{tmp_path / 'u.db'}", "rules", "list")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert any(row["id"] == "is.outlet.amaq" for row in rows)
    code, out, _ = invoke("--db", f"sqlite:///{tmp_path / 'u.db'}", "rules", "check")
    assert code == 0 and "islamic-state" in out
    code, out, _ = invoke(
        "--db", f"sqlite:///{tmp_path / 'u.db'}", "rules", "match", "Vіa N.a.s.h.i.r"
    )
    (hit,) = [json.loads(line) for line in out.splitlines()]
    assert hit["rule"] == "is.distributor.nashir" and hit["matched"] == "N.a.s.h.i.r"


def test_a_bad_rule_pack_stops_run_with_a_clear_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mine.yaml").write_text("pack: mine\nrules:\n  - id: x\n    severity: huge\n")
    db = f"sqlite:///{tmp_path / 'u.db'}"
    code, _, err = invoke("--db", db, "rules", "check", str(rules))
    assert code == 1 and "mine.yaml: rule 1 (x)" in err
    code, _, err = invoke("--db", db, "run", env={"UNDERTOW_RULES": str(rules)})
    assert code == 1 and "mine.yaml" in err


def test_run_then_export_links(tmp_path: Path) -> None:
    export = write_export(
        tmp_path / "exports" / "c",
        chat(
            [
                message(1, "Backup: t.me/s/Example_Backup and https://tamtam.chat/room42"),
                message(2, "Matrix: https://matrix.to/#/#news:example.org"),
            ],
            name="Notes",
        ),
    )
    db = f"sqlite:///{tmp_path / 'u.db'}"
    assert invoke("--db", db, "ingest", str(export))[0] == 0
    code, out, _ = invoke("--db", db, "run", "--workers", "1")
    assert code == 0 and "analysed 2 message(s)" in out
    code, out, _ = invoke("--db", db, "export", "links")
    rows = [json.loads(line) for line in out.splitlines()]
    got = {(row["message_id"], row["platform"], row["normalized_url"]) for row in rows}
    assert (1, "telegram", "https://t.me/example_backup") in got
    assert (1, "tamtam", "https://tt.me/room42") in got  # tamtam.chat and tt.me are one
    assert any(m == 2 and p == "matrix" for m, p, _ in got)


def test_network_exports_from_the_command_line(tmp_path: Path) -> None:
    import networkx as nx

    db = f"sqlite:///{tmp_path / 'u.db'}"
    assert invoke("--db", db, "simulate", str(tmp_path / "w"), "--seed", "4")[0] == 0
    assert invoke("--db", db, "ingest", str(tmp_path / "w" / "exports"))[0] == 0
    code, out, _ = invoke("--db", db, "run", "--workers", "1")
    assert code == 0 and "mirror relation(s)" in out
    for kind in ("mirrors", "rebrands", "migrations", "migration-counts", "lineages"):
        code, out, _ = invoke("--db", db, "export", kind)
        assert code == 0 and out.strip(), kind
        json.loads(out.splitlines()[0])
    graph = tmp_path / "g.graphml"
    code, _, _ = invoke("--db", db, "export", "graph", "--format", "graphml", "--out", str(graph))
    assert code == 0 and nx.read_graphml(graph).number_of_edges() > 10
    code, _, err = invoke("--db", db, "export", "graph", "--format", "dot")
    assert code == 2 and "unknown format" in err

    truth = json.loads((tmp_path / "w" / "truth.json").read_text())
    outlet = next(c["channel_id"] for c in truth["channels"] if c["role"] == "outlet")
    code, out, _ = invoke("--db", db, "profile", outlet)
    found = json.loads(out)
    assert code == 0 and found["carried_by"] and found["titles"] and found["activity"]
    assert found["signals"]["propaganda"]["count"] > 10
    code, _, err = invoke("--db", db, "profile", "telegram:0")
    assert code == 1 and "no channel" in err
