"""A batch of messages with its LSH band keys sorted: how a near-duplicate index
(`neardup.py`, whose lookups go through `band_table.py`) pairs a batch within itself and
feeds the band table in key order, and the verification of candidate pairs by their
signatures.

A large batch's keys get a directory of where each range of leading key bits starts: keys
are uniform hashes, so a key is found by a binary search over the few keys of its directory
entry, at a cost that does not grow with the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from undertow.network.minhash import F32, I64, U16, U32, U64

_VERIFY_CHUNK = 1 << 17  # candidate pairs verified at once (bounds the gathered rows)
_DIRECT_BELOW = 1 << 23  # keys under which a plain binary search is as fast (measured)
_KEYS_PER_ENTRY = 4  # keys per directory entry on average


@dataclass(slots=True)
class LshSegment:
    """One batch: its messages' ids, signatures and sizes, and (band key, row) pairs sorted by
    key (rows ascending within a key).

    Only the top 16 bits of each signature value are kept: verification just counts equal
    values, and two different 32-bit minima share their top 16 bits with chance 2^-16, which
    moves a Jaccard estimate by at most 0.00002 while halving memory and the gathers that
    dominate verification."""

    ids: I64
    values: U16
    sizes: U32
    keys: U64
    rows: U32
    _directory: I64 | None = field(default=None, repr=False)  # built on first search

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: I64, values: U32, sizes: U32, keys: U64) -> LshSegment:
        flat = keys.ravel()
        order = np.argsort(flat, kind="stable")
        rows = (order // keys.shape[1]).astype(np.uint32)
        return cls(ids, _top16(values), sizes, flat[order], rows)

    def candidates(self, keys: U64, rows: U32, max_bucket: int) -> tuple[I64, I64]:
        """(probe row, row here) for every probe band key found here, at most `max_bucket`
        (the earliest) per bucket; a pair may repeat across bands."""
        lo, count = self.find(keys)
        np.minimum(count, max_bucket, out=count)
        total = int(count.sum())
        first = np.cumsum(count) - count
        where = np.repeat(lo - first, count) + np.arange(total)
        return np.repeat(rows, count).astype(np.int64), self.rows[where].astype(np.int64)

    def find(self, keys: U64) -> tuple[I64, I64]:
        """Where each of `keys` starts among this segment's keys, and how many there are."""
        if len(self.keys) < _DIRECT_BELOW:
            lo = np.searchsorted(self.keys, keys, side="left")
            return lo, np.searchsorted(self.keys, keys, side="right") - lo
        if self._directory is None:
            self._directory = _directory(self.keys)
        directory = self._directory
        shift = np.uint64(65 - len(directory).bit_length())  # len(directory) is 2^bits + 1
        entry = (keys >> shift).astype(np.int64)
        high = directory[entry + 1]
        lo = _search(self.keys, keys, directory[entry], high, right=False)
        count = np.zeros(len(keys), dtype=np.int64)
        # Most probe keys are not here at all: only those found need the end of their run.
        found = np.flatnonzero(lo < high)
        found = found[self.keys[lo[found]] == keys[found]]
        end = _search(self.keys, keys[found], lo[found] + 1, high[found], right=True)
        count[found] = end - lo[found]
        return lo, count


def _directory(keys: U64) -> I64:
    """Where the keys of each value of the leading `bits` bits start (2^bits + 1 offsets),
    with `bits` chosen for about `_KEYS_PER_ENTRY` keys per entry."""
    bits = max(1, int(np.ceil(np.log2(max(len(keys), 2) / _KEYS_PER_ENTRY))))
    counts = np.bincount((keys >> np.uint64(64 - bits)).astype(np.int64), minlength=1 << bits)
    return np.concatenate(([0], np.cumsum(counts))).astype(np.int64)


def _search(keys: U64, probe: U64, low: I64, high: I64, *, right: bool) -> I64:
    """For each probe key, the first position in [low, high) of the sorted `keys` holding a
    larger key (right) or one not smaller (left): a binary search of all probes at once,
    each over its own short range, dropping probes as their ranges close."""
    low = low.copy()
    active = np.flatnonzero(low < high)
    lo, hi, wanted = low[active], high[active], probe[active]
    while len(active):
        mid = (lo + hi) >> 1
        after = keys[mid] <= wanted if right else keys[mid] < wanted
        lo = np.where(after, mid + 1, lo)
        hi = np.where(after, hi, mid)
        open_ = lo < hi
        if not open_.all():
            low[active[~open_]] = lo[~open_]
            active, lo, hi, wanted = active[open_], lo[open_], hi[open_], wanted[open_]
    return low


def _top16(values: U32) -> U16:
    return (values >> np.uint32(16)).astype(np.uint16)


def estimates(probe: LshSegment, query: I64, other: LshSegment, rows: I64) -> tuple[F32, F32]:
    """Estimated Jaccard similarity and containment of the smaller text in the larger."""
    agree = np.empty(len(query), dtype=np.uint16)
    for lo in range(0, len(query), _VERIFY_CHUNK):
        q, r = query[lo : lo + _VERIFY_CHUNK], rows[lo : lo + _VERIFY_CHUNK]
        same = probe.values[q] == other.values[r]
        agree[lo : lo + len(q)] = same.sum(axis=1, dtype=np.uint16)
    jaccard = agree.astype(np.float32) / np.float32(probe.values.shape[1])
    a, b = probe.sizes[query].astype(np.float32), other.sizes[rows].astype(np.float32)
    shared = jaccard * (a + b) / (1 + jaccard)
    return jaccard, np.minimum(shared / np.minimum(a, b), np.float32(1))
