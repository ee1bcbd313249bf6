"""`undertow model train|evaluate|info`: train the propaganda text classifier on labelled
CSV or JSON Lines files, measure it, and show what a saved model is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from rich.markup import escape

from undertow.cli.common import err, note
from undertow.enrich.classifier import ModelError, TextModel, default_model
from undertow.enrich.classifier_training import (
    ALL_NEGATIVES,
    binary_metrics,
    cross_validate,
    data_digest,
    train,
)
from undertow.enrich.text_features import FeatureParams
from undertow.exchange.labelled import Columns, LabelledData, read_labelled

model_app = typer.Typer(
    help="The propaganda text classifier: train it on your own data, evaluate it, inspect it.",
    no_args_is_help=True,
)

# --- options shared by train and evaluate ---------------------------------------------------

DataArg = Annotated[list[Path], typer.Argument(help="Labelled .csv or .jsonl files.")]
TextColumn = Annotated[str, typer.Option(help="Column (or JSON key) holding the text.")]
LabelColumn = Annotated[str, typer.Option(help="Column holding the label.")]
GroupColumn = Annotated[
    str | None,
    typer.Option(help="Column naming each row's group (author, event, article): no group is "
                 "split across folds."),
]  # fmt: skip
SubsetColumn = Annotated[
    str | None,
    typer.Option(help="Column naming each row's subset (e.g. a hard-negative source): false-"
                 "positive rates are reported per subset."),
]  # fmt: skip
PositiveOption = Annotated[
    list[str] | None, typer.Option("--positive", help="Label value meaning positive (repeat).")
]
NegativeOption = Annotated[
    list[str] | None, typer.Option("--negative", help="Label value meaning negative (repeat).")
]
SubsetWeightOption = Annotated[
    list[str] | None,
    typer.Option("--subset-weight", help="NAME=WEIGHT: weigh a subset's rows more (repeat)."),
]
MaxFprOption = Annotated[
    list[str] | None,
    typer.Option(
        "--max-fpr",
        help="[SUBSET=]RATE: choose the lowest threshold whose out-of-fold false-positive rate "
        "stays within RATE (on that subset's negatives, or all); default: best F1.",
    ),
]
CharOption = Annotated[str, typer.Option(help="Character n-gram sizes, MIN-MAX.")]
WordOption = Annotated[int, typer.Option(help="Word n-grams up to this size (0: none).")]
BitsOption = Annotated[int, typer.Option(help="Hash the n-grams into 2^BITS features.")]
COption = Annotated[float, typer.Option("--c", help="Inverse regularisation strength.")]
SeedOption = Annotated[int, typer.Option(help="Seed of the fold assignment.")]


def _columns(
    text: str,
    label: str,
    group: str | None,
    subset: str | None,
    positive: list[str] | None,
    negative: list[str] | None,
) -> Columns:
    return Columns(text, label, group, subset, tuple(positive or ()), tuple(negative or ()))


def _pairs(
    values: list[str] | None, option: str, default_key: str | None = None
) -> dict[str, float]:
    result: dict[str, float] = {}
    for value in values or []:
        name, sep, number = value.rpartition("=")
        if not sep:
            name = default_key or ""
        try:
            result[name] = float(number)
        except ValueError:
            _fail(f"{option} {value!r}: expected NAME=NUMBER")
        if not name:
            _fail(f"{option} {value!r}: expected NAME=NUMBER")
    return result


def _train_options(
    char_ngrams: str,
    word_ngrams: int,
    bits: int,
    c: float,
    seed: int,
    subset_weight: list[str] | None,
    max_fpr: list[str] | None,
    columns: Columns,
) -> dict[str, Any]:
    low, _, high = char_ngrams.partition("-")
    try:
        params = FeatureParams(
            char_min=int(low), char_max=int(high or low), word_max=word_ngrams, bits=bits
        )
    except ValueError:
        _fail(f"--char-ngrams {char_ngrams!r}: expected MIN-MAX, e.g. 2-5")
    except ModelError as exc:
        _fail(str(exc))
    labels = (
        columns.negative[0] if columns.negative else "other",
        columns.positive[0] if columns.positive else "propaganda",
    )
    return {
        "params": params,
        "c": c,
        "seed": seed,
        "label_names": labels,
        "subset_weights": _pairs(subset_weight, "--subset-weight"),
        "max_fpr": _pairs(max_fpr, "--max-fpr", ALL_NEGATIVES),
    }


def _fail(message: str) -> NoReturn:
    # Messages quote file contents, which must not be read as Rich markup.
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def _read(paths: list[Path], columns: Columns) -> LabelledData:
    try:
        return read_labelled(paths, columns)
    except ModelError as exc:
        _fail(str(exc))


# --- commands -----------------------------------------------------------------------------


@model_app.command("train")
def model_train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model file.")],
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    group_column: GroupColumn = None,
    subset_column: SubsetColumn = None,
    positive: PositiveOption = None,
    negative: NegativeOption = None,
    subset_weight: SubsetWeightOption = None,
    max_fpr: MaxFprOption = None,
    char_ngrams: CharOption = "2-5",
    word_ngrams: WordOption = 2,
    bits: BitsOption = 20,
    c: COption = 4.0,
    folds: Annotated[
        int, typer.Option(help="Grouped folds for calibration and the threshold.")
    ] = 5,
    seed: SeedOption = 0,
) -> None:
    """Train a model on labelled data and save it (a zip of JSON and .npy; docs/model.md)."""
    columns = _columns(text_column, label_column, group_column, subset_column, positive, negative)
    options = _train_options(
        char_ngrams, word_ngrams, bits, c, seed, subset_weight, max_fpr, columns
    )
    rows = _read(data, columns)
    note(f"training on {len(rows.texts)} row(s), {sum(rows.labels)} positive ...")
    try:
        model = train(
            rows.texts,
            rows.labels,
            groups=rows.groups or None,
            subsets=rows.subsets or None,
            source=rows.source(),
            calibration_folds=folds,
            **options,
        )
        model.save(out)
    except ModelError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{out}: cannot write: {exc.strerror or exc}")
    metrics = model.metadata["metrics"]
    typer.echo(f"wrote {out}")
    typer.echo(f"threshold {model.threshold:.4f} ({model.metadata['threshold']['rule']})")
    typer.echo(f"out-of-fold: {_summary(metrics)}")


@model_app.command("evaluate")
def model_evaluate(
    data: DataArg,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Evaluate this saved model; without it, cross-validate training on the data.",
        ),
    ] = None,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    group_column: GroupColumn = None,
    subset_column: SubsetColumn = None,
    positive: PositiveOption = None,
    negative: NegativeOption = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    threshold: Annotated[
        float | None,
        typer.Option(help="With --model: decision threshold instead of the model's own."),
    ] = None,
    subset_weight: SubsetWeightOption = None,
    max_fpr: MaxFprOption = None,
    char_ngrams: CharOption = "2-5",
    word_ngrams: WordOption = 2,
    bits: BitsOption = 20,
    c: COption = 4.0,
    seed: SeedOption = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Precision, recall, F1, ROC AUC and false-positive rates: of a saved model on labelled
    data, or of grouped cross-validation (no group in both training and test folds)."""
    columns = _columns(text_column, label_column, group_column, subset_column, positive, negative)
    options = _train_options(
        char_ngrams, word_ngrams, bits, c, seed, subset_weight, max_fpr, columns
    )
    rows = _read(data, columns)
    y = np.asarray(rows.labels, dtype=bool)
    subsets = np.asarray(rows.subsets, dtype=str) if rows.subsets else None
    report: dict[str, Any] = {"rows": len(y), "sha256": data_digest(rows.texts, y)}
    try:
        if model_path is not None:
            model = TextModel.load(model_path)
            cut = model.threshold if threshold is None else threshold
            probabilities = model.predict_proba(rows.texts)
            report |= {"model": str(model_path), "threshold": cut}
            report["metrics"] = binary_metrics(y, probabilities, cut, subsets)
        else:
            result = cross_validate(
                rows.texts,
                y,
                groups=rows.groups or None,
                subsets=rows.subsets or None,
                folds=folds,
                on_fold=lambda n: note(f"fold {n + 1}/{folds} done"),
                **options,
            )
            report |= {"folds": result.per_fold, "metrics": result.pooled}
    except ModelError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for number, metrics in enumerate(report.get("folds", []), start=1):
        typer.echo(f"fold {number}: {_summary(metrics)}")
    label = "pooled" if "folds" in report else f"at threshold {report['threshold']:.4f}"
    typer.echo(f"{label}: {_summary(report['metrics'])}")
    for name, rate in report["metrics"].get("fpr_by_subset", {}).items():
        typer.echo(f"  false-positive rate on {name}: {rate:.4f}")


