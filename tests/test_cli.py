"""The command line as a user types it: global options first, stable names and fields."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from undertow import __version__
from undertow.cli import app

from export_builder import chat, message, service, write_export

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(
        app, list(args), env={"UNDERTOW_PSEUDONYM_KEY": "11" * 32, **(env or {})}
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "exports" / "chan"
    (folder / "photos").mkdir(parents=True)
    (folder / "photos" / "a.jpg").write_bytes(b"jpeg-ish bytes")
    write_export(
        folder,
        chat(
            [
                service(1, "create_channel", title="Old Name"),
                message(
                    2,
                    [
                        "post ",
                        {"type": "hashtag", "text": "#Amaq"},
                        " ",
                        {"type": "link", "text": "https://matrix.to/#/#room:example.org"},
                    ],
                    photo="photos/a.jpg",
                ),
                message(3, "a forward", forwarded_from="Amaq Agency"),
                service(4, "edit_group_title", title="New Name"),
            ],
            name="New Name",
            chat_id=4242,
        ),
    )
    return tmp_path / "exports"


def test_version() -> None:
    code, out, _ = invoke("--version")
    assert code == 0 and out.strip() == f"undertow {__version__}"


def test_ingest_then_export_channels_and_messages(tmp_path: Path, export: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    code, _, err = invoke("--db", db, "ingest", str(export))
    assert code == 0, err
    assert "1 chat(s), 4 message(s), 1 media file(s) stored" in err

    code, out, _ = invoke("--db", db, "export", "channels", "--format", "jsonl")
    assert code == 0
    (channel,) = [json.loads(line) for line in out.splitlines()]
    assert channel["channel_id"] == "telegram:4242"
    assert channel["title"] == "New Name"
    assert [t["title"] for t in channel["titles"]] == ["Old Name", "New Name", "New Name"]
    assert channel["messages"] == 4 and channel["kind"] == "channel"

    out_file = tmp_path / "messages.jsonl"
    code, _, _ = invoke(
        "--db", db, "export", "messages", "--format", "jsonl", "--out", str(out_file)
    )
    assert code == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    post = next(r for r in rows if r["message_id"] == 2)
    assert post["date"].endswith("Z") and post["date"].startswith("2020-09-13T")
    assert post["hashtags"] == ["#Amaq"]
    assert post["links"] == ["https://matrix.to/#/#room:example.org"]
    assert post["media"][0]["sha256"] and post["media"][0]["status"] == "stored"
    assert next(r for r in rows if r["message_id"] == 3)["forwarded_from"] == "Amaq Agency"
    assert next(r for r in rows if r["message_id"] == 4)["service_action"] == "edit_group_title"

    code, out, _ = invoke("--db", db, "export", "messages", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert {
        "channel_id",
        "message_id",
        "date",
        "text",
        "forwarded_from",
        "links",
        "hashtags",
        "media",
        "service_action",
    } <= set(table[0])
    assert json.loads(table[1]["hashtags"]) == ["#Amaq"]


def test_ingest_reads_the_db_from_the_environment(tmp_path: Path, export: Path) -> None:
    db = f"sqlite:///{tmp_path / 'env.db'}"
    code, _, _ = invoke("ingest", str(export), env={"UNDERTOW_DB": db})
    assert code == 0
    assert (tmp_path / "env.db").exists()
    assert (tmp_path / "undertow-data" / "evidence").is_dir()


def test_bad_file_exits_non_zero_with_a_clear_message(tmp_path: Path, export: Path) -> None:
    bad = tmp_path / "bad" / "result.json"
    bad.parent.mkdir()
    bad.write_text(
        '{"name": "x", "messages": [{"id": 1, "date_unixtime": "1", "text": "ok"}, {"id": 2,'
    )
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    code, _, err = invoke("--db", db, "ingest", str(export), str(bad))
    assert code == 1
    assert str(bad) in err and "messages[1]" in err and "nothing from this file was stored" in err
    code, out, _ = invoke("--db", db, "export", "channels")
    assert code == 0 and len(out.splitlines()) == 1


def test_usage_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    code, _, err = invoke("--db", db, "ingest", str(tmp_path / "nowhere"))
    assert code == 2 and "no such file" in err
    code, _, err = invoke("--db", db, "export", "channels", "--format", "xml")
    assert code == 2 and "unknown format" in err
    code, _, err = invoke("--db", "nosuchdb://x", "export", "channels")
    assert code == 2 and "cannot open store" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = invoke("--db", db, "ingest", str(empty))
    assert code == 1 and "no Telegram export files found" in err


def test_simulate_rejects_bad_arguments(tmp_path: Path) -> None:
    code, _, err = invoke("simulate", str(tmp_path / "w"), "--scale", "0")
    assert code == 2 and "scale" in err


def test_demo_runs_end_to_end_as_a_user_types_it(tmp_path: Path) -> None:
    """The README's first command ends in `undertow demo`: run the real console script."""
    undertow = Path(sys.executable).with_name("undertow")
    result = subprocess.run(
        [str(undertow), "demo", "--workdir", str(tmp_path / "demo"), "--no-serve"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "What is in the store" in result.stdout
    assert "Amaq" in result.stdout
    assert "hash bank:" in result.stdout and "found only by PDQ" in result.stdout
    assert "propaganda" in result.stdout and "network around" in result.stdout
    assert "rebrand: sleeper" in result.stdout and "lineage:" in result.stdout
    assert (tmp_path / "demo" / "world" / "truth.json").exists()
    _, out, _ = invoke(
        "--db", f"sqlite:///{tmp_path / 'demo' / 'undertow.db'}", "export", "channels"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) >= 20
    assert sum(r["messages"] for r in rows) > 2000


def test_hash_prints_one_json_object_per_file(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (128, 128), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 90, 70), fill="navy")
    ImageDraw.Draw(image).ellipse((40, 50, 120, 120), fill="orange")
    picture = tmp_path / "p.png"
    image.save(picture)
    other = tmp_path / "notes.txt"
    other.write_text("just text")
    code, out, err = invoke("hash", str(picture), str(other), str(tmp_path / "missing.jpg"))
    assert code == 1 and "missing.jpg" in err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["kind"] == "image" and len(first["pdq"]) == 64 and first["pdq_quality"] >= 50
    assert len(first["sha256"]) == 64 and len(first["md5"]) == 32
    assert second["kind"] == "other" and second["pdq"] is None


def test_bank_run_and_signal_export_as_a_user_types_them(tmp_path: Path, export: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert invoke("--db", db, "ingest", str(export))[0] == 0
    photo = export / "chan" / "photos" / "a.jpg"
    from PIL import Image, ImageDraw

    image = Image.linear_gradient("L").resize((160, 160)).convert("RGB")
    ImageDraw.Draw(image).ellipse((30, 40, 120, 110), fill="red")
    image.save(photo, "JPEG")  # the export's photo, now a real picture
    db2 = f"sqlite:///{tmp_path / 'cli2.db'}"
    assert invoke("--db", db2, "ingest", str(export))[0] == 0

    code, _, err = invoke(
        "--db",
        db2,
        "bank",
        "create",
        "partner",
        "--category",
        "terrorist_content",
        "--licence",
        "CC0",
    )
    assert code == 0 and "created bank partner" in err
    code, _, err = invoke("--db", db2, "bank", "create", "partner")
    assert code == 2 and "exists already" in err
    code, _, err = invoke("--db", db2, "bank", "add", "partner", str(photo))
    assert code == 0 and "3 new entr" in err

    exported = tmp_path / "partner.txt"
    code, _, _ = invoke(
        "--db", db2, "bank", "export", "partner", "--format", "tx", "--out", str(exported)
    )
    lines = exported.read_text().splitlines()
    assert code == 0 and {line.split()[0] for line in lines} == {"pdq", "video_md5", "sha256"}
    assert invoke("--db", db2, "bank", "create", "copy")[0] == 0
    code, _, err = invoke("--db", db2, "bank", "import", "copy", str(exported), "--format", "tx")
    assert code == 0 and "3 new entr" in err
    code, out, _ = invoke("--db", db2, "bank", "list")
    banks = [json.loads(line) for line in out.splitlines()]
    assert [(b["name"], b["entries"]) for b in banks] == [("copy", 3), ("partner", 3)]

    code, out, _ = invoke("--db", db2, "run", "--workers", "1")
    assert code == 0 and "hashed 1 media file(s)" in out and "2 hash-bank signal(s)" in out
    code, out, _ = invoke("--db", db2, "export", "signals", "--format", "jsonl")
    signals = [json.loads(line) for line in out.splitlines()]
    signals = [s for s in signals if s["detector"] == "hashmatch"]
    assert {s["explanation"]["bank"] for s in signals} == {"partner", "copy"}
    for signal in signals:
        assert signal["target"] == {
            "kind": "media",
            "channel_id": "telegram:4242",
            "message_id": 2,
            "sha256": signal["target"]["sha256"],
        }
        assert signal["detector"] == "hashmatch" and signal["score"] == 1.0
    code, _, err = invoke("--db", db2, "bank", "disable", "copy")
    assert code == 0 and "disabled bank copy" in err
    _, out, _ = invoke("--db", db2, "bank", "list")
    assert [b["enabled"] for b in map(json.loads, out.splitlines())] == [False, True]
    assert invoke("--db", db2, "bank", "enable", "nope")[0] == 2
    code, _, err = invoke("--db", db2, "bank", "import", "copy", str(tmp_path / "absent.txt"))
    assert code == 2 and "absent.txt: cannot read" in err
