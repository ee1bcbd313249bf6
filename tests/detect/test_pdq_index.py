"""The multi-index PDQ search is exact: it finds what a brute-force scan finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from undertow.detect.pdq_index import PDQIndex, codes_from_hex


def random_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 32), dtype=np.uint8)


def flip(codes: np.ndarray, rng: np.random.Generator, bits: int) -> np.ndarray:
    unpacked = np.unpackbits(codes, axis=1)
    for row in unpacked:
        row[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(unpacked, axis=1)


def brute_force(db: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    words_db = db.view(np.uint64)
    out = set()
    for q, code in enumerate(queries.view(np.uint64)):
        distance = np.bitwise_count(words_db ^ code).sum(axis=1)
        out.update((q, int(i), int(distance[i])) for i in np.nonzero(distance <= radius)[0])
    return out


@pytest.mark.parametrize("radius", [0, 8, 15, 16, 24, 31])
def test_search_equals_brute_force(radius: int) -> None:
    rng = np.random.default_rng(radius)
    db = random_codes(rng, 3000)
    near = np.vstack([flip(db[i : i + 1], rng, int(rng.integers(0, 40))) for i in range(300)])
    queries = np.vstack([near, random_codes(rng, 50), db[:5]])
    index = PDQIndex(db, np.arange(3000) + 100)
    found = {(m.query, m.entry - 100, m.distance) for m in index.search(queries, radius, batch=37)}
    assert found == brute_force(db, queries, radius)


def test_incremental_add_equals_a_fresh_build() -> None:
    rng = np.random.default_rng(7)
    first, second = random_codes(rng, 500), random_codes(rng, 300)
    grown = PDQIndex(first, np.arange(500))
    grown.add(second, np.arange(500, 800))
    fresh = PDQIndex(np.vstack([first, second]), np.arange(800))
    queries = flip(np.vstack([first[:50], second[:50]]), rng, 10)
    key = lambda ms: sorted((m.query, m.entry, m.distance) for m in ms)  # noqa: E731
    assert key(grown.search(queries)) == key(fresh.search(queries))
    assert len(key(grown.search(queries))) >= 100


def test_save_and_load_round_trip_without_pickle(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    index = PDQIndex(random_codes(rng, 200), np.arange(200) * 3)
    index.save(tmp_path / "ix", {"max_entry_id": 597})
    loaded, meta = PDQIndex.load(tmp_path / "ix")
    assert meta["max_entry_id"] == 597 and meta["count"] == 200
    assert np.array_equal(loaded.codes, index.codes) and np.array_equal(loaded.ids, index.ids)
    (tmp_path / "ix" / "ids.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError):
        PDQIndex.load(tmp_path / "ix")


def test_edge_cases() -> None:
    empty = PDQIndex()
    assert empty.search(codes_from_hex(["00" * 32])) == []
    index = PDQIndex(codes_from_hex(["ff" * 32]), np.array([9]))
    assert [(m.entry, m.distance) for m in index.search(codes_from_hex(["ff" * 32]))] == [(9, 0)]
    with pytest.raises(ValueError):
        index.search(codes_from_hex(["ff" * 32]), radius=40)
    with pytest.raises(ValueError):
        PDQIndex(codes_from_hex(["ff" * 32]), np.array([1, 2]))


def test_saved_buckets_are_reused_and_damaged_ones_rebuilt(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    index = PDQIndex(random_codes(rng, 400), np.arange(400))
    index.add(random_codes(rng, 100), np.arange(400, 500))
    index.save(tmp_path / "ix")
    loaded, _ = PDQIndex.load(tmp_path / "ix")
    assert np.array_equal(loaded._order, index._order)
    queries = flip(index.codes[::50], rng, 12)
    key = lambda ms: sorted((m.query, m.entry, m.distance) for m in ms)  # noqa: E731
    assert key(loaded.search(queries)) == key(index.search(queries))
    np.save(tmp_path / "ix" / "starts.npy", np.zeros((3, 3), dtype=np.int64), allow_pickle=False)
    rebuilt, _ = PDQIndex.load(tmp_path / "ix")
    assert key(rebuilt.search(queries)) == key(index.search(queries))
