"""Near-duplicate message search by MinHash-LSH: the "copied text" evidence of copy mirrors.

Signatures are cut into `bands` bands of `rows` values; messages that agree on a whole band
are candidates, and candidates are verified by how many signature values they share (the
estimated Jaccard similarity) and by how much of the shorter text lies in the longer one
(estimated containment: a truncated copy is contained in its original).  Nothing is compared
all-pairs.  A hash table (`band_table.py`) maps each band key to the messages holding it, so
a whole batch is looked up at a cost per key that does not grow with the index; adding n
messages costs O(n).  The index is saved as plain arrays in message order, appended to at
each save, plus a JSON description (`neardup_files.py`), never pickled; the table is rebuilt
from the saved band keys on load.  Nothing but the table is kept in key order (decision 72).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from undertow.network.band_table import BandTable
from undertow.network.lsh_segment import LshSegment, estimates
from undertow.network.minhash import F32, I64, U64, MinHasher, Signatures, band_keys
from undertow.network.neardup_files import (
    META_FILE,
    IndexFormatError,
    Saved,
    current,
    open_saved,
    read_meta,
    widths,
    write_index,
)

__all__ = ["META_FILE", "PAIR_DTYPE", "IndexFormatError", "IndexParams", "NearDuplicateIndex"]

PAIR_DTYPE = np.dtype([("new", "<i8"), ("old", "<i8"), ("jaccard", "<f4"), ("containment", "<f4")])
# Pairing defaults, measured with bench/neardup_lsh.py: similar overall, or a truncated copy
# (the shorter text almost all inside the longer, and still a fair share of it).
MIN_SIMILARITY = 0.6
MIN_CONTAINMENT = 0.85
CONTAINMENT_FLOOR = 0.3
_PROBE_CHUNK = 1 << 20  # probe band keys looked up at once (about 50,000 messages)


@dataclass(frozen=True, slots=True)
class IndexParams:
    """What decides an index's contents; an index only accepts signatures of its own hasher.

    The defaults come from measurements on the simulator (bench/neardup_lsh.py, 1M messages):
    3-word shingles, 64 permutations and 21 bands of 3 rows (an S-curve centred near Jaccard
    0.36) find ~98 % of copy pairs, truncated copies included, while character shingles or
    fewer bands either miss truncated copies or verify many times more chance candidates.
    Texts under 30 clean characters (templated one-liners such as "join the room on matrix"
    once links are dropped) get no signature."""

    num_perm: int = 64
    bands: int = 21
    rows: int = 3
    shingle: int = 3
    unit: Literal["word", "char"] = "word"
    seed: int = 1
    min_chars: int = 30
    max_chars: int = 20_000

    def hasher(self) -> MinHasher:
        return MinHasher(self.num_perm, self.shingle, self.seed, unit=self.unit,
                         min_chars=self.min_chars, max_chars=self.max_chars)  # fmt: skip


class NearDuplicateIndex:
    """Incremental MinHash-LSH index over message signatures; ids are `messages.id`."""

    def __init__(
        self,
        num_perm: int = 64,
        bands: int = 21,
        rows: int = 3,
        *,
        shingle: int = 3,
        unit: Literal["word", "char"] = "word",
        seed: int = 1,
        min_chars: int = 30,
        max_chars: int = 20_000,
        max_bucket: int = 32,
        max_partners: int = 32,
    ) -> None:
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"need bands * rows <= num_perm, not {bands} x {rows} > {num_perm}")
        if max_bucket < 1:
            raise ValueError("max_bucket must be >= 1")
        if max_partners < 1:
            raise ValueError("max_partners must be >= 1")
        self.params = IndexParams(num_perm, bands, rows, shingle, unit, seed, min_chars, max_chars)
        self.hasher = self.params.hasher()
        # A band key shared by ever more messages (boilerplate, common phrases) would make
        # each lookup cost a share of the index: a probe reads at most this many rows of a key,
        # the earliest.  As many as a message keeps partners: later rows could only displace
        # those, so recall is unchanged (bench/neardup_lsh.py) and lookups stay flat.
        self.max_bucket = max_bucket
        # A text copied by hundreds of channels forms a clique in which every new copy pairs
        # with all earlier ones, so its pairs grow quadratically: a new message keeps at most
        # this many partners, the earliest, which still link every copy to the first one.
        self.max_partners = max_partners
        # What is saved, and the band keys of the messages added since: kept only to be saved,
        # since lookups go through the table and verification through the arrays below.
        self._saved: Saved | None = None
        self._open_keys: list[U64] = []
        self._table = BandTable(max_bucket)
        self._count = 0
        self._all = LshSegment(np.zeros(0, np.int64), np.zeros((0, num_perm), np.uint16),
                               np.zeros(0, np.uint32), np.zeros(0, np.uint64),
                               np.zeros(0, np.uint32))  # fmt: skip

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        arrays: list[np.ndarray[Any, Any]] = [self._all.ids, self._all.values, self._all.sizes]
        return sum(a.nbytes for a in [*arrays, *self._open_keys]) + self._table.nbytes

    def reserve(self, messages: int) -> None:
        """Make room for about `messages` more messages (a bulk load of known size): the
        arrays of all messages and the band table are sized once instead of doubling as they
        fill.  Three in five of their band keys are taken to be new (measured on the
        simulator: 55 %); where more are, the table still grows when it must."""
        if messages <= 0:
            return
        keys = messages * self.params.bands
        self._table.reserve(keys, keys * 3 // 5)
        self._grow_all(self._count + messages)

    def signatures(self, texts: Sequence[str]) -> Signatures:
        return self.hasher.signatures(texts)

    def _accept(self, ids: Any, sigs: Signatures) -> tuple[I64, Signatures, U64]:
        """Checked ids and signatures, without rows that have no signature, and band keys."""
        if not isinstance(sigs, Signatures) or sigs.family != self.hasher.family:
            family = getattr(sigs, "family", type(sigs).__name__)
            raise ValueError(f"signatures of {family!r}; this index takes {self.hasher.family!r}")
        ids = np.asarray(ids)
        if ids.ndim != 1 or len(ids) != len(sigs) or (len(ids) and ids.dtype.kind not in "iu"):
            raise ValueError("ids must be a 1-D integer array, one per signature")
        if sigs.values.shape != (len(sigs), self.params.num_perm):
            raise ValueError(f"signature values must have shape (n, {self.params.num_perm})")
        keep = sigs.has_signature
        kept = sigs.take(keep)
        values = np.ascontiguousarray(kept.values, dtype=np.uint32)
        kept = Signatures(values, kept.sizes.astype(np.uint32), kept.family)
        keys = band_keys(values, self.params.bands, self.params.rows)
        return ids[keep].astype(np.int64), kept, keys

    def add(self, ids: Any, sigs: Signatures) -> None:
        """Index messages `ids` (rows without a signature are skipped)."""
        ids, kept, keys = self._accept(ids, sigs)
        if len(ids):
            self._append(LshSegment.build(ids, kept.values, kept.sizes, keys), keys)

    def query(self, sigs: Signatures, min_similarity: float = 0.0) -> list[I64]:
        """Ids of indexed messages that share a band with each signature and agree on at least
        `min_similarity` of its values (sorted; empty for rows without a signature)."""
        rows = np.flatnonzero(sigs.has_signature)
        _, kept, keys = self._accept(np.zeros(len(sigs), dtype=np.int64), sigs)
        probe = LshSegment.build(np.zeros(len(kept), np.int64), kept.values, kept.sizes, keys)
        query, other, _, _ = self._matches(probe, None, lambda j, c: j >= min_similarity)
        ids = self._all.ids[other]
        order = np.lexsort((ids, query))
        query, ids = query[order], ids[order]
        bounds = np.searchsorted(query, np.arange(len(rows) + 1))
        out = [np.zeros(0, dtype=np.int64) for _ in range(len(sigs))]
        for at, row in enumerate(rows):
            out[row] = np.unique(ids[bounds[at] : bounds[at + 1]])
        return out

    def add_and_pair(
        self,
        ids: Any,
        sigs: Signatures,
        min_similarity: float = MIN_SIMILARITY,
        *,
        min_containment: float | None = MIN_CONTAINMENT,
        containment_floor: float = CONTAINMENT_FLOOR,
    ) -> np.ndarray[Any, np.dtype[np.void]]:
        """Add messages and return their near-duplicate pairs (PAIR_DTYPE: new id, old id,
        estimated Jaccard, estimated containment) with messages added before and with each
        other (`old` earlier in the batch), each unordered pair once, and at most
        `max_partners` pairs per new message (those with the lowest old ids).

        A candidate pair is kept when its estimated Jaccard is >= `min_similarity`, or when
        the shorter text is >= `min_containment` inside the longer one and their Jaccard is
        still >= `containment_floor` (a truncated copy)."""
        ids, kept, keys = self._accept(ids, sigs)
        if not len(ids):
            return np.zeros(0, dtype=PAIR_DTYPE)

        def accept(jaccard: F32, containment: F32) -> np.ndarray[Any, np.dtype[np.bool_]]:
            keep = jaccard >= min_similarity
            if min_containment is not None:
                keep |= (containment >= min_containment) & (jaccard >= containment_floor)
            return keep

        batch = LshSegment.build(ids, kept.values, kept.sizes, keys)
        parts = []
        for segment in [None, batch]:  # everything added before, then the batch itself
            query, other, jaccard, containment = self._matches(batch, segment, accept)
            pairs = np.zeros(len(query), dtype=PAIR_DTYPE)
            known = self._all if segment is None else segment
            pairs["new"], pairs["old"] = ids[query], known.ids[other]
            pairs["jaccard"], pairs["containment"] = jaccard, containment
            parts.append(pairs[pairs["new"] != pairs["old"]])
        self._append(batch, keys)
        pairs = np.concatenate(parts)
        pairs = pairs[np.lexsort((pairs["old"], pairs["new"]))]
        # Rank of each pair within its new message's run: keep the earliest max_partners.
        first = np.concatenate(([True], pairs["new"][1:] != pairs["new"][:-1]))
        starts = np.flatnonzero(first)
        rank = np.arange(len(pairs)) - np.repeat(starts, np.diff(np.append(starts, len(pairs))))
        return pairs[rank < self.max_partners]

    def _matches(
        self,
        probe: LshSegment,
        segment: LshSegment | None,
        accept: Callable[[F32, F32], np.ndarray[Any, np.dtype[np.bool_]]],
    ) -> tuple[I64, I64, F32, F32]:
        """Accepted candidate (probe row, row) pairs, each once, with estimates: rows of
        everything indexed (`segment` None), or of the probe batch itself (`segment` is the
        probe), each row paired with earlier ones."""
        other_side = self._all if segment is None else segment
        parts: dict[str, list[np.ndarray[Any, Any]]] = {"q": [], "o": [], "j": [], "c": []}
        keys = probe.keys
        starts = np.flatnonzero(np.concatenate(([len(keys) > 0], keys[1:] != keys[:-1])))
        for lo in range(0, max(len(probe.keys), 1), _PROBE_CHUNK):  # bounds candidate arrays
            hi = lo + _PROBE_CHUNK
            if segment is None:
                query, other = self._indexed(probe, starts, lo, hi)
            else:
                query, other = segment.candidates(
                    probe.keys[lo:hi], probe.rows[lo:hi], self.max_bucket
                )
                earlier = other < query
                query, other = query[earlier], other[earlier]
            jaccard, containment = estimates(probe, query, other_side, other)
            keep = accept(jaccard, containment)
            arrays: tuple[np.ndarray[Any, Any], ...] = (query, other, jaccard, containment)
            for name, array in zip("qojc", arrays, strict=True):
                parts[name].append(array[keep])
        query, other, jaccard, containment = (np.concatenate(parts[name]) for name in "qojc")
        # Verified before de-duplicating: a chance candidate rarely shares more than one band,
        # so sorting only the few accepted pairs is far cheaper than sorting all candidates.
        pair = query * max(len(other_side), 1) + other
        order = np.argsort(pair, kind="stable")
        fresh = np.ones(len(order), dtype=bool)
        fresh[1:] = pair[order][1:] != pair[order][:-1]
        unique = order[fresh]
        return query[unique], other[unique], jaccard[unique], containment[unique]

    def _indexed(self, probe: LshSegment, starts: I64, lo: int, hi: int) -> tuple[I64, I64]:
        """(probe row, row) for the probe's band keys in [lo, hi) found in the table: each
        probe entry with the first `max_bucket` rows holding its key."""
        first = int(np.searchsorted(starts, lo))
        runs = starts[first : np.searchsorted(starts, hi)]
        if not len(runs):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        after = first + len(runs)  # a run begun here is taken whole, past `hi` if need be
        ends = np.append(runs[1:], starts[after] if after < len(starts) else len(probe.keys))
        which, rows = self._table.lookup(probe.keys[runs])
        # A key held by several probe entries pairs each of them with its rows.
        width = (ends - runs)[which]
        at = np.repeat(runs[which] - (np.cumsum(width) - width), width) + np.arange(width.sum())
        return probe.rows[at].astype(np.int64), np.repeat(rows, width)

    def _append(self, segment: LshSegment, keys: U64) -> None:
        """Add a batch: its sorted band keys to the table, its ids, values and sizes to the
        arrays of all messages, and its band keys (message order) to those to be saved."""
        self._table.add(segment.keys, segment.rows + np.uint32(self._count))
        self._extend(segment.ids, segment.values, segment.sizes)
        self._open_keys.append(keys)

    def _extend(self, ids: I64, values: np.ndarray[Any, Any], sizes: np.ndarray[Any, Any]) -> None:
        """Append to the arrays of all messages (their capacity doubles, so each message is
        copied O(1) times on average)."""
        n, new = self._count, len(ids)
        if n + new > len(self._all.ids):
            self._grow_all(max(n + new, 2 * len(self._all.ids), 1024))
        self._all.ids[n : n + new] = ids
        self._all.values[n : n + new] = values
        self._all.sizes[n : n + new] = sizes
        self._count = n + new

    def _grow_all(self, capacity: int) -> None:
        """Give the arrays of all messages room for `capacity` messages."""
        if capacity <= len(self._all.ids):
            return
        for name in ("ids", "values", "sizes"):
            old = getattr(self._all, name)
            grown = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            grown[: self._count] = old[: self._count]
            setattr(self._all, name, grown)

    # -- persistence ------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the index to `folder` (created; an earlier index there is replaced).

        Where `folder` holds this index as last saved or loaded, only the messages added
        since are appended; otherwise everything is written anew.  The JSON file is written
        last and atomically, then files it no longer names are removed."""
        folder = Path(folder)
        saved = self._saved
        appending = (
            saved is not None
            and folder.exists()
            and saved.folder == folder.resolve()
            and current(folder) == (saved.generation, saved.count)
        )
        start = saved.count if appending and saved else 0
        keys = list(self._open_keys)
        if saved is not None and not appending and saved.count:
            keys.insert(0, saved.read("keys", mapped=True))  # kept only in the files so far
        span = slice(start, self._count)
        rows: dict[str, np.ndarray[Any, Any]] = {
            "ids": self._all.ids[span],
            "values": self._all.values[span],
            "sizes": self._all.sizes[span],
            "keys": np.concatenate(keys) if keys else np.zeros((0, self.params.bands)),
        }
        description = {"family": self.hasher.family, "params": asdict(self.params)}
        row_widths = widths(self.params.num_perm, self.params.bands)
        base = saved if appending else None
        self._saved = write_index(folder, base, rows, description, self._count, row_widths)
        self._open_keys = []

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        expect: IndexParams | None = None,
        max_bucket: int = 32,
        max_partners: int = 32,
    ) -> NearDuplicateIndex:
        """The index saved in `folder`; IndexFormatError if it is missing or damaged, or its
        parameters differ from `expect`.  Signatures are read into memory; the band table is
        rebuilt from the saved band keys, sorted 50,000 messages at a time."""
        folder = Path(folder)
        meta = read_meta(folder)
        params = _params(folder, meta)
        if expect is not None and expect != params:
            differ = [f.name for f in fields(IndexParams)
                      if getattr(expect, f.name) != getattr(params, f.name)]  # fmt: skip
            raise IndexFormatError(
                f"{folder}: index built with other parameters ({', '.join(differ)}): "
                f"saved {asdict(params)}, expected {asdict(expect)}; rebuild it or load it as is"
            )
        index = cls(**asdict(params), max_bucket=max_bucket, max_partners=max_partners)
        if meta.get("family") != index.hasher.family:
            raise IndexFormatError(
                f"{folder}: signatures are {meta.get('family')!r} but this version of Undertow "
                f"computes {index.hasher.family!r}; rebuild the index"
            )
        saved = open_saved(folder, meta, widths(params.num_perm, params.bands))
        index.reserve(saved.count)
        keys = saved.read("keys", mapped=True)
        step = max(1, _PROBE_CHUNK // params.bands)
        for lo in range(0, saved.count, step):  # sorted a part at a time, oldest first
            flat = np.ravel(keys[lo : lo + step])
            order = np.argsort(flat, kind="stable")
            index._table.add(flat[order], (order // params.bands + lo).astype(np.uint32))
        del keys
        index._extend(saved.read("ids"), saved.read("values"), saved.read("sizes"))
        index._saved = saved
        return index


def _params(folder: Path, meta: dict[str, Any]) -> IndexParams:
    stored = meta.get("params")
    names = {f.name for f in fields(IndexParams)}
    if not isinstance(stored, dict) or set(stored) != names:
        raise IndexFormatError(
            f"{folder}: {META_FILE} must list exactly the parameters {sorted(names)}"
        )
    try:
        params = IndexParams(**stored)
        params.hasher()
        NearDuplicateIndex(**asdict(params))
    except (TypeError, ValueError) as error:
        raise IndexFormatError(f"{folder}: invalid parameters {stored}: {error}") from error
    return params
