"""`undertow model train|evaluate|info` as a user types them, on made-up CSV and JSONL files,
including truncated, malformed and hostile ones."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from undertow.cli.model import model_app
from undertow.enrich.classifier import ModelError
from undertow.exchange.labelled import Columns, read_labelled

runner = CliRunner()
app = typer.Typer()
app.add_typer(model_app, name="model")


@app.callback()
def main() -> None:
    """Stand-in for the `undertow` group, so that `model` stays a subcommand."""


WORDS = ("market", "bridge", "river", "report", "weather", "village", "council", "harvest")


def rows(count: int = 160, seed: int = 2) -> list[dict[str, str]]:
    """Made-up labelled rows: brand-marker posts against news sentences quoting the brands."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        body = " ".join(rng.choice(WORDS) for _ in range(6))
        brand = rng.choice(("Amaq", "Nashir", "Dawlah"))
        positive = index % 2 == 0
        text = (
            f"{brand}: {body} #KhilafahNews"
            if positive
            else f"Analysts say {brand} outlets claimed the {body}"
        )
        out.append(
            {
                "text": text,
                "label": "propaganda" if positive else "other",
                "flag": "1" if positive else "0",
                "author": f"{'p' if positive else 'n'}{index % 20}",
                "source": "outlet" if positive else rng.choice(("news", "research")),
            }
        )
    return out


def write_csv(path: Path, data: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    return path


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


FAST = ("--bits", "16", "--folds", "3")


def test_train_info_and_evaluate_end_to_end(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "data.csv", rows())
    model = tmp_path / "mine.utm"
    code, out, err = invoke(
        "model", "train", data, "--out", model, "--label-column", "flag",
        "--group-column", "author", "--subset-column", "source", *FAST,
    )  # fmt: skip
    assert code == 0, err
    assert model.is_file() and f"wrote {model}" in out and "recall" in out

    code, out, _ = invoke("model", "info", model)
    assert code == 0
    assert "undertow-text-model version 1" in out and "160 rows (80 positive)" in out
    assert "threshold:" in out and "false-positive rate on news" in out
    code, out, _ = invoke("model", "info", model, "--json")
    meta = json.loads(out)
    assert meta["training_data"]["files"][0]["path"] == "data.csv"
    assert len(meta["training_data"]["files"][0]["sha256"]) == 64

    code, out, _ = invoke(
        "model", "evaluate", data, "--model", model, "--label-column", "flag",
        "--subset-column", "source",
    )  # fmt: skip
    assert code == 0
    assert "precision" in out and "roc_auc" in out and "false-positive rate on research" in out

    code, out, _ = invoke("model", "info")
    assert code == 0 and "built-in default" in out and "synthetic" in out


def test_grouped_cross_validation_with_named_labels_from_jsonl(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows()), encoding="utf-8")
    code, out, err = invoke(
        "model", "evaluate", data, "--positive", "propaganda", "--negative", "other",
        "--group-column", "author", "--subset-column", "source", "--max-fpr", "news=0.05",
        "--json", *FAST,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert len(report["folds"]) == 3 and report["metrics"]["rows"] == 160
    assert set(report["metrics"]["fpr_by_subset"]) == {"news", "research"}
    assert report["metrics"]["f1"] > 0.9


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"text,label\nhello,1\n", "data.csv:2: no column 'flag'"),
        (b"text,flag\nhello,1\nworld,maybe\n", "data.csv:3: label 'maybe' is not one of"),
        (b"text,flag\nhello,[red]x[/red]\n", "data.csv:2: label '[red]x[/red]' is not one of"),
        (b"text,flag\nhello,1\nw\xffrld,0\n", "data.csv:3: not UTF-8"),
        (b'text,flag\nhello,1\n"unterminated,0\n', "data.csv:3: malformed CSV"),
        (b"text,flag\nhello,1\nworld\n", "data.csv:3: 1 field(s) where the header has 2"),
        (b"text,flag\n" + b'"' + b"x" * 200_000 + b'",1\n', "data.csv:2: malformed CSV"),
        (b"", "data.csv: empty file"),
        (b"text,flag\n", "data.csv: no rows"),
    ],
)
def test_bad_csv_is_refused_naming_file_and_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(content)
    with pytest.raises(ModelError, match=re.escape(message)):
        read_labelled([data], Columns(label="flag"))
    code, _, err = invoke(
        "model", "train", data, "--out", tmp_path / "m.utm", "--label-column", "flag"
    )
    assert code == 1 and "error:" in err and message in err
    assert not (tmp_path / "m.utm").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"text": "a", "label": 1}\n{"text": "b", "lab', "data.jsonl:2: not a JSON object"),
        (b'{"text": "a", "label": 1}\n[1, 2]\n', "data.jsonl:2: not a JSON object"),
        (b'{"text": 5, "label": 1}\n', "data.jsonl:1: 'text' is not a string"),
        (b'\n\n{"label": 1}\n', "data.jsonl:3: no column 'text'"),
    ],
)
def test_bad_jsonl_is_refused_naming_file_and_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    data = tmp_path / "data.jsonl"
    data.write_bytes(content)
    with pytest.raises(ModelError, match=re.escape(message)):
        read_labelled([data], Columns())


def test_hostile_but_valid_rows_are_read(tmp_path: Path) -> None:
    data = rows(40)
    data[0]["text"] = "nul\x00inside"
    data[1]["text"] = "y" * 100_000
    data[2]["text"] = ""
    path = write_csv(tmp_path / "data.csv", data)
    read = read_labelled([path], Columns(label="flag", group="author"))
    assert read.texts[0] == "nul\x00inside" and len(read.texts[1]) == 100_000
    assert read.labels[:2] == [True, False] and read.groups[0] == "p0"
    code, _, err = invoke(
        "model", "train", path, "--out", tmp_path / "m.utm", "--label-column", "flag", *FAST
    )
    assert code == 0, err


def test_unknown_file_type_bad_options_and_bad_model_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("hello")
    code, _, err = invoke("model", "train", tmp_path / "data.txt", "--out", tmp_path / "m")
    assert code == 1 and "unknown file type '.txt'" in err
    data = write_csv(tmp_path / "data.csv", rows(40))
    code, _, err = invoke("model", "train", data, "--out", tmp_path / "m", "--char-ngrams", "x-y")
    assert code == 1 and "--char-ngrams 'x-y'" in err
    code, _, err = invoke(
        "model", "train", data, "--out", tmp_path / "m", "--label-column", "flag",
        "--max-fpr", "nowhere=0.1", *FAST,
    )  # fmt: skip
    assert code == 1 and "nowhere" in err
    (tmp_path / "broken.utm").write_bytes(b"PK\x03\x04 not really")
    code, _, err = invoke("model", "info", tmp_path / "broken.utm")
    assert code == 1 and "broken.utm: not a readable Undertow model file" in err
