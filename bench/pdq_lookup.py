"""PDQ bank lookup: Undertow's multi-index PDQ search versus python-threatexchange's PDQIndex.

Same run, same data: a bank of random PDQ hashes (1M by default), 10,000 queries (half
near-duplicates 0-30 bits from bank entries, half random), every match within distance 31.
Reports queries/s of both (ours single-threaded and on all cores), whether both return exactly
the same matches (recall), build times, and the index's memory for 1M and 10M entries (each
size measured in a fresh child process).  Writes bench/results/pdq_lookup.json.

    python bench/pdq_lookup.py [--entries 1000000] [--queries 10000] [--large 10000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from undertow.detect.pdq_index import Match, PDQIndex

from common import write_result


def make_data(entries: int, queries: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bank = rng.integers(0, 256, (entries, 32), dtype=np.uint8)
    half = queries // 2
    bits = np.unpackbits(bank[rng.integers(0, entries, half)], axis=1)
    for row in bits:
        row[rng.choice(256, int(rng.integers(0, 31)), replace=False)] ^= 1
    near = np.packbits(bits, axis=1)
    return bank, np.vstack([near, rng.integers(0, 256, (queries - half, 32), dtype=np.uint8)])


def search_threads(index: PDQIndex, queries: np.ndarray, threads: int) -> list[Match]:
    parts = np.array_split(queries, threads * 4)
    offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
    with ThreadPoolExecutor(threads) as pool:
        results = pool.map(lambda p: index.search(p, 31), parts)
        return [
            Match(m.query + int(o), m.entry, m.distance)
            for o, ms in zip(offsets, results, strict=True)
            for m in ms
        ]


def measure_size(entries: int) -> dict[str, float]:
    """Build time and memory of our index in a fresh process (so RSS is its own)."""
    code = f"""
import json, time, numpy as np
from undertow.detect.pdq_index import PDQIndex
def hwm():  # peak RSS of this process in MB (VmHWM is reset by exec, unlike ru_maxrss)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
rng = np.random.default_rng(2)
codes = rng.integers(0, 256, ({entries}, 32), dtype=np.uint8)
ids = np.arange({entries})
before = hwm()
t = time.perf_counter()
index = PDQIndex(codes, ids)
build = time.perf_counter() - t
queries = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
t = time.perf_counter()
index.search(queries, 31)
search = time.perf_counter() - t
print(json.dumps({{"build_s": build, "index_mb": index.nbytes / 2**20, "peak_rss_mb": hwm(),
    "rss_before_build_mb": before, "qps_2000_random_queries": 2000 / search}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {k: round(v, 2) for k, v in json.loads(out.stdout).items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    args = parser.parse_args()
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex as PytxIndex

    bank, queries = make_data(args.entries, args.queries)
    hexes = [row.tobytes().hex() for row in bank]
    query_hexes = [row.tobytes().hex() for row in queries]

    started = time.perf_counter()
    peer = PytxIndex.build([(h, i) for i, h in enumerate(hexes)])
    peer_build = time.perf_counter() - started
    started = time.perf_counter()
    peer_found = {
        (q, m.metadata, m.similarity_info.distance)
        for q, h in enumerate(query_hexes)
        for m in peer.query(h)
    }
    peer_s = time.perf_counter() - started
    del peer

    started = time.perf_counter()
    ours = PDQIndex(bank, np.arange(len(bank)))
    our_build = time.perf_counter() - started
    started = time.perf_counter()
    single = ours.search(queries, 31)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    threaded = search_threads(ours, queries, 2)
    threaded_s = time.perf_counter() - started
    ours_found = {(m.query, m.entry, m.distance) for m in single}
    assert ours_found == {(m.query, m.entry, m.distance) for m in threaded}

    near_half = args.queries // 2
    result = {
        "peer": "threatexchange PDQIndex (faiss IndexBinaryMultiHash, one query at a time)",
        "entries": args.entries,
        "queries": args.queries,
        "matches_ours": len(ours_found),
        "matches_peer": len(peer_found),
        "identical_results": ours_found == peer_found,
        "near_duplicates_found_ours": len({q for q, _, _ in ours_found if q < near_half}),
        "peer_build_s": round(peer_build, 2),
        "peer_qps": round(args.queries / peer_s),
        "ours_build_s": round(our_build, 2),
        "ours_qps_1_thread": round(args.queries / single_s),
        "ours_qps_2_threads": round(args.queries / threaded_s),
        "speedup_1_thread": round(peer_s / single_s, 2),
        "speedup_2_threads": round(peer_s / threaded_s, 2),
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "goal": ">= 2x the peer's queries/s at identical recall; < 2 GB at 10M entries",
        "size_1m": measure_size(1_000_000),
    }
    if args.large:
        result[f"size_{args.large // 1_000_000}m"] = measure_size(args.large)
    write_result("pdq_lookup", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
