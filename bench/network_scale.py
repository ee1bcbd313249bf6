"""How the network stage grows: the same kind of world at about 1M and 4M messages.

Each world is simulated (cached under bench/work/), ingested into a fresh SQLite store, and
then only the network stage runs (`analyse_network`: near-duplicate signatures and pairs,
mirror relations and networks, rebrands, lineages), timed on its own.  Media hashing and the
text stage are not run, so pictures and text scores do not take part; the stage's cost is
in the messages.  The figure that matters is the ratio of the two times against the ratio of
the message counts (linear growth: equal ratios).  Each scale runs in a fresh process, so that
neither inherits the other's heap, imports or warm caches.  Writes
bench/results/network_scale.json.

    python bench/network_scale.py [--scales 200 800] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import statistics
import time
from typing import Any

import sqlalchemy as sa

from undertow.ingest import ingest_paths
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.neardup import NEARDUP_STAGE
from undertow.stages.network import analyse_network
from undertow.stages.watermarks import set_watermark
from undertow.store import open_store, schema

from common import WORK, write_result


def run(scale: int) -> dict[str, Any]:
    world = WORK / f"network-world-{scale}"
    if not (world / "truth.json").exists():
        simulate_world(world, seed=41, scale=scale)
    db, data = WORK / f"network-{scale}.db", WORK / f"network-{scale}-data"
    settings = load_settings(sqlite_url(db), data)
    ingest_s = None
    if db.exists() and (data / "ingested").exists():
        # Already ingested by an earlier run: start the network stage from nothing again.
        store = open_store(settings.db_url)
        with store.engine.begin() as conn:
            conn.execute(schema.text_copies.delete())
            conn.execute(schema.text_keys.delete())
            set_watermark(conn, NEARDUP_STAGE, 0)
        shutil.rmtree(data / "index", ignore_errors=True)
    else:
        db.unlink(missing_ok=True)
        shutil.rmtree(data, ignore_errors=True)
        store = open_store(settings.db_url)
        began = time.perf_counter()
        ingest_paths(store, settings, [world / "exports"])
        ingest_s = round(time.perf_counter() - began, 1)
        (data / "ingested").touch()
    began, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    read_before = _read_bytes()
    report = analyse_network(store, settings)
    network_s, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF)
    read_mb = round((_read_bytes() - read_before) / 2**20)
    user_s, system_s = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    with store.engine.connect() as conn:
        messages = conn.execute(sa.select(sa.func.count()).select_from(schema.messages)).scalar()
    store.close()
    return {
        "scale": scale,
        "messages": messages,
        "ingest_s": ingest_s,
        "network_s": round(network_s, 1),
        "network_cpu_s": round(user_s + system_s, 1),
        "network_user_s": round(user_s, 1),
        "network_system_s": round(system_s, 1),  # the kernel: page faults, zeroing memory
        "page_faults": after.ru_minflt - before.ru_minflt,
        # Read from the disk, not the page cache: the store and index files evicted meanwhile.
        "disk_read_mb": read_mb,
        "network_messages_per_s": round((messages or 0) / network_s),
        "text_pairs": report.text_pairs,
        "mirror_pairs": report.mirror_pairs,
        "networks": report.networks,
        "rebrands": report.rebrands,
        "lineages": report.lineages,
        "seconds_by_step": report.seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _read_bytes() -> int:
    """Bytes this process has had read from storage (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/io") as io:
            fields = dict(line.split(": ") for line in io.read().splitlines())
    except OSError:
        return 0
    return int(fields.get("read_bytes", 0))


def in_fresh_process(scale: int) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run, (scale,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", type=int, nargs=2, default=[200, 800])
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs (median ratio)")
    args = parser.parse_args()
    # The machine's speed drifts by a fifth from minute to minute, so one pair of runs can
    # tell a ratio 10 % off either way: pairs are repeated and the median ratio reported.
    pairs = [[in_fresh_process(scale) for scale in args.scales] for _ in range(args.repeat)]
    ratios = [round(large["network_s"] / small["network_s"], 2) for small, large in pairs]
    cpu_ratios = [
        round(large["network_cpu_s"] / small["network_cpu_s"], 2) for small, large in pairs
    ]
    small, large = pairs[0]
    write_result(
        "network_scale",
        {
            "small": small,
            "large": large,
            "runs": [
                {
                    "small_s": s["network_s"],
                    "large_s": la["network_s"],
                    "small_cpu_s": s["network_cpu_s"],
                    "large_cpu_s": la["network_cpu_s"],
                    "seconds_by_step": [s["seconds_by_step"], la["seconds_by_step"]],
                }
                for s, la in pairs
            ],
            "message_ratio": round(large["messages"] / small["messages"], 2),
            "time_ratios": ratios,
            "cpu_time_ratios": cpu_ratios,
            "time_ratio": statistics.median(ratios),
            "cpu_time_ratio": statistics.median(cpu_ratios),
            "goal": "time ratio no worse than the message ratio (linear growth)",
        },
    )


if __name__ == "__main__":
    main()
