"""Labelled text for training and evaluating the classifier: CSV or JSON Lines files with a
text and a label column (optional group and subset columns), read as a stream with errors
that name the file, the line and the problem."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from undertow.enrich.classifier import ModelError

MAX_LINE_BYTES = 16 * 1024 * 1024
TRUE_LABELS = frozenset({"1", "true", "yes", "y", "t"})
FALSE_LABELS = frozenset({"0", "false", "no", "n", "f"})


@dataclass(frozen=True, slots=True)
class Columns:
    """Which columns (CSV) or keys (JSON Lines) hold what, and which label values mean what."""

    text: str = "text"
    label: str = "label"
    group: str | None = None
    subset: str | None = None
    positive: tuple[str, ...] = ()
    """Label values meaning positive; empty: 1/true/yes."""
    negative: tuple[str, ...] = ()
    """Label values meaning negative; empty: 0/false/no, or everything else when `positive`
    is given."""

    def parse_label(self, value: object) -> bool:
        text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
        if self.positive:
            if text in self.positive:
                return True
            if not self.negative or text in self.negative:
                return False
        elif self.negative:
            return text not in self.negative
        elif text.lower() in TRUE_LABELS:
            return True
        elif text.lower() in FALSE_LABELS:
            return False
        wanted = self.positive + self.negative or ("1", "0", "true", "false", "yes", "no")
        raise ValueError(f"label {text[:40]!r} is not one of {', '.join(wanted)}")


@dataclass(slots=True)
class LabelledData:
    texts: list[str] = field(default_factory=list)
    labels: list[bool] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    subsets: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    def source(self) -> dict[str, Any]:
        return {"files": self.files}


def read_labelled(paths: Sequence[Path], columns: Columns) -> LabelledData:
    """Rows of every file, in order; `ModelError` naming the file and line of a bad one."""
    data = LabelledData()
    for path in paths:
        suffix = path.suffix.lower()
        if suffix not in {".csv", ".jsonl", ".ndjson"}:
            raise ModelError(f"{path}: unknown file type {suffix!r}; use .csv or .jsonl")
        before = len(data.texts)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                lines = _lines(path, handle, digest)
                records = (
                    _csv_records(path, lines) if suffix == ".csv" else _json_records(path, lines)
                )
                for line, record in records:
                    _add(data, record, columns, f"{path}:{line}")
        except OSError as exc:
            raise ModelError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        rows = len(data.texts) - before
        if rows == 0:
            raise ModelError(f"{path}: no rows")
        data.files.append({"path": path.name, "sha256": digest.hexdigest(), "rows": rows})
    return data


def _lines(path: Path, handle: Any, digest: Any) -> Iterator[tuple[int, str]]:
    """(line number, decoded line); every line is checked for UTF-8 and length on its own."""
    number = 0
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        digest.update(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise ModelError(f"{path}:{number}: line longer than {MAX_LINE_BYTES} bytes")
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelError(
                f"{path}:{number}: not UTF-8 (byte {exc.start + 1} of the line)"
            ) from exc


def _csv_records(path: Path, lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, Any]]:
    line = 0  # the physical line the reader has got to (a record may span several)

    def text_lines() -> Iterator[str]:
        nonlocal line
        for line, text in lines:  # sets the enclosing `line` for error messages
            yield text.removeprefix("\ufeff") if line == 1 else text

    reader = csv.reader(text_lines(), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ModelError(f"{path}: empty file")
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise ModelError(
                    f"{path}:{line}: {len(row)} field(s) where the header has {len(header)} "
                    "(truncated or malformed row)"
                )
            yield line, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise ModelError(f"{path}:{line}: malformed CSV: {exc}") from exc


def _json_records(path: Path, lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, Any]]:
    for number, line in lines:
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ModelError(
                    f"{path}:{number}: not a JSON object ({exc.msg}; truncated line?)"
                ) from None


def _add(data: LabelledData, record: Any, columns: Columns, where: str) -> None:
    if not isinstance(record, dict):
        raise ModelError(f"{where}: not a JSON object")
    wanted = [columns.text, columns.label, columns.group, columns.subset]
    for name in filter(None, wanted):
        if name not in record:
            known = ", ".join(map(str, list(record)[:20]))
            raise ModelError(f"{where}: no column {name!r} (columns: {known})")
    text = record[columns.text]
    if not isinstance(text, str):
        raise ModelError(f"{where}: {columns.text!r} is not a string")
    try:
        label = columns.parse_label(record[columns.label])
    except ValueError as exc:
        raise ModelError(f"{where}: {exc}") from None
    data.texts.append(text)
    data.labels.append(label)
    if columns.group:
        data.groups.append(str(record[columns.group]))
    if columns.subset:
        data.subsets.append(str(record[columns.subset]))
