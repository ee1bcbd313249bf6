"""Hashing and hash-bank matching over a simulated world, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw

from undertow.exchange.banks import add_files, create_bank
from undertow.exchange.records_export import iter_signals
from undertow.ingest import ingest_paths
from undertow.settings import Settings
from undertow.simulate import simulate_world
from undertow.stages.run import run_stages
from undertow.store import Store, schema

from export_builder import chat, message, write_export


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    simulate_world(folder, seed=3, scale=1)
    return folder


def truth_messages(world: Path) -> list[dict[str, Any]]:
    with (world / "truth_messages.jsonl").open() as handle:
        return [json.loads(line) for line in handle]


def hash_signals(store: Store) -> list[dict[str, Any]]:
    return [s for s in iter_signals(store) if s["detector"] == "hashmatch"]


def outlet(world: Path) -> dict[str, Any]:
    truth = json.loads((world / "truth.json").read_text())
    return next(c for c in truth["channels"] if c["role"] == "outlet")


def test_bank_from_outlet_originals_finds_every_copy_and_no_benign_image(
    world: Path, store: Store, settings: Settings
) -> None:
    reports = ingest_paths(store, settings, [world / "exports"])
    assert all(r.error is None for r in reports)
    source = outlet(world)
    originals = sorted((world / "exports" / source["slug"] / "photos").glob("*.jpg"))
    assert originals
    create_bank(store, "outlet-originals", category="terrorist_content")
    add_files(store, "outlet-originals", originals)

    report = run_stages(store, settings, workers=1)
    assert report.hashing.hashed > 100 and report.hashing.errors == 0

    labels = truth_messages(world)
    outlet_images = {
        m["image"] for m in labels if m["channel_id"] == source["channel_id"] and m["image"]
    }
    signals = hash_signals(store)
    flagged = {(s["target"]["channel_id"], s["target"]["message_id"]) for s in signals}
    expected = {(m["channel_id"], m["message_id"]) for m in labels if m["image"] in outlet_images}
    benign = {
        (m["channel_id"], m["message_id"])
        for m in labels
        if m["image"] and m["image"].startswith("img-b")
    }
    reencoded = {
        (m["channel_id"], m["message_id"])
        for m in labels
        if m["image"] in outlet_images and m["variant"] == "reencoded"
    }
    assert reencoded, "the world should contain re-encoded copies"
    assert expected <= flagged, f"missed {len(expected - flagged)} copies"
    assert not (flagged & benign)
    pdq_hits = [s for s in signals if s["explanation"]["method"] == "pdq"]
    assert pdq_hits and all(0.5 <= s["score"] <= 1 for s in pdq_hits)
    assert all(
        s["category"] == "terrorist_content" and s["detector"] == "hashmatch" for s in signals
    )

    with store.engine.connect() as conn:
        pairs = conn.execute(
            sa.select(sa.func.count()).select_from(schema.media_matches)
        ).scalar_one()
    assert pairs > 0 and report.media_pairs == pairs

    # Running again does nothing new and duplicates nothing.
    again = run_stages(store, settings, workers=1)
    assert (again.hashing.hashed, again.matching.signals, again.media_pairs) == (0, 0, 0)
    assert len(hash_signals(store)) == len(signals)


def picture(seed: int) -> bytes:
    image = Image.linear_gradient("L").resize((200, 200)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(8):
        x, y = (i * 37 + seed * 11) % 160, (i * 53 + seed * 7) % 160
        draw.ellipse((x, y, x + 40, y + 30), fill=((i * 60) % 255, (seed * 80) % 255, 120))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_entries_added_later_match_media_hashed_earlier_and_bad_media_do_not_crash(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    export = tmp_path / "e"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "a.jpg").write_bytes(picture(1))
    (export / "photos" / "broken.jpg").write_bytes(picture(2)[:300])
    (export / "photos" / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    write_export(
        export,
        chat(
            [
                message(1, "", photo="photos/a.jpg"),
                message(2, "", photo="photos/broken.jpg"),
                message(3, "", photo="photos/bomb.png"),
            ]
        ),
    )
    ingest_paths(store, settings, [export])
    create_bank(store, "later")
    first = run_stages(store, settings, workers=1)
    assert first.hashing.hashed == 3 and first.hashing.errors == 2 and first.matching.signals == 0

    reencoded = io.BytesIO()
    Image.open(io.BytesIO(picture(1))).resize((180, 180)).save(reencoded, "JPEG", quality=70)
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(reencoded.getvalue())
    add_files(store, "later", [copy])
    second = run_stages(store, settings, workers=2)
    assert second.matching.new_entries == 3 and second.matching.signals == 1
    (signal,) = hash_signals(store)
    assert signal["target"]["message_id"] == 1 and signal["explanation"]["method"] == "pdq"
    assert (settings.data_dir / "index" / "bank-pdq" / "codes.npy").exists()


def test_rotated_copies_are_found_only_when_dihedral_matching_is_on(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    original = tmp_path / "original.jpg"
    original.write_bytes(picture(3))
    export = tmp_path / "e"
    (export / "photos").mkdir(parents=True)
    turned = Image.open(original).rotate(90, expand=True)
    turned.save(export / "photos" / "turned.jpg", "JPEG", quality=90)
    write_export(export, chat([message(1, "", photo="photos/turned.jpg")]))
    ingest_paths(store, settings, [export])
    create_bank(store, "originals")
    add_files(store, "originals", [original])
    assert run_stages(store, settings, workers=1).matching.signals == 0
    # Switching rotation-robust matching on later adds the rotated hashes to media already
    # hashed and matches everything again.
    dihedral = settings.with_overrides(pdq_dihedral=True)
    rotated = run_stages(store, dihedral, workers=2)
    assert rotated.hashing.dihedral_added == 1 and rotated.matching.signals == 1
    (signal,) = hash_signals(store)
    assert signal["explanation"]["method"] == "pdq-dihedral"
    assert signal["explanation"]["bank"] == "originals"
    again = run_stages(store, dihedral, workers=1)
    assert (again.hashing.dihedral_added, again.matching.signals) == (0, 0)


def test_disabled_banks_are_not_matched_and_re_enabled_ones_catch_up(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    from undertow.exchange.banks import set_enabled

    export = tmp_path / "e"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "a.jpg").write_bytes(picture(5))
    write_export(export, chat([message(1, "", photo="photos/a.jpg")]))
    ingest_paths(store, settings, [export])
    create_bank(store, "paused")
    add_files(store, "paused", [export / "photos" / "a.jpg"])
    set_enabled(store, "paused", False)
    assert run_stages(store, settings, workers=1).matching.signals == 0
    set_enabled(store, "paused", True)
    resumed = run_stages(store, settings, workers=1)
    assert resumed.matching.signals == 1
    assert run_stages(store, settings, workers=1).matching.signals == 0


def test_re_encoded_videos_match_a_bank_video_by_vpdq(
    tmp_path: Path, store: Store, settings: Settings
) -> None:
    pytest.importorskip("vpdq", reason="vpdq needs FFmpeg's development packages")
    frames = []
    for i in range(30):
        image = Image.linear_gradient("L").resize((160, 160)).convert("RGB")
        ImageDraw.Draw(image).ellipse((i * 4, 30, i * 4 + 50, 100), fill=(200, 40, 40))
        frames.append(image)
    original = tmp_path / "clip.gif"
    frames[0].save(original, save_all=True, append_images=frames[1:], duration=100, loop=0)
    export = tmp_path / "e"
    (export / "files").mkdir(parents=True)
    smaller = [f.resize((140, 140)) for f in frames]
    smaller[0].save(
        export / "files" / "copy.gif",
        save_all=True,
        append_images=smaller[1:],
        duration=100,
        loop=0,
    )
    write_export(export, chat([message(1, "", file="files/copy.gif", media_type="animation")]))
    ingest_paths(store, settings, [export])
    create_bank(store, "videos")
    add_files(store, "videos", [original])
    report = run_stages(store, settings, workers=1)
    assert report.matching.signals == 1
    (signal,) = hash_signals(store)
    assert signal["explanation"]["matched_entries"] >= 2  # the first frame's PDQ and the vPDQ
    from undertow.exchange.banks import iter_entries

    assert {e.hash_type for e in iter_entries(store, "videos")} == {"md5", "sha256", "pdq", "vpdq"}
