"""An exact PDQ range index: every stored hash within a Hamming radius of a query.

Multi-index hashing (Norouzi et al.): the 256 bits are cut into 16 chunks of 16 bits. Two hashes
within distance r < 32 agree exactly on at least one chunk up to floor(r / 16) flipped bits, so
probing each chunk's bucket and its single-bit neighbours finds every match; candidates are
then verified by a vectorised popcount.  Buckets are sorted arrays (NumPy), searched for a
whole batch of queries at once, so the index is compact (about 96 bytes per hash) and needs
no hash maps.  It is saved as plain `.npy` arrays, never pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BITS = 256
CHUNKS = 16
CHUNK_BITS = BITS // CHUNKS
BUCKETS = 1 << CHUNK_BITS
FORMAT_VERSION = 1

Codes = np.ndarray[Any, np.dtype[np.uint8]]


def codes_from_hex(hashes: list[str]) -> Codes:
    """(n, 32) uint8 array from 64-hex-digit PDQ strings."""
    if not hashes:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hashes)), dtype=np.uint8).reshape(-1, 32).copy()


def _chunk_values(codes: Codes) -> np.ndarray[Any, np.dtype[np.uint16]]:
    """(n, 16) chunk keys: the hash's 16-bit words, big-endian."""
    pairs = codes.reshape(-1, CHUNKS, 2).astype(np.uint16)
    return ((pairs[:, :, 0] << 8) | pairs[:, :, 1]).astype(np.uint16)


_FLIPS = np.concatenate([[0], 1 << np.arange(CHUNK_BITS)]).astype(np.uint16)


@dataclass
class Match:
    """One query found one stored hash."""

    query: int
    entry: int
    distance: int