@model_app.command("info")
def model_info(
    path: Annotated[
        Path | None, typer.Argument(help="Model file (default: the model shipped with Undertow).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print model.json as it is.")] = False,
) -> None:
    """What a model is: format version, when and on what it was trained, threshold, metrics."""
    try:
        model = default_model() if path is None else TextModel.load(path)
    except ModelError as exc:
        _fail(str(exc))
    meta = model.metadata
    if as_json:
        typer.echo(json.dumps(meta, indent=2, sort_keys=True))
        return
    data = meta.get("training_data", {})
    features = meta.get("features", {})
    lines = [
        ("model", str(path) if path else "built-in default"),
        ("format", f"{meta['format']} version {meta['format_version']}"),
        ("created", meta.get("created", "?")),
        ("labels", " / ".join(model.labels)),
        ("training data", f"{data.get('rows', '?')} rows ({data.get('positives', '?')} "
                          f"positive), sha256 {data.get('sha256', '?')}"),
        ("description", data.get("description", "")),
        ("features", f"characters {features.get('char_min')}-{features.get('char_max')}, "
                     f"words 1-{features.get('word_max')}, 2^{features.get('bits')} hashed, "
                     f"{features.get('normalisation')}"),
        ("threshold", f"{model.threshold:.4f} ({meta['threshold'].get('rule', '')})"),
        ("metrics", _summary(meta.get("metrics", {}))),
    ]  # fmt: skip
    for name, value in lines:
        if value:
            typer.echo(f"{name + ':':15}{value}")
    for name, rate in meta.get("metrics", {}).get("fpr_by_subset", {}).items():
        typer.echo(f"{'':15}false-positive rate on {name}: {rate}")


