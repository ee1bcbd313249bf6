"""Ingest throughput into SQLite versus the time orjson.loads needs merely to parse the same file.

Simulates a world of at least 200,000 messages (`undertow simulate`) and writes it also as one
full-account export (`chats.list`, the form "Export Telegram data" produces).  Then, in one run
and for each of two inputs (that single file; the world's per-chat export folders):
1. the peer: `orjson.loads` of the same bytes, with the garbage collector on (as any program
   calls it) and with it off (the parser's bare speed);
2. Undertow: `ingest_paths` into a fresh SQLite file (parse, map, pseudonymise, hash and
   copy media into the evidence store, write messages, entities, links, tags, titles).
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

from undertow.ingest import ingest_paths
from undertow.settings import load_settings
from undertow.simulate import simulate_world
from undertow.sources.telegram_export import TelegramExportSource
from undertow.store import open_store

from common import WORK, merge_into_account_export, write_result


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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    world = WORK / f"world-s{args.scale}"
    if not (world / "truth.json").exists():
        shutil.rmtree(world, ignore_errors=True)
        print(f"simulating scale {args.scale} into {world} ...", file=sys.stderr)
        simulate_world(world, seed=args.seed, scale=args.scale)
    account = merge_into_account_export(world)
    inputs = {
        "single_account_export": [account],
        "per_chat_exports": TelegramExportSource().discover([world / "exports"]),
    }
    results = {}
    for name, files in inputs.items():
        runs = [measure(files, attempt) for attempt in range(args.repeat)]
        for run in runs:
            print(name, run, file=sys.stderr)
        results[name] = {
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
            "runs": runs,
            "best": min(runs, key=lambda r: r["ingest_s"]),
        }
    write_result(
        "ingest_throughput",
        {
            "peer": "orjson.loads of the same bytes (parse only, no storage)",
            "goal": "ingest within 5x of orjson.loads parse time",
            "scale": args.scale,
            "seed": args.seed,
            **results,
        },
    )
    return 0


def measure(files: list[Path], attempt: int) -> dict[str, float | int]:
    peer = parse_all(files, gc_enabled=True)
    peer_nogc = parse_all(files, gc_enabled=False)
    folder = WORK / f"ingest-run-{attempt}"
    shutil.rmtree(folder, ignore_errors=True)
    settings = load_settings(f"sqlite:///{folder / 'store.db'}", folder / "data", environ={})
    store = open_store(settings.db_url)
    started = time.perf_counter()
    reports = ingest_paths(store, settings, files)
    elapsed = time.perf_counter() - started
    store.close()
    shutil.rmtree(folder, ignore_errors=True)
    errors = [r.error for r in reports if r.error]
    if errors:
        raise SystemExit(f"ingest failed: {errors[:3]}")
    messages = sum(r.messages for r in reports)
    return {
        "orjson_parse_s": round(peer, 3),
        "orjson_parse_gc_off_s": round(peer_nogc, 3),
        "ingest_s": round(elapsed, 3),
        "ratio_to_orjson": round(elapsed / peer, 2),
        "ratio_to_orjson_gc_off": round(elapsed / peer_nogc, 2),
        "messages": messages,
        "messages_per_s": round(messages / elapsed),
        "media_stored": sum(r.media_stored for r in reports),
    }


if __name__ == "__main__":
    raise SystemExit(main())
