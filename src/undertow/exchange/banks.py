"""Hash banks: named lists of MD5, SHA-256, PDQ and vPDQ hashes and of URLs (as Tech Against
Terrorism alerts platforms with), imported from and exported to the formats partners use.

Formats:
- `tx`: python-threatexchange's local-file exchange format, one `<signal type> <signal>` per
  line (`pdq <64 hex>`, `video_md5 <32 hex>`, `url <url>`, also `md5`/`sha256`), as its `tx`
  CLI reads it.
- `plain`: one hash per line; the hash type is given by the caller.
- `csv`: a header with `type,hash,category,note` (category and note optional).
Every import is one transaction: a bad line names the file and line and stores nothing.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from undertow.enrich.links import normalize_url
from undertow.enrich.media_hash import hash_file
from undertow.store import Store, schema
from undertow.store.bulk import BulkStatement, dialect_insert

HASH_TYPES = {"md5": 32, "sha256": 64, "pdq": 64, "vpdq": 0, "url": 0}
"""Hash types and their hex lengths; a vPDQ value is a list of frames (see `parse_vpdq`), a URL
is stored normalised (`enrich.links.normalize_url`) so that it matches however it was written."""
MAX_URL_CHARS = 2048
FORMATS = ("tx", "plain", "csv")
# python-threatexchange signal type names -> ours (pytx only has an MD5 type for video).
TX_TO_TYPE = {
    "pdq": "pdq",
    "video_md5": "md5",
    "md5": "md5",
    "photo_md5": "md5",
    "sha256": "sha256",
    "vpdq": "vpdq",
    "url": "url",
}
TYPE_TO_TX = {"pdq": "pdq", "md5": "video_md5", "sha256": "sha256", "vpdq": "vpdq", "url": "url"}
MAX_VPDQ_FRAMES = 100_000
_HEX = re.compile(r"[0-9a-f]+")
_BATCH = 5000


class BankError(ValueError):
    """A bank operation cannot be done; the message says which bank, file and line."""


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One hash in a bank."""

    hash_type: str
    value: str
    category: str | None = None
    note: str | None = None


def validate(hash_type: str, value: str, where: str) -> BankEntry:
    """A checked, normalised entry (lower-case hex of the right length)."""
    kind = hash_type.strip().lower()
    if kind not in HASH_TYPES:
        raise BankError(
            f"{where}: unknown hash type {hash_type!r} (expected one of {', '.join(HASH_TYPES)})"
        )
    if kind == "vpdq":
        return BankEntry(kind, " ".join(f"{h},{q},{t:g}" for h, q, t in parse_vpdq(value, where)))
    if kind == "url":
        return BankEntry(kind, _bank_url(value, where))
    digest = value.strip().lower()
    if len(digest) != HASH_TYPES[kind] or not _HEX.fullmatch(digest):
        raise BankError(
            f"{where}: not a {kind} hash ({HASH_TYPES[kind]} hex digits): {value[:80]!r}"
        )
    return BankEntry(kind, digest)


def _bank_url(value: str, where: str) -> str:
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS or any(c.isspace() for c in url):
        raise BankError(f"{where}: not a URL (empty, spaces, or over {MAX_URL_CHARS} chars)")
    normalized = normalize_url(url)
    if "." not in normalized.partition("//")[2].partition("/")[0]:
        raise BankError(f"{where}: not a URL with a host name: {value[:80]!r}")
    return normalized


