"""Peak memory (RSS) while importing one export of at least 1 GB, versus loading it whole.

Writes a single-channel Telegram export of >= 1 GB (synthetic placeholder text, streamed to
disk), then measures in child processes, in the same run:
1. the peer: `orjson.loads` of the whole file (what a non-streaming importer needs);
2. Undertow: `undertow ingest FILE` into a fresh SQLite store.
Each child's peak RSS is read from the kernel (ru_maxrss).  Writes bench/results/ingest_memory.json.

    python bench/ingest_memory.py [--gigabytes 1.05]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

from common import WORK, write_result

WORDS = [
    "report",
    "market",
    "weather",
    "update",
    "river",
    "harbour",
    "bridge",
    "season",
    "garden",
    "station",
    "morning",
]


def write_big_export(path: Path, target_bytes: int) -> int:
    """Stream a channel export of `target_bytes` or more; returns its message count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("wb") as out:
        out.write(
            b'{\n "name": "Big Placeholder Channel",\n "type": "public_channel",\n'
            b' "id": 4242,\n "messages": [\n'
        )
        written = 0
        base = 1_560_000_000
        while written < target_bytes:
            count += 1
            body = " ".join(WORDS[(count * 7 + i) % len(WORDS)] for i in range(120))
            msg = {
                "id": count,
                "type": "message",
                "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + count * 30)),
                "date_unixtime": str(base + count * 30),
                "from": "Big Placeholder Channel",
                "from_id": "channel4242",
                "text": [
                    f"{body} ",
                    {"type": "hashtag", "text": "#KhilafahNews"},
                    " ",
                    {"type": "link", "text": f"https://t.me/backup{count % 97}"},
                ],
                "text_entities": [
                    {"type": "plain", "text": f"{body} "},
                    {"type": "hashtag", "text": "#KhilafahNews"},
                    {"type": "plain", "text": " "},
                    {"type": "link", "text": f"https://t.me/backup{count % 97}"},
                ],
            }
            if count % 5 == 0:
                msg["forwarded_from"] = "Amaq Agency"
            chunk = (b",\n" if count > 1 else b"") + orjson.dumps(msg)
            out.write(chunk)
            written += len(chunk)
        out.write(b"\n ]\n}\n")
    return count


def peak_rss_mb(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """Run `command`; return (peak RSS of its largest process, peak of the summed RSS of the
    process and its children sampled every 50 ms, both in MB; seconds)."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    tree_peak = 0
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            members = [watched, *watched.children(recursive=True)]
            tree_peak = max(tree_peak, sum(m.memory_info().rss for m in members))
        except psutil.Error:
            pass
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed with exit code {process.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if after <= before:
        raise SystemExit(
            "could not measure the child's peak RSS (it used less than an earlier child)"
        )
    return after / 1024, tree_peak / 2**20, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gigabytes", type=float, default=1.05)
    parser.add_argument(
        "--skip-peer", action="store_true", help="do not load the whole file with orjson"
    )
    args = parser.parse_args()
    export = WORK / "big-export" / "result.json"
    target = int(args.gigabytes * 1024**3)
    count_file = export.with_suffix(".count")
    if not export.exists() or export.stat().st_size < target or not count_file.exists():
        print(f"writing a {args.gigabytes} GB export to {export} ...", file=sys.stderr)
        count_file.write_text(str(write_big_export(export, target)))
    messages = int(count_file.read_text())
    size = export.stat().st_size
    store_dir = WORK / "big-store"
    shutil.rmtree(store_dir, ignore_errors=True)
    undertow = str(Path(sys.executable).with_name("undertow"))
    # Undertow first: ru_maxrss of children only grows, so the smaller peak must come first.
    ours, ours_tree, ours_s = peak_rss_mb(
        [
            undertow,
            "--quiet",
            "--db",
            f"sqlite:///{store_dir / 'store.db'}",
            "--data-dir",
            str(store_dir / "data"),
            "ingest",
            str(export),
        ],
        env={**os.environ, "UNDERTOW_PSEUDONYM_KEY": "00" * 32},
    )
    result = {
        "file_bytes": size,
        "messages": messages,
        "undertow_ingest_peak_rss_mb": round(ours, 1),
        "undertow_ingest_peak_rss_all_processes_mb": round(ours_tree, 1),
        "undertow_ingest_s": round(ours_s, 1),
        "goal": "peak RSS under 300 MB",
    }
    if not args.skip_peer:
        peer, _tree, peer_s = peak_rss_mb(
            [
                sys.executable,
                "-c",
                f"import orjson; orjson.loads(open({str(export)!r}, 'rb').read())",
            ]
        )
        result |= {
            "peer": "orjson.loads of the whole file",
            "peer_peak_rss_mb": round(peer, 1),
            "peer_s": round(peer_s, 1),
        }
    write_result("ingest_memory", result)
    shutil.rmtree(store_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
