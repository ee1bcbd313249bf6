"""Media hashing throughput: Undertow's hashing stage versus bare pdqhash on the same images.

The peer is the bare work: decode each file with Pillow and compute its PDQ hash with
`pdqhash`, in one process.  Undertow's figure is the whole `hash_stored_media` stage over the
same files already in a store's evidence folder: reading blobs, SHA-256, MD5, decoding, PDQ,
bookkeeping and database writes, with 1 worker and with one per core.  The ratio is the
peer's time over ours (1.0 = as fast as the bare loop).  Writes bench/results/hash_throughput.json.

    python bench/hash_throughput.py [--images 1500]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageDraw

from undertow.enrich.media_hash import hash_file
from undertow.settings import load_settings
from undertow.stages.media_hashing import hash_stored_media
from undertow.store import open_store, schema

from common import WORK, write_result


def make_images(folder: Path, count: int) -> list[Path]:
    """Distinct JPEG photos of 320-640 px, like re-posted channel pictures."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    paths = []
    for i in range(count):
        size = rng.choice((320, 480, 640))
        image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randrange(size), rng.randrange(size)
            draw.ellipse(
                (x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 120)),
                fill=tuple(rng.randrange(256) for _ in range(3)),
            )
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randrange(70, 95))
        path = folder / f"img{i:05d}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def interleaved(paths: list[Path]) -> tuple[float, float]:
    """Peer and our per-file hashing (`hash_file`: read, SHA-256, MD5, decode, PDQ) on the same
    file one after the other, alternating who goes first: (peer seconds, ours seconds)."""
    peer = ours = 0.0
    for number, path in enumerate(paths):
        for side in (0, 1) if number % 2 else (1, 0):
            started = time.perf_counter()
            if side == 0:
                pdqhash.compute(np.asarray(Image.open(path).convert("RGB")))
                peer += time.perf_counter() - started
            else:
                hash_file(path)
                ours += time.perf_counter() - started
    return peer, ours


def bare(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        pdqhash.compute(np.asarray(Image.open(path).convert("RGB")))
    return time.perf_counter() - started


def stage(paths: list[Path], workers: int, *, peer_first: bool) -> tuple[float, float]:
    """Time Undertow's hashing stage over `paths` placed in a fresh store's evidence folder,
    and the bare peer over the very same blob files just before or after it: (peer, ours)."""
    folder = WORK / f"hash-stage-{workers}"
    shutil.rmtree(folder, ignore_errors=True)
    settings = load_settings(f"sqlite:///{folder / 'store.db'}", folder / "data", environ={})
    store = open_store(settings.db_url)
    import hashlib

    rows = []
    blobs = []
    for path in paths:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        blob = f"sha256/{sha[:2]}/{sha[2:4]}/{sha}"
        target = settings.evidence_dir / blob
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        blobs.append(target)
        rows.append(
            {
                "sha256": sha,
                "size": len(data),
                "mime": "image/jpeg",
                "kind": "photo",
                "blob": blob,
                "first_seen": 0,
            }
        )
    with store.engine.begin() as conn:
        conn.execute(schema.media.insert(), rows)
    os.sync()  # let the blob writes reach the disk now, not during the timed hashing
    peer = bare(blobs) if peer_first else 0.0
    started = time.perf_counter()
    report = hash_stored_media(store, settings, workers=workers)
    elapsed = time.perf_counter() - started
    if not peer_first:
        peer = bare(blobs)
    store.close()
    if report.hashed != len(paths):
        raise SystemExit(f"hashed {report.hashed} of {len(paths)}")
    shutil.rmtree(folder, ignore_errors=True)
    return peer, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=750)
    args = parser.parse_args()
    paths = make_images(WORK / "hash-images", args.images)
    bare(paths[:50])  # warm the page cache and imports for both sides
    cores = os.cpu_count() or 1
    # This machine's speed drifts by tens of percent within minutes, so every measurement of
    # ours is paired with the peer over the same blob files right before or after it
    # (alternating), and ratios are taken per pair.
    chunks = [paths[i : i + args.chunk] for i in range(0, len(paths), args.chunk)]
    ratios: dict[str, list[float]] = {"one": [], "many": []}
    totals = {"peer_one": 0.0, "one": 0.0, "peer_many": 0.0, "many": 0.0}
    for round_ in range(args.repeat):
        for number, chunk in enumerate(chunks):
            first = (round_ + number) % 2 == 0
            for name, workers in (("one", 1), ("many", cores)):
                peer, ours = stage(chunk, workers, peer_first=first)
                totals[f"peer_{name}"] += peer
                totals[name] += ours
                ratios[name].append(peer / ours)
    processed = len(paths) * args.repeat
    per_file_peer, per_file_ours = interleaved(paths)
    write_result(
        "hash_throughput",
        {
            "peer": "bare Pillow decode + pdqhash.compute, one process",
            "images": len(paths),
            "images_processed_per_side": processed,
            "peer_images_per_s": round(
                2 * processed / (totals["peer_one"] + totals["peer_many"]), 1
            ),
            "ours_1_worker_images_per_s": round(processed / totals["one"], 1),
            f"ours_{cores}_workers_images_per_s": round(processed / totals["many"], 1),
            "ratio_1_worker_median": round(statistics.median(ratios["one"]), 2),
            "ratio_1_worker_overall": round(totals["peer_one"] / totals["one"], 2),
            f"ratio_{cores}_workers_median": round(statistics.median(ratios["many"]), 2),
            f"ratio_{cores}_workers_overall": round(totals["peer_many"] / totals["many"], 2),
            "ratio_per_file_interleaved": round(per_file_peer / per_file_ours, 2),
            "ratios_1_worker": [round(r, 2) for r in ratios["one"]],
            f"ratios_{cores}_workers": [round(r, 2) for r in ratios["many"]],
            "goal": ">= 0.9 on one core and >= 1.7 using both cores",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
