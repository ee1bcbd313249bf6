"""Near-duplicate message search by MinHash-LSH: the "copied text" evidence of copy mirrors.

Signatures are cut into `bands` bands of `rows` values; messages that agree on a whole band
are candidates, and candidates are verified by how many signature values they share (the
estimated Jaccard similarity) and by how much of the shorter text lies in the longer one
(estimated containment: a truncated copy is contained in its original).  Nothing is compared
all-pairs.  Band keys live in sorted NumPy arrays searched for a whole batch at once; each
added batch becomes a sorted segment and segments of similar size are merged, so adding stays
cheap as the index grows.  The index is saved as plain `.npy` files plus a JSON description,
never pickled, and can be opened memory-mapped.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from undertow.network.minhash import (
    F32,
    I64,
    U64,
    LshSegment,
    MinHasher,
    Signatures,
    band_keys,
    estimates,
)

FORMAT = "undertow.neardup"
FORMAT_VERSION = 1
META_FILE = "neardup.json"
PAIR_DTYPE = np.dtype([("new", "<i8"), ("old", "<i8"), ("jaccard", "<f4"), ("containment", "<f4")])
_ARRAYS = {"ids": np.int64, "values": np.uint16, "sizes": np.uint32, "keys": np.uint64,
           "rows": np.uint32}  # fmt: skip
# Pairing defaults, measured with bench/neardup_lsh.py: similar overall, or a truncated copy
# (the shorter text almost all inside the longer, and still a fair share of it).
MIN_SIMILARITY = 0.6
MIN_CONTAINMENT = 0.85
CONTAINMENT_FLOOR = 0.3
_PROBE_CHUNK = 1 << 20  # probe band keys looked up at once (about 50,000 messages)
_MAX_MERGED = 1 << 24  # messages in a segment made by merging (~6 GB of arrays)


class IndexFormatError(ValueError):
    """A saved index that cannot be used: missing, damaged, or built with other parameters."""


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
        max_bucket: int = 1000,
    ) -> None:
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"need bands * rows <= num_perm, not {bands} x {rows} > {num_perm}")
        if max_bucket < 1:
            raise ValueError("max_bucket must be >= 1")
        self.params = IndexParams(num_perm, bands, rows, shingle, unit, seed, min_chars, max_chars)
        self.hasher = self.params.hasher()
        # Boilerplate repeated millions of times would pair quadratically: a message pairs
        # with at most this many (the earliest) others per band bucket and segment.
        self.max_bucket = max_bucket
        self._segments: list[LshSegment] = []

    def __len__(self) -> int:
        return sum(len(segment) for segment in self._segments)

    @property
    def nbytes(self) -> int:
        return sum(getattr(s, f).nbytes for s in self._segments for f in _ARRAYS)

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
            self._append(LshSegment.build(ids, kept.values, kept.sizes, keys))

    def query(self, sigs: Signatures, min_similarity: float = 0.0) -> list[I64]:
        """Ids of indexed messages that share a band with each signature and agree on at least
        `min_similarity` of its values (sorted; empty for rows without a signature)."""
        rows = np.flatnonzero(sigs.has_signature)
        _, kept, keys = self._accept(np.zeros(len(sigs), dtype=np.int64), sigs)
        probe = LshSegment.build(np.zeros(len(kept), np.int64), kept.values, kept.sizes, keys)
        found: list[tuple[I64, I64]] = [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
        for segment in self._segments:
            query, other, _, _ = self._matches(probe, segment, lambda j, c: j >= min_similarity)
            found.append((query, segment.ids[other]))
        query = np.concatenate([q for q, _ in found])
        ids = np.concatenate([i for _, i in found])
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
        other (`old` earlier in the batch), each unordered pair once.

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
        for segment in [*self._segments, batch]:
            query, other, jaccard, containment = self._matches(
                batch, segment, accept, within=segment is batch
            )
            pairs = np.zeros(len(query), dtype=PAIR_DTYPE)
            pairs["new"], pairs["old"] = ids[query], segment.ids[other]
            pairs["jaccard"], pairs["containment"] = jaccard, containment
            parts.append(pairs[pairs["new"] != pairs["old"]])
        self._append(batch)
        pairs = np.concatenate(parts)
        return pairs[np.lexsort((pairs["old"], pairs["new"]))]

    def _matches(
        self,
        probe: LshSegment,
        segment: LshSegment,
        accept: Callable[[F32, F32], np.ndarray[Any, np.dtype[np.bool_]]],
        within: bool = False,
    ) -> tuple[I64, I64, F32, F32]:
        """Accepted candidate (probe row, segment row) pairs, each once, with estimates.
        `within`: the segment is the probe batch itself; pair each row with earlier ones."""
        parts: dict[str, list[np.ndarray[Any, Any]]] = {"q": [], "o": [], "j": [], "c": []}
        for lo in range(0, max(len(probe.keys), 1), _PROBE_CHUNK):  # bounds candidate arrays
            hi = lo + _PROBE_CHUNK
            query, other = segment.candidates(probe.keys[lo:hi], probe.rows[lo:hi], self.max_bucket)
            if within:
                earlier = other < query
                query, other = query[earlier], other[earlier]
            jaccard, containment = estimates(probe, query, segment, other)
            keep = accept(jaccard, containment)
            arrays: tuple[np.ndarray[Any, Any], ...] = (query, other, jaccard, containment)
            for name, array in zip("qojc", arrays, strict=True):
                parts[name].append(array[keep])
        query, other, jaccard, containment = (np.concatenate(parts[name]) for name in "qojc")
        # Verified before de-duplicating: a chance candidate rarely shares more than one band,
        # so sorting only the few accepted pairs is far cheaper than sorting all candidates.
        pair = query * len(segment) + other
        order = np.argsort(pair, kind="stable")
        fresh = np.ones(len(order), dtype=bool)
        fresh[1:] = pair[order][1:] != pair[order][:-1]
        unique = order[fresh]
        return query[unique], other[unique], jaccard[unique], containment[unique]

    def _append(self, segment: LshSegment) -> None:
        self._segments.append(segment)
        # Keep segment sizes geometric (each >= 4x the next): O(log n) segments to search,
        # and every message is re-merged O(log n) times; past _MAX_MERGED messages segments
        # stay apart, which bounds the time and memory of one merge.
        segments = self._segments
        while (
            len(segments) > 1
            and len(segments[-2]) < 4 * len(segments[-1])
            and len(segments[-2]) + len(segments[-1]) <= _MAX_MERGED
        ):
            last = segments.pop()
            segments[-1] = LshSegment.merge(segments[-1], last)

    def compact(self) -> None:
        """Merge all segments into one (fastest to search; rewrites everything on save)."""
        while len(self._segments) > 1:
            last = self._segments.pop()
            self._segments[-1] = LshSegment.merge(self._segments[-1], last)

    # -- persistence ------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the index to `folder` (created; an earlier index there is replaced).

        Segments already saved in `folder` are kept as they are, so saving after adding a
        batch writes only the new and merged segments.  The JSON file is written last and
        atomically, then files it no longer names are removed."""
        folder = Path(folder)
        meta_path = folder / META_FILE
        if folder.exists() and any(folder.iterdir()) and not meta_path.exists():
            raise IndexFormatError(f"{folder} is not empty and holds no near-duplicate index")
        folder.mkdir(parents=True, exist_ok=True)
        here = folder.resolve()
        listed: list[dict[str, Any]] = []
        for segment in self._segments:
            if (
                segment.folder != here
                or segment.name is None
                or not _complete(folder, segment.name)
            ):
                name = f"seg-{uuid.uuid4().hex[:16]}"
                for field, dtype in _ARRAYS.items():
                    _write_array(folder / f"{name}.{field}.npy", getattr(segment, field), dtype)
                segment.name, segment.folder = name, here
            listed.append({"name": segment.name, "count": len(segment)})
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "family": self.hasher.family,
                "params": asdict(self.params), "count": len(self), "segments": listed}  # fmt: skip
        tmp = folder / f".{META_FILE}.tmp"
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, meta_path)
        names = {entry["name"] for entry in listed}
        for path in folder.glob("seg-*.npy"):
            if path.name.split(".")[0] not in names:
                path.unlink()

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        expect: IndexParams | None = None,
        mmap: bool = False,
        max_bucket: int = 1000,
    ) -> NearDuplicateIndex:
        """The index saved in `folder`; IndexFormatError if it is missing or damaged, or its
        parameters differ from `expect`.  `mmap` maps the arrays instead of reading them."""
        folder = Path(folder)
        meta = _read_meta(folder)
        params = _params(folder, meta)
        if expect is not None and expect != params:
            differ = [f.name for f in fields(IndexParams)
                      if getattr(expect, f.name) != getattr(params, f.name)]  # fmt: skip
            raise IndexFormatError(
                f"{folder}: index built with other parameters ({', '.join(differ)}): "
                f"saved {asdict(params)}, expected {asdict(expect)}; rebuild it or load it as is"
            )
        index = cls(**asdict(params), max_bucket=max_bucket)
        if meta.get("family") != index.hasher.family:
            raise IndexFormatError(
                f"{folder}: signatures are {meta.get('family')!r} but this version of Undertow "
                f"computes {index.hasher.family!r}; rebuild the index"
            )
        here = folder.resolve()
        for entry in _list(meta.get("segments"), folder):
            segment = _load_segment(folder, entry, params, mmap)
            segment.name, segment.folder = entry["name"], here
            index._segments.append(segment)
        if len(index) != meta.get("count"):
            raise IndexFormatError(
                f"{folder}: segments hold {len(index)} messages, not {meta.get('count')}"
            )
        return index


def _complete(folder: Path, name: str) -> bool:
    return all((folder / f"{name}.{field}.npy").is_file() for field in _ARRAYS)


def _write_array(path: Path, array: np.ndarray[Any, Any], dtype: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        np.save(out, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)
    os.replace(tmp, path)


def _read_meta(folder: Path) -> dict[str, Any]:
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


def _list(segments: Any, folder: Path) -> Iterator[dict[str, Any]]:
    if not isinstance(segments, list):
        raise IndexFormatError(f"{folder}: {META_FILE} has no segment list")
    for entry in segments:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and entry["name"].startswith("seg-") and entry["name"].isascii()
                and "/" not in entry["name"] and isinstance(entry.get("count"), int)):  # fmt: skip
            raise IndexFormatError(f"{folder}: bad segment entry {entry!r} in {META_FILE}")
        yield entry


def _load_segment(
    folder: Path, entry: dict[str, Any], params: IndexParams, mmap: bool
) -> LshSegment:
    n, name = entry["count"], entry["name"]
    shapes = {"ids": (n,), "values": (n, params.num_perm), "sizes": (n,),
              "keys": (n * params.bands,), "rows": (n * params.bands,)}  # fmt: skip
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for field, dtype in _ARRAYS.items():
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
