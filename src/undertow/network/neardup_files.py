"""The saved form of a near-duplicate index (`neardup.py`): plain `.npy` arrays per segment
and a JSON description, written atomically, read back with checks that turn a damaged,
altered or foreign folder into an `IndexFormatError`, never into a wrong answer."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from undertow.network.lsh_segment import LshSegment

FORMAT = "undertow.neardup"
FORMAT_VERSION = 1
META_FILE = "neardup.json"
ARRAYS = {"ids": np.int64, "values": np.uint16, "sizes": np.uint32, "keys": np.uint64,
           "rows": np.uint32}  # fmt: skip


class IndexFormatError(ValueError):
    """A saved index that cannot be used: missing, damaged, or built with other parameters."""


def is_complete(folder: Path, name: str) -> bool:
    return all((folder / f"{name}.{field}.npy").is_file() for field in ARRAYS)


def write_index(
    folder: Path, segments: list[LshSegment], description: dict[str, Any], count: int
) -> None:
    """Write an index of `count` messages in `segments` to `folder` (created; an earlier
    index there is replaced), `description` (hasher family, parameters) in its JSON file.

    Segments already saved in `folder` are kept as they are, so saving after adding a batch
    writes only the new and merged segments.  The JSON file is written last and atomically,
    then files it no longer names are removed."""
    meta_path = folder / META_FILE
    if folder.exists() and any(folder.iterdir()) and not meta_path.exists():
        raise IndexFormatError(f"{folder} is not empty and holds no near-duplicate index")
    folder.mkdir(parents=True, exist_ok=True)
    here = folder.resolve()
    listed: list[dict[str, Any]] = []
    for segment in segments:
        if segment.folder != here or segment.name is None or not is_complete(folder, segment.name):
            name = f"seg-{uuid.uuid4().hex[:16]}"
            for field, dtype in ARRAYS.items():
                write_array(folder / f"{name}.{field}.npy", getattr(segment, field), dtype)
            segment.name, segment.folder = name, here
        listed.append({"name": segment.name, "count": len(segment)})
    meta = {"format": FORMAT, "version": FORMAT_VERSION, **description, "count": count,
            "segments": listed}  # fmt: skip
    tmp = folder / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, meta_path)
    names = {entry["name"] for entry in listed}
    for path in folder.glob("seg-*.npy"):
        if path.name.split(".")[0] not in names:
            path.unlink()


def write_array(path: Path, array: np.ndarray[Any, Any], dtype: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        np.save(out, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)
    os.replace(tmp, path)


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


def list_segments(segments: Any, folder: Path) -> Iterator[dict[str, Any]]:
    if not isinstance(segments, list):
        raise IndexFormatError(f"{folder}: {META_FILE} has no segment list")
    for entry in segments:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and entry["name"].startswith("seg-") and entry["name"].isascii()
                and "/" not in entry["name"] and isinstance(entry.get("count"), int)):  # fmt: skip
            raise IndexFormatError(f"{folder}: bad segment entry {entry!r} in {META_FILE}")
        yield entry


def load_segment(
    folder: Path, entry: dict[str, Any], num_perm: int, bands: int, mmap: bool
) -> LshSegment:
    n, name = entry["count"], entry["name"]
    shapes = {"ids": (n,), "values": (n, num_perm), "sizes": (n,),
              "keys": (n * bands,), "rows": (n * bands,)}  # fmt: skip
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for field, dtype in ARRAYS.items():
        path = folder / f"{name}.{field}.npy"
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise IndexFormatError(f"{folder}: cannot read {path.name}: {error}") from error
        if array.dtype != np.dtype(dtype) or array.shape != shapes[field]:
            raise IndexFormatError(
                f"{folder}: {path.name} is {array.dtype}{array.shape}, expected "
                f"{np.dtype(dtype)}{shapes[field]}: the index is damaged or was altered"
            )
        arrays[field] = array
    keys, rows = arrays["keys"], arrays["rows"]
    if len(keys) and (np.any(keys[1:] < keys[:-1]) or int(rows.max()) >= n):
        raise IndexFormatError(f"{folder}: segment {name} is not a valid sorted index")
    return LshSegment(arrays["ids"], arrays["values"], arrays["sizes"], keys, rows)
