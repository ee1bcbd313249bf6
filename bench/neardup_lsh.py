"""Near-duplicate text search on the simulator's messages: our MinHash-LSH index against
datasketch's MinHashLSH, on one core.

A simulated world (default scale 210: ~1,000,000 regular messages, written once into
bench/work/ and cached) gives texts in time order and, from truth_messages.jsonl, which
messages are copies or forwards of which original.  Both sides get the same cleaned texts
(`signed_text`, as the stage signs them; timed once and reported apart), the same 3-word
shingles, 64 permutations, 21 bands of 3 rows and the same verification rule (estimated
Jaccard >= 0.6, or containment >= 0.85 with Jaccard >= 0.3); messages are added in batches
and paired with everything before them.  datasketch gets its fastest documented path
(`MinHash.bulk`, an insertion session, one `query` per message) and our vectorised NumPy
verification of its candidates.

Timed per side: signatures + insert + query + verification.  Quality: recall of true
copy pairs (copy-mirror message <-> its original, both long enough to have a signature) and
precision (pairs whose two messages do not reproduce the same original count as false).
Both sides run on a sample (all messages of a random 10 % of originals, ~100k), once per
permutation seed (recall moves by about +-0.1 point with the permutations drawn, so one seed
cannot tell the sides apart), and on everything (datasketch with seed 1 only: ~5 minutes).

    python bench/neardup_lsh.py [--scale 210] [--sample 0.1] [--repeat 9] [--full-seeds 3]
                                [--skip-datasketch-full]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from datasketch import MinHash, MinHashLSH

from undertow.network.minhash import signed_text
from undertow.network.neardup import PAIR_DTYPE, NearDuplicateIndex
from undertow.simulate import simulate_world

from common import WORK, write_result

SEED = 23
NUM_PERM, BANDS, ROWS, SHINGLE, MIN_CHARS = 64, 21, 3, 3, 30
MIN_SIMILARITY, MIN_CONTAINMENT, CONTAINMENT_FLOOR = 0.6, 0.85, 0.3


@dataclass
class Corpus:
    texts: list[str]  # regular messages in time order
    root: np.ndarray[Any, Any]  # id of the original each message reproduces (itself if none)
    copy: np.ndarray[Any, Any]  # message is a copy-mirror's copy
    original: np.ndarray[Any, Any]  # message is an original (no origin)

    def take(self, rows: np.ndarray[Any, Any]) -> Corpus:
        return Corpus(
            [self.texts[i] for i in rows], self.root[rows], self.copy[rows], self.original[rows]
        )


def load_corpus(scale: int) -> Corpus:
    cache = WORK / f"neardup-corpus-{SEED}-{scale}.json"
    if not cache.exists():
        world = WORK / f"neardup-world-{scale}"
        if not (world / "truth_messages.jsonl").exists():
            simulate_world(world, seed=SEED, scale=scale)
        cache.write_bytes(orjson.dumps(parse_world(world)))
    data = orjson.loads(cache.read_bytes())
    order = np.argsort(np.array(data["when"]), kind="stable")
    return Corpus(
        [data["texts"][i] for i in order],
        np.array(data["root"])[order],
        np.array(data["copy"])[order],
        np.array(data["original"])[order],
    )


def parse_world(world: Path) -> dict[str, list[Any]]:
    labels: dict[tuple[str, int], tuple[tuple[str, int] | None, str | None]] = {}
    with (world / "truth_messages.jsonl").open("rb") as lines:
        for line in lines:
            row = orjson.loads(line)
            origin = row["origin"]
            labels[(row["channel_id"], row["message_id"])] = (
                (origin["channel_id"], origin["message_id"]) if origin else None,
                row["method"],
            )
    roots: dict[tuple[str, int], int] = {}
    out: dict[str, list[Any]] = {"texts": [], "when": [], "root": [], "copy": [], "original": []}
    for path in sorted((world / "exports").glob("*/result.json")):
        chat = orjson.loads(path.read_bytes())
        channel = f"telegram:{chat['id']}"
        for message in chat["messages"]:
            if message.get("type") != "message":
                continue
            text = message.get("text", "")
            if isinstance(text, list):
                text = "".join(p if isinstance(p, str) else p.get("text", "") for p in text)
            origin, method = labels[(channel, message["id"])]
            out["texts"].append(text)
            out["when"].append(int(message["date_unixtime"]))
            out["root"].append(roots.setdefault(origin or (channel, message["id"]), len(roots)))
            out["copy"].append(method == "copy")
            out["original"].append(origin is None)
    return out


def accept(jaccard: np.ndarray[Any, Any], containment: np.ndarray[Any, Any]) -> Any:
    return (jaccard >= MIN_SIMILARITY) | (
        (containment >= MIN_CONTAINMENT) & (jaccard >= CONTAINMENT_FLOOR)
    )


def run_ours(
    cleaned: list[str], batch: int, seed: int = 1
) -> tuple[np.ndarray[Any, Any], dict[str, float]]:
    index = NearDuplicateIndex(
        NUM_PERM, BANDS, ROWS, shingle=SHINGLE, min_chars=MIN_CHARS, seed=seed
    )
    cpu, wall = time.process_time(), time.perf_counter()
    sigs = index.hasher.signatures_of_clean(cleaned)
    sig_cpu = time.process_time() - cpu
    ids = np.arange(len(cleaned), dtype=np.int64)
    parts = [
        index.add_and_pair(
            ids[lo : lo + batch],
            sigs.take(slice(lo, lo + batch)),
            MIN_SIMILARITY,
            min_containment=MIN_CONTAINMENT,
            containment_floor=CONTAINMENT_FLOOR,
        )
        for lo in range(0, len(cleaned), batch)
    ]
    times = {
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "signatures_cpu_s": sig_cpu,
        "index_bytes": index.nbytes,
    }
    return np.concatenate(parts), times


def shingles(text: str) -> list[bytes]:
    words = text.split(" ")
    if len(words) < SHINGLE:
        return [text.encode()]
    return [" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)]


def run_datasketch(
    cleaned: list[str], batch: int, seed: int = 1
) -> tuple[np.ndarray[Any, Any], dict[str, float]]:
    cpu, wall = time.process_time(), time.perf_counter()
    rows = [i for i, text in enumerate(cleaned) if len(text) >= MIN_CHARS]
    sets = [shingles(cleaned[i]) for i in rows]
    sizes = np.array([len(set(s)) for s in sets], dtype=np.float32)
    minhashes = MinHash.bulk(sets, num_perm=NUM_PERM, seed=seed)
    sig_cpu = time.process_time() - cpu
    values = np.stack([m.hashvalues for m in minhashes])
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    parts = []
    for lo in range(0, len(rows), batch):
        with lsh.insertion_session() as session:
            for k in range(lo, min(lo + batch, len(rows))):
                session.insert(k, minhashes[k], check_duplication=False)
        found = [lsh.query(minhashes[k]) for k in range(lo, min(lo + batch, len(rows)))]
        counts = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
        query = np.repeat(np.arange(lo, lo + len(found)), counts)
        other = np.fromiter((c for keys in found for c in keys), dtype=np.int64, count=len(query))
        earlier = other < query
        query, other = query[earlier], other[earlier]
        jaccard = (values[query] == values[other]).sum(axis=1) / np.float32(NUM_PERM)
        a, b = sizes[query], sizes[other]
        containment = np.minimum(jaccard * (a + b) / (1 + jaccard) / np.minimum(a, b), 1)
        keep = accept(jaccard, containment)
        pairs = np.zeros(int(keep.sum()), dtype=PAIR_DTYPE)
        ids = np.array(rows, dtype=np.int64)
        pairs["new"], pairs["old"] = ids[query[keep]], ids[other[keep]]
        pairs["jaccard"], pairs["containment"] = jaccard[keep], containment[keep]
        parts.append(pairs)
    times = {
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "signatures_cpu_s": sig_cpu,
    }
    return np.concatenate(parts), times


def quality(corpus: Corpus, cleaned: list[str], pairs: np.ndarray[Any, Any]) -> dict[str, Any]:
    has = np.fromiter((len(t) >= MIN_CHARS for t in cleaned), dtype=bool, count=len(cleaned))
    original_of = np.full(int(corpus.root.max()) + 1, -1)
    original_of[corpus.root[corpus.original]] = np.flatnonzero(corpus.original)
    copies = np.flatnonzero(corpus.copy & has)
    origin = original_of[corpus.root[copies]]
    ok = (origin >= 0) & has[np.maximum(origin, 0)]
    truth = set(zip(copies[ok].tolist(), origin[ok].tolist(), strict=True))
    found = set(zip(pairs["new"].tolist(), pairs["old"].tolist(), strict=True))
    found |= {(b, a) for a, b in found}
    true = corpus.root[pairs["new"]] == corpus.root[pairs["old"]]
    same_text = np.array(
        [cleaned[a] == cleaned[b] for a, b in zip(pairs["new"], pairs["old"], strict=True)]
    )
    # Are reported pairs really that similar?  Exact shingle sets of a sample of pairs.
    picked = np.random.default_rng(0).permutation(len(pairs))[:20_000]
    exact = np.array([_exact(cleaned[pairs["new"][k]], cleaned[pairs["old"][k]]) for k in picked])
    return {
        "true_copy_pairs": len(truth),
        "recall": round(len(truth & found) / max(len(truth), 1), 4),
        "pairs": len(pairs),
        "precision": round(float(true.mean()) if len(pairs) else 1.0, 4),
        "false_pairs": int((~true).sum()),
        "false_pairs_with_identical_clean_text": int((~true & same_text).sum()),
        "sampled_pairs_meeting_the_rule_exactly": round(
            float(accept(exact[:, 0], exact[:, 1]).mean()) if len(exact) else 1.0, 4
        ),
    }


def _exact(a: str, b: str) -> tuple[float, float]:
    """Exact Jaccard similarity and containment of two texts' shingle sets."""
    x, y = set(shingles(a)), set(shingles(b))
    shared = len(x & y)
    return shared / len(x | y), shared / min(len(x), len(y))


