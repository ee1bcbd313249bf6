"""Text detector throughput on the simulator's messages, against bare normalisation as the floor.

Messages of a simulated world are ingested into a SQLite store and read back as the text stage
reads them.  Then, on one core and in one process, we time:

- the floor: `matching_form(text)` for every message, the least any text detector must do;
- the text detectors together, as `undertow run` runs them: language id, link extraction and
  classification, indicator rules (text, hashtags, links, forward titles), the classifier,
  and the `indicators`, `urlbank` and `propaganda` detectors with channel context;
- the whole stage with its database reads and writes (`analyse_text`), for reference.

Copies of one post are common (mirrors): the analyser remembers, per distinct text, its
language, rule hits and classifier score, as it does in `undertow run`.  Each repeat starts
with a fresh analyser, so nothing is remembered from an earlier repeat.
Wall-clock and CPU seconds are both kept: on a shared machine the CPU time is the steadier
figure of what the work costs one core.  Writes bench/results/text_throughput.json.

    python bench/text_throughput.py [--scale 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time

import sqlalchemy as sa

from undertow.enrich.normalise import matching_form
from undertow.gcpause import collector_paused
from undertow.ingest import ingest_paths
from undertow.records import TextItem
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.text_signals import TextAnalyser, analyse_text
from undertow.stages.watermarks import set_watermark
from undertow.store import open_store, schema

from common import WORK, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core

    folder = WORK / f"text-world-{args.scale}"
    if not (folder / "truth.json").exists():
        simulate_world(folder, seed=17, scale=args.scale)
    db = WORK / f"text-{args.scale}.db"
    for path in (db, WORK / f"text-{args.scale}-data"):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    settings = load_settings(sqlite_url(db), WORK / f"text-{args.scale}-data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [folder / "exports"])

    m = schema.messages
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(m.c.channel_id, m.c.message_id, m.c.text, m.c.entities, m.c.forwarded_from)
            .where(m.c.kind == "message")
            .order_by(m.c.id)
        ).all()
        channels = conn.execute(
            sa.select(schema.channels.c.channel_id, schema.channels.c.title)
        ).all()
    texts = [row.text for row in rows]
    loaded = TextAnalyser.from_settings(settings)

    def floor() -> None:
        for text in texts:
            matching_form(text)

    def detectors() -> None:
        # A fresh analyser each time: nothing remembered from an earlier repeat.
        analyser = TextAnalyser(loaded.rules, loaded.model)
        contexts = {
            c.channel_id: analyser.channel_context(c.channel_id, c.title, None, [])
            for c in channels
        }
        batch = 5000
        with collector_paused() as worked:  # as the stage runs them
            for start in range(0, len(rows), batch):
                items = [
                    TextItem(
                        channel_id,
                        message_id,
                        text,
                        entities or [],
                        forwarded_from,
                        channel=contexts[channel_id],
                    )
                    for channel_id, message_id, text, entities, forwarded_from in rows[
                        start : start + batch
                    ]
                ]
                analyser.analyse(items)
                worked(len(items))

    def stage() -> None:
        with store.engine.begin() as conn:
            for table in (
                schema.signals,
                schema.text_features,
                schema.message_links,
                schema.channel_text_stats,
            ):
                conn.execute(table.delete())
            set_watermark(conn, "text.messages", 0)
            set_watermark(conn, "text.channels", 0)
        analyse_text(store, settings, analyser=TextAnalyser(loaded.rules, loaded.model))

    def timed(work: object) -> tuple[float, float]:
        """Median wall-clock and CPU seconds of `work` over the repeats."""
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            work()  # type: ignore[operator]
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return statistics.median(walls), statistics.median(cpus)

    detectors()  # warm-up: compiled kernel loaded, per-character fold tables filled
    (floor_s, floor_cpu), (detectors_s, detectors_cpu) = timed(floor), timed(detectors)
    stage_s, stage_cpu = timed(stage)
    store.close()
    n = len(texts)

    def figures(seconds: float, cpu: float) -> dict[str, float]:
        return {
            "seconds": round(seconds, 3),
            "messages_per_s": round(n / seconds),
            "cpu_seconds": round(cpu, 3),
            "messages_per_cpu_s": round(n / cpu),
        }

    write_result(
        "text_throughput",
        {
            "world": {
                "seed": 17,
                "scale": args.scale,
                "messages": n,
                "mean_chars": round(sum(map(len, texts)) / n, 1),
            },
            "cores": 1,
            "repeat": args.repeat,
            "normalisation_floor": figures(floor_s, floor_cpu),
            "text_detectors": figures(detectors_s, detectors_cpu),
            "stage_with_database": figures(stage_s, stage_cpu),
            "detectors_vs_floor": round(detectors_s / floor_s, 2),
            "detectors_vs_floor_cpu": round(detectors_cpu / floor_cpu, 2),
            "goal_messages_per_s": 20_000,
        },
    )


if __name__ == "__main__":
    main()