def _summary(metrics: dict[str, Any]) -> str:
    names = ("precision", "recall", "f1", "roc_auc", "fpr")
    return "  ".join(f"{name} {metrics[name]}" for name in names if name in metrics)


@model_app.command("examples")
def model_examples(
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON Lines file to write.")],
) -> None:
    """The reviewers' decided texts as labelled data (text, label, group = channel, subset =
    category or "cleared"), ready for `undertow model train OUT --group-column group`."""
    import orjson
    import sqlalchemy as sa

    from undertow.cli.audit import record
    from undertow.cli.common import open_store_or_exit, state
    from undertow.store import schema

    store = open_store_or_exit(state.settings())
    t = schema.training_examples
    count = positives = 0
    try:
        with store.engine.connect() as conn, out.open("wb") as handle:
            for row in conn.execute(sa.select(t).order_by(t.c.id)):
                subset = row.category or ("cleared" if not row.label else "confirmed")
                line = {"text": row.text, "label": int(bool(row.label)),
                        "group": row.channel_id, "subset": subset,
                        "decision_id": row.decision_id}  # fmt: skip
                handle.write(orjson.dumps(line) + b"\n")
                count += 1
                positives += bool(row.label)
        record(store, "export", "training-examples", {"rows": count, "to": str(out)})
    except OSError as exc:
        _fail(f"{out}: {exc.strerror or exc}")
    finally:
        store.close()
    note(f"wrote {count} example(s), {positives} confirmed and {count - positives} cleared")