def throughput(n: int, times: dict[str, float]) -> dict[str, float]:
    return {
        "messages_per_cpu_s": round(n / times["cpu_s"]),
        "cpu_s": round(times["cpu_s"], 2),
        "wall_s": round(times["wall_s"], 2),
        "signatures_cpu_s": round(times["signatures_cpu_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=210)
    parser.add_argument("--sample", type=float, default=0.1, help="share of originals sampled")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9, help="seeds on the sample")
    parser.add_argument("--full-seeds", type=int, default=3, help="seeds for ours on all")
    parser.add_argument("--skip-datasketch-full", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core for both sides

    corpus = load_corpus(args.scale)
    cpu = time.process_time()
    cleaned = [signed_text(text) for text in corpus.texts]
    clean_cpu = time.process_time() - cpu
    n = len(cleaned)

    rng = np.random.default_rng(SEED)
    chosen = rng.random(int(corpus.root.max()) + 1) < args.sample
    rows = np.flatnonzero(chosen[corpus.root])
    sample, sample_clean = corpus.take(rows), [cleaned[i] for i in rows]
    # Interleave the sides so that load on the machine falls on both alike.
    runs: dict[str, list[tuple[np.ndarray[Any, Any], dict[str, float]]]] = {"ours": [], "ds": []}
    # Each repeat uses another permutation seed (the same on both sides): recall varies a
    # little with the permutations drawn, so one seed cannot tell the two apart.
    for seed in range(1, args.repeat + 1):
        runs["ours"].append(run_ours(sample_clean, args.batch // 10, seed))
        runs["ds"].append(run_datasketch(sample_clean, args.batch // 10, seed))
    recalls = {
        side: [quality(sample, sample_clean, pairs)["recall"] for pairs, _ in results]
        for side, results in runs.items()
    }
    medians = {
        side: {key: statistics.median(r[1][key] for r in results) for key in results[0][1]}
        for side, results in runs.items()
    }
    ratio = medians["ds"]["cpu_s"] / medians["ours"]["cpu_s"]
    sample_result = {
        "messages": len(rows),
        "batch": args.batch // 10,
        "ours": {
            **throughput(len(rows), medians["ours"]),
            **quality(sample, sample_clean, runs["ours"][0][0]),
            "recall_by_seed": recalls["ours"],
            "recall_mean": round(statistics.mean(recalls["ours"]), 4),
        },
        "datasketch": {
            **throughput(len(rows), medians["ds"]),
            **quality(sample, sample_clean, runs["ds"][0][0]),
            "recall_by_seed": recalls["ds"],
            "recall_mean": round(statistics.mean(recalls["ds"]), 4),
        },
        "ratio_ours_vs_datasketch_cpu": round(ratio, 2),
        "ratio_with_shared_cleaning": round(
            (medians["ds"]["cpu_s"] + clean_cpu * len(rows) / n)
            / (medians["ours"]["cpu_s"] + clean_cpu * len(rows) / n),
            2,
        ),
    }

    full_runs = [run_ours(cleaned, args.batch, seed) for seed in range(1, args.full_seeds + 1)]
    pairs = full_runs[0][0]
    ours_full = {key: statistics.median(r[1][key] for r in full_runs) for key in full_runs[0][1]}
    full_recalls = [quality(corpus, cleaned, p)["recall"] for p, _ in full_runs]
    full: dict[str, Any] = {
        "messages": n,
        "batch": args.batch,
        "ours": {
            **throughput(n, ours_full),
            **quality(corpus, cleaned, pairs),
            "recall_by_seed": full_recalls,
            "recall_mean": round(statistics.mean(full_recalls), 4),
            "index_mb": round(ours_full["index_bytes"] / 1e6, 1),
            "peak_traced_mb": peak_memory_mb(cleaned, args.batch),
        },
    }
    if not args.skip_datasketch_full:
        ds_pairs, ds_full = run_datasketch(cleaned, args.batch)
        full["datasketch"] = {**throughput(n, ds_full), **quality(corpus, cleaned, ds_pairs)}
        full["ratio_ours_vs_datasketch_cpu"] = round(ds_full["cpu_s"] / ours_full["cpu_s"], 2)
    full["save_load"] = save_load(cleaned)

    write_result(
        "neardup_lsh",
        {
            "world": {"seed": SEED, "scale": args.scale, "regular_messages": n},
            "cores": 1,
            "params": {
                "num_perm": NUM_PERM,
                "bands": BANDS,
                "rows": ROWS,
                "shingle": f"{SHINGLE} words",
                "min_chars": MIN_CHARS,
                "min_similarity": MIN_SIMILARITY,
                "min_containment": MIN_CONTAINMENT,
                "containment_floor": CONTAINMENT_FLOOR,
            },
            "cleaning_shared": {
                "cpu_s": round(clean_cpu, 2),
                "messages_per_cpu_s": round(n / clean_cpu),
            },
            "sample": sample_result,
            "full": full,
            "goal": "ours >= 2x datasketch's throughput at equal or better recall",
            "notes": NOTES,
        },
    )


def peak_memory_mb(cleaned: list[str], batch: int) -> float:
    """Peak NumPy/Python memory traced while signing and indexing everything (a separate,
    untimed run: tracing slows allocation)."""
    tracemalloc.start()
    run_ours(cleaned, batch)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 1e6, 1)


def save_load(cleaned: list[str]) -> dict[str, float]:
    index = NearDuplicateIndex(NUM_PERM, BANDS, ROWS, shingle=SHINGLE, min_chars=MIN_CHARS)
    index.add(np.arange(len(cleaned)), index.hasher.signatures_of_clean(cleaned))
    folder = WORK / "neardup-index"
    began = time.perf_counter()
    index.save(folder)
    saved = time.perf_counter() - began
    began = time.perf_counter()
    NearDuplicateIndex.load(folder)
    loaded = time.perf_counter() - began
    disk = sum(path.stat().st_size for path in folder.iterdir())
    return {
        "save_s": round(saved, 2),
        "load_s": round(loaded, 2),
        "disk_mb": round(disk / 1e6, 1),
    }


NOTES = [
    "cpu_s is process CPU time on one pinned core (the development machine is shared, so "
    "wall time is noisier); sample figures are medians of interleaved repeats",
    "the simulator draws neutral sentences from ~315 words (benign topics from ~13 topic "
    "words each), so unrelated posts still share 3-word runs: chance look-alikes (and "
    "identical templated link posts once links are dropped) are the false pairs; real text "
    "has a far larger vocabulary",
    "datasketch is given our NumPy verification and sizes for its candidates; its MinHash "
    "uses its default SHA-1 shingle hash",
]


if __name__ == "__main__":
    main()
