"""The saved form of a near-duplicate index (`neardup.py`): one file per array, in message
order, appended to at each save, and a JSON description written last and atomically, read
back with checks that turn a damaged, altered or foreign folder into an `IndexFormatError`,
never into a wrong answer.

Per message the files hold its id, its signature (top 16 bits of each value), its size and
its band keys, as plain little-endian arrays (`<generation>.<field>.bin`, shapes and types
given here and checked against the description).  Nothing is kept in key order (the band
table is rebuilt from the keys on load), so a save writes only the messages added since the
last one, each message is written once, and the folder holds four arrays whatever its size
(decision 72).  Rows past the described count, left by a save that was interrupted, are
ignored and cut off by the next save; a save that cannot append (another folder, another
index) writes a new generation and removes the old one's files after the description names
the new one."""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "undertow.neardup"
FORMAT_VERSION = 2
META_FILE = "neardup.json"
FIELDS = {"ids": "<i8", "values": "<u2", "sizes": "<u4", "keys": "<u8"}
_GENERATION = re.compile(r"gen-[0-9a-f]{16}")


class IndexFormatError(ValueError):
    """A saved index that cannot be used: missing, damaged, or built with other parameters."""


@dataclass(frozen=True, slots=True)
class Saved:
    """The first `count` messages of an index, saved in `folder` as `generation`'s files."""

    folder: Path  # resolved
    generation: str
    count: int
    widths: dict[str, int]  # values per message of each field

    def path(self, field: str) -> Path:
        return self.folder / f"{self.generation}.{field}.bin"

    def read(self, field: str, *, mapped: bool = False) -> np.ndarray[Any, Any]:
        """A field's first `count` rows, shape (count, width) (ids and sizes: (count,))."""
        dtype, width = np.dtype(FIELDS[field]), self.widths[field]
        shape = (self.count, width) if field in ("values", "keys") else (self.count,)
        path = self.path(field)
        try:
            if mapped and self.count:
                return np.memmap(path, dtype=dtype, mode="r", shape=shape)
            return np.fromfile(path, dtype=dtype, count=self.count * width).reshape(shape)
        except (OSError, ValueError) as error:
            raise IndexFormatError(f"{self.folder}: cannot read {path.name}: {error}") from error


def widths(num_perm: int, bands: int) -> dict[str, int]:
    return {"ids": 1, "values": num_perm, "sizes": 1, "keys": bands}


def current(folder: Path) -> tuple[str, int] | None:
    """The generation and count the description in `folder` names, if it is readable."""
    try:
        meta = read_meta(folder)
        return _generation(folder, meta), _count(folder, meta)
    except IndexFormatError:
        return None


def write_index(
    folder: Path,
    appending: Saved | None,
    rows: dict[str, np.ndarray[Any, Any]],
    description: dict[str, Any],
    count: int,
    row_widths: dict[str, int],
) -> Saved:
    """Save messages [start, count) given by `rows` (one array per field): appended to the
    files of `appending` (which holds the first `start`), or, with `appending` None, as a new
    generation holding all `count`.  Returns what is saved now."""
    meta_path = folder / META_FILE
    if folder.exists() and any(folder.iterdir()) and not meta_path.exists():
        raise IndexFormatError(f"{folder} is not empty and holds no near-duplicate index")
    folder.mkdir(parents=True, exist_ok=True)
    here = folder.resolve()
    generation = appending.generation if appending else f"gen-{uuid.uuid4().hex[:16]}"
    start = appending.count if appending else 0
    saved = Saved(here, generation, count, row_widths)
    for field, dtype in FIELDS.items():
        data = np.ascontiguousarray(rows[field], dtype=dtype)
        keep = start * row_widths[field] * np.dtype(dtype).itemsize
        path = saved.path(field)
        with path.open("r+b" if start else "wb") as out:
            if start and os.fstat(out.fileno()).st_size < keep:
                raise IndexFormatError(f"{folder}: {path.name} is shorter than its description")
            out.truncate(keep)  # rows an interrupted save left after the described ones
            out.seek(keep)
            data.tofile(out)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, **description, "count": count,
            "generation": generation, "arrays": _layout(row_widths)}  # fmt: skip
    tmp = folder / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, meta_path)
    # Files of other generations, and version 1's sorted runs (`seg-*.npy`), are stale now.
    for path in [*folder.glob("gen-*.bin"), *folder.glob("seg-*.npy")]:
        if not path.name.startswith(f"{generation}."):
            path.unlink()
    return saved


def read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META_FILE
    if not path.is_file():
        raise IndexFormatError(f"{folder} holds no near-duplicate index ({META_FILE} is missing)")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise IndexFormatError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise IndexFormatError(f"{path} does not describe a {FORMAT} index")
    if meta.get("version") != FORMAT_VERSION:
        raise IndexFormatError(
            f"{folder}: index format version {meta.get('version')!r}, this version of Undertow "
            f"reads version {FORMAT_VERSION}; rebuild the index"
        )
    return meta


def open_saved(folder: Path, meta: dict[str, Any], row_widths: dict[str, int]) -> Saved:
    """What `meta` describes in `folder`, checked: the arrays are laid out as `row_widths`
    says (the parameters' widths) and every file holds at least its rows."""
    if meta.get("arrays") != _layout(row_widths):
        raise IndexFormatError(
            f"{folder}: arrays described as {meta.get('arrays')!r}, expected "
            f"{_layout(row_widths)} for these parameters: the index is damaged or was altered"
        )
    saved = Saved(folder.resolve(), _generation(folder, meta), _count(folder, meta), row_widths)
    for field, dtype in FIELDS.items():
        path = saved.path(field)
        needed = saved.count * row_widths[field] * np.dtype(dtype).itemsize
        size = path.stat().st_size if path.is_file() else -1
        if size < needed:
            found = "missing" if size < 0 else f"{size} bytes"
            raise IndexFormatError(
                f"{folder}: {path.name} is {found}, expected at least {needed} for "
                f"{saved.count} messages: the index is damaged or was altered"
            )
    return saved


def _layout(row_widths: dict[str, int]) -> dict[str, list[Any]]:
    """Each field's type and values per message, as the description records them."""
    return {field: [dtype, row_widths[field]] for field, dtype in FIELDS.items()}


def _generation(folder: Path, meta: dict[str, Any]) -> str:
    generation = meta.get("generation")
    if not isinstance(generation, str) or not _GENERATION.fullmatch(generation):
        raise IndexFormatError(f"{folder}: bad generation {generation!r} in {META_FILE}")
    return generation


def _count(folder: Path, meta: dict[str, Any]) -> int:
    count = meta.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise IndexFormatError(f"{folder}: bad message count {count!r} in {META_FILE}")
    return count