def parse_vpdq(value: str, where: str) -> list[tuple[str, int, float]]:
    """vPDQ frames from `hex,quality,seconds` items, separated by spaces or given as the JSON
    list python-threatexchange writes."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise BankError(f"{where}: vpdq value is not a JSON list: {exc}") from exc
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise BankError(f"{where}: vpdq value must be a list of 'hex,quality,seconds' strings")
    else:
        items = text.split()
    if not items or len(items) > MAX_VPDQ_FRAMES:
        raise BankError(f"{where}: a vpdq value needs 1 to {MAX_VPDQ_FRAMES} frames")
    frames = []
    for item in items:
        parts = item.split(",")
        try:
            digest, quality, seconds = parts[0].lower(), int(parts[1]), float(parts[2])
        except (IndexError, ValueError) as exc:
            raise BankError(
                f"{where}: bad vpdq frame {item[:80]!r} (want hex,quality,seconds)"
            ) from exc
        if (
            len(parts) != 3
            or len(digest) != 64
            or not _HEX.fullmatch(digest)
            or not 0 <= quality <= 100
            or seconds < 0
        ):
            raise BankError(f"{where}: bad vpdq frame {item[:80]!r} (want hex,quality,seconds)")
        frames.append((digest, quality, seconds))
    return frames


# -- reading and writing formats ---------------------------------------------------------------


def read_entries(path: Path, fmt: str, *, hash_type: str | None = None) -> Iterator[BankEntry]:
    """Stream the entries of a bank file, validating each; errors name the file and line."""
    if fmt not in FORMATS:
        raise BankError(f"unknown bank format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "plain" and hash_type is None:
        raise BankError("the plain format needs the hash type (--type md5|sha256|pdq|url)")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if fmt == "csv":
                yield from _read_csv(handle, str(path))
                return
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                where = f"{path}:{number}"
                if fmt == "plain":
                    yield validate(hash_type or "", text, where)
                    continue
                signal_type, _, signal = text.partition(" ")
                if signal_type not in TX_TO_TYPE:
                    raise BankError(f"{where}: unsupported signal type {signal_type!r}")
                yield validate(TX_TO_TYPE[signal_type], signal, where)
    except UnicodeDecodeError as exc:
        raise BankError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise BankError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _read_csv(handle: IO[str], name: str) -> Iterator[BankEntry]:
    reader = csv.DictReader(handle)
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not {"type", "hash"} <= fields:
        raise BankError(f"{name}: a bank CSV needs a header with 'type' and 'hash' columns")
    for row in reader:
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        entry = validate(clean.get("type", ""), clean.get("hash", ""), f"{name}:{reader.line_num}")
        yield BankEntry(
            entry.hash_type, entry.value, clean.get("category") or None, clean.get("note") or None
        )


def write_entries(entries: Iterable[BankEntry], fmt: str, out: IO[str]) -> int:
    if fmt not in FORMATS:
        raise BankError(f"unknown bank format {fmt!r}; choose one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["type", "hash", "category", "note"])
        for entry in entries:
            writer.writerow([entry.hash_type, entry.value, entry.category or "", entry.note or ""])
            count += 1
        return count
    for entry in entries:
        value = entry.value
        if fmt == "tx" and entry.hash_type == "vpdq":
            value = json.dumps(value.split())  # python-threatexchange's vPDQ signal is JSON
        out.write(f"{TYPE_TO_TX[entry.hash_type]} {value}\n" if fmt == "tx" else f"{value}\n")
        count += 1
    return count


# -- the banks in the store --------------------------------------------------------------------


def create_bank(
    store: Store,
    name: str,
    *,
    source: str | None = None,
    category: str | None = None,
    licence: str | None = None,
) -> int:
    if not name.strip():
        raise BankError("a bank needs a name")
    now = int(time.time())
    with store.engine.begin() as conn:
        if _bank_id(conn, name) is not None:
            raise BankError(f"a bank named {name!r} exists already")
        result = conn.execute(
            sa.insert(schema.banks).values(
                name=name,
                source=source,
                category=category,
                licence=licence,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def set_enabled(store: Store, name: str, enabled: bool) -> None:
    """Switch a bank on or off for matching (its entries and past signals are kept)."""
    with store.engine.begin() as conn:
        bank_id = _require_bank(conn, name)
        conn.execute(
            sa.update(schema.banks)
            .where(schema.banks.c.id == bank_id)
            .values(enabled=enabled, updated_at=int(time.time()))
        )


def list_banks(store: Store) -> list[dict[str, Any]]:
    b, e = schema.banks, schema.bank_entries
    with store.engine.connect() as conn:
        query = sa.select(e.c.bank_id, sa.func.count()).group_by(e.c.bank_id)
        counts: dict[int, int] = {int(bank_id): int(n) for bank_id, n in conn.execute(query)}
        return [
            {
                "name": row.name,
                "source": row.source,
                "category": row.category,
                "licence": row.licence,
                "enabled": bool(row.enabled),
                "entries": counts.get(row.id, 0),
            }
            for row in conn.execute(sa.select(b).order_by(b.c.name))
        ]


def add_entries(store: Store, bank: str, entries: Iterable[BankEntry]) -> tuple[int, int]:
    """Add entries in one transaction; returns (new, already present)."""
    now = int(time.time())
    new = seen = 0
    with store.engine.begin() as conn:
        bank_id = _require_bank(conn, bank)
        before = _entry_count(conn, bank_id)
        statement = BulkStatement(
            conn,
            "bank_entries",
            lambda: dialect_insert(conn.dialect.name, schema.bank_entries).on_conflict_do_nothing(
                index_elements=["bank_id", "hash_type", "value"]
            ),
            ("bank_id", "hash_type", "value", "category", "note", "added_at"),
        )
        batch: list[tuple[Any, ...]] = []
        for entry in entries:
            batch.append((bank_id, entry.hash_type, entry.value, entry.category, entry.note, now))
            seen += 1
            if len(batch) >= _BATCH:
                statement.run(batch)
                batch = []
        statement.run(batch)
        new = _entry_count(conn, bank_id) - before
        conn.execute(
            sa.update(schema.banks).where(schema.banks.c.id == bank_id).values(updated_at=now)
        )
    return new, seen - new


def add_files(
    store: Store, bank: str, files: Iterable[Path], *, category: str | None = None
) -> tuple[int, int]:
    """Hash media files and add their MD5, SHA-256 and (where usable) PDQ hashes."""
    entries: list[BankEntry] = []
    for path in files:
        try:
            hashes = hash_file(path)
        except OSError as exc:
            raise BankError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        note = path.name
        entries.append(BankEntry("sha256", hashes.sha256, category, note))
        entries.append(BankEntry("md5", hashes.md5, category, note))
        if hashes.pdq is not None:
            entries.append(BankEntry("pdq", hashes.pdq, category, note))
        if hashes.vpdq:
            frames = " ".join(f"{h},{q},{t:g}" for h, q, t in hashes.vpdq)
            entries.append(BankEntry("vpdq", frames, category, note))
    return add_entries(store, bank, entries)


def iter_entries(store: Store, bank: str) -> Iterator[BankEntry]:
    e = schema.bank_entries
    with store.engine.connect() as conn:
        bank_id = _require_bank(conn, bank)
        query = (
            sa.select(e.c.hash_type, e.c.value, e.c.category, e.c.note)
            .where(e.c.bank_id == bank_id)
            .order_by(e.c.id)
        )
        for row in conn.execute(query):
            yield BankEntry(row.hash_type, row.value, row.category, row.note)


def _bank_id(conn: sa.Connection, name: str) -> int | None:
    return conn.execute(sa.select(schema.banks.c.id).where(schema.banks.c.name == name)).scalar()


def _require_bank(conn: sa.Connection, name: str) -> int:
    bank_id = _bank_id(conn, name)
    if bank_id is None:
        raise BankError(f"no bank named {name!r} (create it with: undertow bank create {name})")
    return bank_id


def _entry_count(conn: sa.Connection, bank_id: int) -> int:
    e = schema.bank_entries
    return int(conn.execute(sa.select(sa.func.count()).where(e.c.bank_id == bank_id)).scalar_one())
