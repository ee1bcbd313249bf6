"""An in-memory hash table from LSH band key to the rows holding it, oldest first: the lookup
side of a near-duplicate index (`neardup.py`), so that a probe costs the same however many
messages are indexed.

Open addressing over the distinct keys (NumPy arrays, a whole batch of keys probed at once,
colliding claims settled by re-reading), each key pointing to a chain of entries in adding
order.  Keys are uniform 64-bit hashes already, so their low bits pick the slot.  The table
doubles when half full; every entry is written once and moved only by those doublings, so
adding n rows costs O(n) in all.  It is rebuilt from the saved segments on load, never saved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from undertow.network.minhash import I64, U64

U32 = np.ndarray[Any, np.dtype[np.uint32]]
END = np.uint32(0xFFFFFFFF)  # no next entry
_FIRST_CAPACITY = 1 << 16


class BandTable:
    """Band key -> rows (global row numbers, in the order added)."""

    def __init__(self) -> None:
        self._keys = np.zeros(_FIRST_CAPACITY, dtype=np.uint64)  # 0: empty slot
        self._head = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)
        self._tail = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)
        self._count = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)
        self._used = 0
        self._row = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)  # per entry
        self._next = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)
        self._entries = 0

    @property
    def nbytes(self) -> int:
        arrays = (self._keys, self._head, self._tail, self._count, self._row, self._next)
        return sum(array.nbytes for array in arrays)

    def reserve(self, entries: int, keys: int) -> None:
        """Make room for `entries` more entries holding about `keys` more distinct keys, so
        that a load of known size is added without the doublings (each allocates fresh
        memory, copies everything and re-places every key)."""
        self._reserve_entries(entries, exact=True)
        if self._used + keys > len(self._keys) // 2:
            self._grow(self._used + keys)

    def add(self, keys: U64, rows: U32) -> None:
        """Add (key, row) pairs sorted by key, rows ascending within a key (an `LshSegment`'s
        order), all rows newer than any already here."""
        if not len(keys):
            return
        self._reserve_entries(len(keys))
        entries = np.arange(self._entries, self._entries + len(keys), dtype=np.uint32)
        self._row[entries] = rows
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        ends = np.concatenate((starts[1:], [len(keys)])) - 1
        # Chain each key's entries in order; the last one ends its run.
        self._next[entries] = entries + np.uint32(1)
        self._next[entries[ends]] = END
        if self._used + len(starts) > len(self._keys) // 2:
            self._grow(self._used + len(starts))
        unique = _nonzero(keys[starts])
        slot, found = self._claim(unique)
        old = slot[found]
        self._next[self._tail[old]] = entries[starts[found]]
        fresh = slot[~found]
        self._head[fresh] = entries[starts[~found]]
        self._count[fresh] = 0
        self._tail[slot] = entries[ends]
        self._count[slot] += (ends - starts + 1).astype(np.uint32)
        self._used += int((~found).sum())
        self._entries += len(keys)

    def lookup(self, keys: U64, max_rows: int) -> tuple[I64, I64]:
        """For each of `keys` (distinct), its rows here, at most `max_rows` (the oldest):
        (index into `keys`, row) pairs grouped by key."""
        keys = _nonzero(keys)
        slot = self._find(keys)
        hit = np.flatnonzero(slot >= 0)
        slot = slot[hit]
        length = np.minimum(self._count[slot], max_rows).astype(np.int64)
        offset = np.cumsum(length) - length
        out_key = np.repeat(hit, length)
        out_row = np.empty(int(length.sum()), dtype=np.int64)
        entry, at, left = self._head[slot], offset, length
        while len(entry):  # walk the chains together, one step per round
            out_row[at] = self._row[entry]
            left = left - 1
            more = left > 0
            entry, at, left = self._next[entry[more]], at[more] + 1, left[more]
        return out_key, out_row

    def _find(self, keys: U64) -> I64:
        """The slot holding each key, -1 where none does."""
        mask = len(self._keys) - 1
        slot = np.full(len(keys), -1, dtype=np.int64)
        todo = np.arange(len(keys))
        at = self._home(keys)
        while len(todo):
            held = self._keys[at]
            done = (held == keys[todo]) | (held == 0)
            hit = held == keys[todo]
            slot[todo[hit]] = at[hit]
            todo, at = todo[~done], (at[~done] + 1) & mask
        return slot

    def _claim(self, keys: U64) -> tuple[I64, np.ndarray[Any, np.dtype[np.bool_]]]:
        """The slot of each (distinct) key, claiming an empty one for keys not here yet, and
        whether the key was here already."""
        mask = len(self._keys) - 1
        slot = np.empty(len(keys), dtype=np.int64)
        found = np.zeros(len(keys), dtype=bool)
        todo = np.arange(len(keys))
        at = self._home(keys)
        while len(todo):
            held = self._keys[at]
            wanted = keys[todo]
            here = held == wanted
            slot[todo[here]], found[todo[here]] = at[here], True
            empty = held == 0
            # Keys racing for one empty slot: the last write wins, the others probe on.
            self._keys[at[empty]] = wanted[empty]
            won = empty & (self._keys[at] == wanted)
            slot[todo[won]] = at[won]
            done = here | won
            todo, at = todo[~done], (at[~done] + 1) & mask
        return slot, found

    def _home(self, keys: U64) -> I64:
        """Each key's first slot: its leading bits, so that sorted keys (a segment's) visit the
        table in order, page after page, instead of at random."""
        shift = np.uint64(65 - len(self._keys).bit_length())
        return (keys >> shift).astype(np.int64)

    def _grow(self, needed: int) -> None:
        capacity = len(self._keys)
        while needed > capacity // 2:
            capacity *= 2
        used = np.flatnonzero(self._keys)
        keys, head = self._keys[used], self._head[used]
        tail, count = self._tail[used], self._count[used]
        self._keys = np.zeros(capacity, dtype=np.uint64)
        self._head = np.zeros(capacity, dtype=np.uint32)
        self._tail = np.zeros(capacity, dtype=np.uint32)
        self._count = np.zeros(capacity, dtype=np.uint32)
        slot, _ = self._claim(keys)
        self._head[slot], self._tail[slot], self._count[slot] = head, tail, count

    def _reserve_entries(self, more: int, *, exact: bool = False) -> None:
        needed = self._entries + more
        if needed <= len(self._row):
            return
        capacity = needed if exact else max(needed, 2 * len(self._row))
        for name in ("_row", "_next"):
            grown = np.zeros(capacity, dtype=np.uint32)
            grown[: self._entries] = getattr(self, name)[: self._entries]
            setattr(self, name, grown)


def _nonzero(keys: U64) -> U64:
    """Keys with 0 (the empty slot's mark) moved to 1: a 2^-64 collision, merely a candidate."""
    return np.where(keys == 0, np.uint64(1), keys)
