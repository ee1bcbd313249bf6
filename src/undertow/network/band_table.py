"""An in-memory hash table from LSH band key to the oldest rows holding it: the lookup side of
a near-duplicate index (`neardup.py`), so that a probe costs the same however many messages
are indexed.

Open addressing over the distinct keys (NumPy arrays, a whole batch of keys probed at once,
colliding claims settled by re-reading), each key pointing to a chain of its entries, newest
first.  A lookup only ever returns a key's oldest `max_rows` rows, so no more are stored: a
boilerplate key held by thousands of messages costs as much as one held by `max_rows`.  Keys
are uniform 64-bit hashes already, so their leading bits pick the slot (by multiplying, so
the capacity need not be a power of two and is sized to the load).  The table grows when 60 %
full; every entry is written once and slots move only when it grows, so adding n rows costs
O(n) in all.  It is rebuilt from the saved segments on load, never saved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from undertow.network.minhash import I64, U64

U32 = np.ndarray[Any, np.dtype[np.uint32]]
END = np.uint32(0xFFFFFFFF)  # no next entry
_FIRST_CAPACITY = 1 << 16
_TARGET_LOAD = 0.5  # distinct keys per slot after sizing
_MAX_LOAD = 0.6  # grown beyond this: linear probing stays short (2-3 slots a probe)


class BandTable:
    """Band key -> its oldest rows (global row numbers), at most `max_rows` of them."""

    def __init__(self, max_rows: int = 32) -> None:
        if not 1 <= max_rows <= 0xFFFF:
            raise ValueError(f"max_rows must be in 1..65535, not {max_rows}")
        self.max_rows = max_rows
        self._keys = np.zeros(_FIRST_CAPACITY, dtype=np.uint64)  # 0: empty slot
        self._head = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)  # newest entry of the key
        self._count = np.zeros(_FIRST_CAPACITY, dtype=np.uint16)  # entries, <= max_rows
        self._used = 0
        self._row = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)  # per entry
        self._next = np.zeros(_FIRST_CAPACITY, dtype=np.uint32)  # the key's previous entry
        self._entries = 0

    @property
    def nbytes(self) -> int:
        arrays = (self._keys, self._head, self._count, self._row, self._next)
        return sum(array.nbytes for array in arrays)

    def reserve(self, entries: int, keys: int) -> None:
        """Make room for up to `entries` more entries holding about `keys` more distinct
        keys, so that a load of known size is added without growing (each growth allocates
        fresh memory, copies everything and re-places every key).  Entry room that a capped
        key leaves unused is never touched, so costs no memory."""
        self._reserve_entries(entries, exact=True)
        wanted = int((self._used + keys) / _TARGET_LOAD) + 1
        if wanted > len(self._keys):
            self._resize(wanted)

    def add(self, keys: U64, rows: U32) -> None:
        """Add (key, row) pairs sorted by key, rows ascending within a key (an `LshSegment`'s
        order), all rows newer than any already here.  Rows past a key's `max_rows` are not
        stored: no lookup would return them."""
        if not len(keys):
            return
        keys = _nonzero(keys)  # still sorted: 0 becomes 1, the next possible key
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        length = np.diff(np.append(starts, len(keys)))
        if self._used + len(starts) > _MAX_LOAD * len(self._keys):
            self._resize(max(2 * len(self._keys), int((self._used + len(starts)) / _TARGET_LOAD)))
        slot, found = self._claim(keys[starts])
        take = np.minimum(length, self.max_rows - self._count[slot].astype(np.int64))
        kept = int(take.sum())
        self._reserve_entries(kept)
        offset = np.cumsum(take) - take
        at = np.repeat(starts - offset, take) + np.arange(kept)  # each run's first `take`
        entries = np.arange(self._entries, self._entries + kept, dtype=np.int64)
        self._row[entries] = rows[at]
        # Newest first: each entry points to the one before it in its run, a run's first to
        # the key's newest entry so far (none for a key new here).
        previous = entries - 1
        some = np.flatnonzero(take > 0)
        first = offset[some]
        previous[first] = np.where(found[some], self._head[slot[some]], END)
        self._next[entries] = previous.astype(np.uint32)
        self._head[slot[some]] = entries[first + take[some] - 1]
        self._count[slot] += take.astype(np.uint16)
        self._used += int((~found).sum())
        self._entries += kept

    def lookup(self, keys: U64) -> tuple[I64, I64]:
        """For each of `keys` (distinct), its oldest rows here (at most `max_rows`): (index
        into `keys`, row) pairs grouped by key, oldest first within a key."""
        keys = _nonzero(keys)
        slot = self._find(keys)
        hit = np.flatnonzero(slot >= 0)
        slot = slot[hit]
        length = self._count[slot].astype(np.int64)
        out_key = np.repeat(hit, length)
        out_row = np.empty(int(length.sum()), dtype=np.int64)
        # Walk the chains together, one step per round, filling each key's place backwards.
        entry, at = self._head[slot], np.cumsum(length) - 1
        left = length
        while len(entry):
            out_row[at] = self._row[entry]
            left = left - 1
            more = left > 0
            entry, at, left = self._next[entry[more]], at[more] - 1, left[more]
        return out_key, out_row

    def _find(self, keys: U64) -> I64:
        """The slot holding each key, -1 where none does."""
        slot = np.full(len(keys), -1, dtype=np.int64)
        todo = np.arange(len(keys))
        at = self._home(keys)
        while len(todo):
            held = self._keys[at]
            done = (held == keys[todo]) | (held == 0)
            hit = held == keys[todo]
            slot[todo[hit]] = at[hit]
            todo, at = todo[~done], self._after(at[~done])
        return slot

    def _claim(self, keys: U64) -> tuple[I64, np.ndarray[Any, np.dtype[np.bool_]]]:
        """The slot of each (distinct) key, claiming an empty one for keys not here yet, and
        whether the key was here already."""
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
            todo, at = todo[~done], self._after(at[~done])
        return slot, found

    def _after(self, at: I64) -> I64:
        """The slot after each of `at` (linear probing, wrapping at the end)."""
        at = at + 1
        at[at == len(self._keys)] = 0
        return at

    def _home(self, keys: U64) -> I64:
        """Each key's first slot: its leading 32 bits scaled to the capacity, so that sorted
        keys (a segment's) visit the table in order, page after page, instead of at random."""
        scaled = (keys >> np.uint64(32)) * np.uint64(len(self._keys))
        return (scaled >> np.uint64(32)).astype(np.int64)

    def _resize(self, capacity: int) -> None:
        used = np.flatnonzero(self._keys)
        keys, head, count = self._keys[used], self._head[used], self._count[used]
        self._keys = np.zeros(capacity, dtype=np.uint64)
        self._head = np.zeros(capacity, dtype=np.uint32)
        self._count = np.zeros(capacity, dtype=np.uint16)
        slot, _ = self._claim(keys)
        self._head[slot], self._count[slot] = head, count

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