class PDQIndex:
    """Exact radius search over PDQ hashes; entries are caller ids (e.g. bank entry ids)."""

    def __init__(
        self,
        codes: Codes | None = None,
        ids: np.ndarray[Any, Any] | None = None,
        *,
        buckets: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None,
    ) -> None:
        self.codes: Codes = (
            np.zeros((0, 32), dtype=np.uint8) if codes is None else np.ascontiguousarray(codes)
        )
        self.ids = np.zeros(0, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(self.ids) != len(self.codes):
            raise ValueError("codes and ids differ in length")
        if buckets is not None and _buckets_fit(buckets, len(self.codes)):
            self._order, self._starts = buckets
        else:
            self._build_buckets()
        self._build_columns()

    def __len__(self) -> int:
        return len(self.codes)

    def _build_buckets(self) -> None:
        # Per chunk: row numbers sorted by key, and where each key's bucket starts.  One chunk
        # at a time keeps the build's peak memory near the index's own size.
        count = len(self.codes)
        self._order = np.empty((CHUNKS, count), dtype=np.int32)
        self._starts = np.empty((CHUNKS, BUCKETS + 1), dtype=np.int64)
        for chunk in range(CHUNKS):
            pair = self.codes[:, 2 * chunk : 2 * chunk + 2].astype(np.uint16)
            keys = (pair[:, 0] << 8) | pair[:, 1]
            order = np.argsort(keys, kind="stable")
            self._order[chunk] = order
            counts = np.bincount(keys, minlength=BUCKETS)
            self._starts[chunk, 0] = 0
            np.cumsum(counts, out=self._starts[chunk, 1:])

    def _build_columns(self) -> None:
        # The hashes as four columns of 64-bit words: verification gathers one column at a time
        # and drops most candidates after the first word or two.
        words = self.codes.view(np.uint64)
        self._columns = [np.ascontiguousarray(words[:, k]) for k in range(4)]

    def add(self, codes: Codes, ids: np.ndarray[Any, Any]) -> None:
        """Add entries incrementally: new rows are merged into each chunk's buckets (a linear
        pass per chunk, no re-sort of what is there)."""
        first = len(self.codes)
        new_codes = np.ascontiguousarray(codes, dtype=np.uint8)
        self.codes = np.concatenate([self.codes, new_codes])
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
        rows = np.arange(first, len(self.codes), dtype=np.int32)
        order = np.empty((CHUNKS, len(self.codes)), dtype=np.int32)
        for chunk in range(CHUNKS):
            pair = new_codes[:, 2 * chunk : 2 * chunk + 2].astype(np.uint16)
            keys = (pair[:, 0] << 8) | pair[:, 1]
            by_key = np.argsort(keys, kind="stable")
            # Each new row goes at the end of its key's bucket.
            order[chunk] = np.insert(
                self._order[chunk], self._starts[chunk, keys[by_key] + 1], rows[by_key]
            )
            counts = np.bincount(keys, minlength=BUCKETS)
            self._starts[chunk, 1:] += np.cumsum(counts)
        self._order = order
        self._build_columns()

    @property
    def nbytes(self) -> int:
        """Memory the index holds (codes, ids, bucket arrays)."""
        return int(self.codes.nbytes + self.ids.nbytes + self._order.nbytes + self._starts.nbytes)

    def search(self, queries: Codes, radius: int = 31, *, batch: int | None = None) -> list[Match]:
        """Every (query, entry) pair within `radius` bits, for radius < 32.

        Queries go in batches sized so that about two million candidates are verified at a
        time, which bounds the search's temporary memory whatever the index size.
        """
        if not 0 <= radius < 2 * CHUNK_BITS:
            raise ValueError(f"radius must be between 0 and {2 * CHUNK_BITS - 1}")
        out: list[Match] = []
        if len(self.codes) == 0 or len(queries) == 0:
            return out
        flips = _FLIPS if radius >= CHUNKS else _FLIPS[:1]
        if batch is None:
            per_query = CHUNKS * len(flips) * len(self.codes) / BUCKETS
            batch = int(min(1024, max(8, 2_000_000 / max(per_query, 1.0))))
        for start in range(0, len(queries), batch):
            part = queries[start : start + batch]
            q_index, rows, dist = self._search_batch(part, radius, flips)
            out.extend(
                Match(int(q) + start, int(self.ids[r]), int(d))
                for q, r, d in zip(q_index, rows, dist, strict=True)
            )
        return out

    def _search_batch(
        self, queries: Codes, radius: int, flips: np.ndarray[Any, Any]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        n_queries = len(queries)
        keys = _chunk_values(queries)[:, :, None] ^ flips[None, None, :]  # (q, chunk, probe)
        chunk_of = np.broadcast_to(np.arange(CHUNKS)[None, :, None], keys.shape)
        lo = self._starts[chunk_of, keys].ravel()
        hi = self._starts[chunk_of, keys.astype(np.int64) + 1].ravel()
        sizes = hi - lo
        total = int(sizes.sum())
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        # Expand every probed bucket into its members without a Python loop.
        bucket = np.repeat(np.arange(len(sizes)), sizes)
        offset = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        position = lo[bucket] + offset
        rows = self._order.ravel()[chunk_of.ravel()[bucket] * len(self.codes) + position]
        # Candidates come query by query, so the query side is a repeat, not a gather.
        per_query = sizes.reshape(n_queries, -1).sum(axis=1)
        q_words = np.ascontiguousarray(queries).view(np.uint64)
        cand_query = np.repeat(np.arange(n_queries), per_query)
        distance = np.zeros(total, dtype=np.uint8)
        # XOR and popcount do not care about byte order: native 64-bit words are enough.
        for k in range(4):
            column = np.repeat(q_words[:, k], per_query) if k == 0 else q_words[cand_query, k]
            distance += np.bitwise_count(column ^ self._columns[k][rows])
            keep = distance <= radius
            if k < 3 and not keep.all():
                rows, cand_query, distance = rows[keep], cand_query[keep], distance[keep]
        rows, cand_query, distance = rows[keep], cand_query[keep], distance[keep]
        # A hash close on several chunks is found several times: keep each pair once.
        pair, first = np.unique(
            cand_query.astype(np.int64) * len(self.codes) + rows, return_index=True
        )
        return pair // len(self.codes), pair % len(self.codes), distance[first]

    # -- persistence ---------------------------------------------------------------------

    def save(self, folder: Path, meta: dict[str, Any] | None = None) -> None:
        """Write codes and ids as .npy plus a JSON header (atomic per file)."""
        folder.mkdir(parents=True, exist_ok=True)
        arrays = (
            ("codes", self.codes),
            ("ids", self.ids),
            ("order", self._order),
            ("starts", self._starts),
        )
        for name, array in arrays:
            tmp = folder / f"{name}.tmp.npy"
            np.save(tmp, array, allow_pickle=False)
            tmp.replace(folder / f"{name}.npy")
        header = {
            "format": "undertow-pdq-index",
            "version": FORMAT_VERSION,
            "count": len(self),
            **(meta or {}),
        }
        (folder / "index.json").write_text(json.dumps(header, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> tuple[PDQIndex, dict[str, Any]]:
        header = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        if header.get("format") != "undertow-pdq-index" or header.get("version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: not an Undertow PDQ index of version {FORMAT_VERSION}")
        codes = np.load(folder / "codes.npy", allow_pickle=False)
        ids = np.load(folder / "ids.npy", allow_pickle=False)
        if (
            codes.dtype != np.uint8
            or codes.ndim != 2
            or codes.shape[1] != 32
            or len(ids) != len(codes)
        ):
            raise ValueError(f"{folder}: index arrays are damaged")
        buckets = None
        if (folder / "order.npy").exists() and (folder / "starts.npy").exists():
            buckets = (
                np.load(folder / "order.npy", allow_pickle=False),
                np.load(folder / "starts.npy", allow_pickle=False),
            )
        return cls(codes, ids, buckets=buckets), header


def _buckets_fit(buckets: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], count: int) -> bool:
    """Whether saved bucket arrays belong to an index of `count` hashes (else they are rebuilt)."""
    order, starts = buckets
    return bool(
        order.dtype == np.int32
        and order.shape == (CHUNKS, count)
        and starts.shape == (CHUNKS, BUCKETS + 1)
        and np.issubdtype(starts.dtype, np.integer)
        and (starts[:, -1] == count).all()
        and (starts[:, 0] == 0).all()
    )
