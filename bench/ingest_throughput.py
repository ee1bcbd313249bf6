"""Ingest throughput into SQLite versus the time orjson.loads needs merely to parse the same files.

Simulates a world of at least 200,000 messages (`undertow simulate`), then in one run:
1. the peer: `orjson.loads` of every export file (with the garbage collector on, as any
   program runs it, and again with it off, the parser's bare speed);
2. Undertow: `ingest_paths` into a fresh SQLite file (parse, map, pseudonymise, hash media,
   write messages, entities, links, tags, titles).
Writes bench/results/ingest_throughput.json.

    python bench/ingest_throughput.py [--scale 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import time
from pathlib import Path

import orjson
from common import WORK, write_result

from undertow.ingest import ingest_paths
from undertow.settings import load_settings
from undertow.simulate import simulate_world
from undertow.sources.telegram_export import TelegramExportSource
from undertow.store import open_store


def parse_all(files: list[Path], *, gc_enabled: bool) -> float:
    datas = [f.read_bytes() for f in files]
    if not gc_enabled:
        gc.disable()
    try:
        started = time.perf_counter()
        for data in datas:
            orjson.loads(data)
        return time.perf_counter() - started
    finally:
        gc.enable()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    world = WORK / f"world-s{args.scale}"
    if not (world / "truth.json").exists():
        shutil.rmtree(world, ignore_errors=True)
        print(f"simulating scale {args.scale} into {world} ...", file=sys.stderr)
        simulate_world(world, seed=args.seed, scale=args.scale)
    files = TelegramExportSource().discover([world / "exports"])
    size = sum(f.stat().st_size for f in files)

    runs = []
    for attempt in range(args.repeat):
        peer = parse_all(files, gc_enabled=True)
        peer_nogc = parse_all(files, gc_enabled=False)
        folder = WORK / f"ingest-run-{attempt}"
        shutil.rmtree(folder, ignore_errors=True)
        settings = load_settings(f"sqlite:///{folder / 'store.db'}", folder / "data", environ={})
        store = open_store(settings.db_url)
        started = time.perf_counter()
        reports = ingest_paths(store, settings, [world / "exports"])
        elapsed = time.perf_counter() - started
        store.close()
        errors = [r.error for r in reports if r.error]
        if errors:
            raise SystemExit(f"ingest failed: {errors[:3]}")
        messages = sum(r.messages for r in reports)
        runs.append(
            {
                "orjson_parse_s": round(peer, 3),
                "orjson_parse_gc_off_s": round(peer_nogc, 3),
                "ingest_s": round(elapsed, 3),
                "ratio_to_orjson": round(elapsed / peer, 2),
                "ratio_to_orjson_gc_off": round(elapsed / peer_nogc, 2),
                "messages": messages,
                "messages_per_s": round(messages / elapsed),
            }
        )
        print(runs[-1], file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)
    best = min(runs, key=lambda r: r["ingest_s"])
    write_result(
        "ingest_throughput",
        {
            "peer": "orjson.loads of the same files (parse only, no storage)",
            "goal": "ingest within 5x of orjson.loads parse time",
            "files": len(files),
            "bytes": size,
            "scale": args.scale,
            "runs": runs,
            "best": best,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
