"""World-level checks of the simulator: export structure, ground truth and their agreement."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from undertow.simulate import SimulationSummary, estimate_messages, simulate_world

CHAT_TYPES = {"public_channel", "private_channel", "public_supergroup"}
ROLES = {
    "outlet", "distributor", "forward_mirror", "copy_mirror", "lineage", "sleeper", "news",
    "research", "benign", "benign_source", "benign_forwarder", "benign_group",
}  # fmt: skip
PLATFORMS = {
    "telegram", "rocketchat", "matrix", "threema", "tamtam", "xmpp", "hoop", "website", "paste",
    "filehost", "archive",
}  # fmt: skip
BRANDS = ("Amaq", "Nashir", "Islamic State", "Dawlah", "#KhilafahNews")

MessageKey = tuple[str, int]


@dataclass
class World:
    summary: SimulationSummary
    truth: dict[str, Any]
    chats: dict[str, dict[str, Any]]  # channel_id -> parsed result.json
    messages: dict[MessageKey, dict[str, Any]]
    labels: dict[MessageKey, dict[str, Any]]
    channels: dict[str, dict[str, Any]]  # channel_id -> truth record

    def chat_dir(self, channel_id: str) -> Path:
        slug: str = self.channels[channel_id]["slug"]
        return self.summary.exports_dir / slug

    def photo_bytes(self, key: MessageKey) -> bytes:
        photo: str = self.messages[key]["photo"]
        return (self.chat_dir(key[0]) / photo).read_bytes()

    def role_channels(self, role: str) -> list[dict[str, Any]]:
        return [c for c in self.truth["channels"] if c["role"] == role]


def flat_text(message: dict[str, Any]) -> str:
    text = message["text"]
    if isinstance(text, str):
        return text
    return "".join(part if isinstance(part, str) else part["text"] for part in text)


def hrefs(message: dict[str, Any]) -> list[str]:
    return [e["href"] for e in message["text_entities"] if "href" in e]


def load_world(summary: SimulationSummary) -> World:
    truth = json.loads(summary.truth_path.read_text(encoding="utf-8"))
    channels = {c["channel_id"]: c for c in truth["channels"]}
    chats: dict[str, dict[str, Any]] = {}
    messages: dict[MessageKey, dict[str, Any]] = {}
    for channel_id, record in channels.items():
        with (summary.exports_dir / record["slug"] / "result.json").open(encoding="utf-8") as fh:
            chat = json.load(fh)
        chats[channel_id] = chat
        for message in chat["messages"]:
            messages[(channel_id, message["id"])] = message
    labels: dict[MessageKey, dict[str, Any]] = {}
    with summary.truth_messages_path.open(encoding="utf-8") as fh:
        for line in fh:
            label = json.loads(line)
            labels[(label["channel_id"], label["message_id"])] = label
    return World(summary, truth, chats, messages, labels, channels)


def iso_ts(value: str) -> int:
    return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))


def title_at(record: dict[str, Any], ts: int) -> str:
    current = record["titles"][0]["title"]
    for entry in record["titles"]:
        if iso_ts(entry["since"]) <= ts:
            current = entry["title"]
    return str(current)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    summary = simulate_world(tmp_path_factory.mktemp("world") / "out", seed=1, scale=1)
    return load_world(summary)


def all_files(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(root)), path.read_bytes()


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path: Path) -> None:
    first = simulate_world(tmp_path / "a", seed=7)
    second = simulate_world(tmp_path / "b", seed=7)
    other = simulate_world(tmp_path / "c", seed=8)
    assert list(all_files(first.out_dir)) == list(all_files(second.out_dir))
    assert first.truth_path.read_bytes() != other.truth_path.read_bytes()
    first_exports = dict(all_files(first.exports_dir))
    other_exports = dict(all_files(other.exports_dir))
    assert first_exports != other_exports


def test_exports_follow_the_telegram_desktop_structure(world: World) -> None:
    for channel_id, chat in world.chats.items():
        assert list(chat)[:3] == ["name", "type", "id"]
        assert chat["type"] in CHAT_TYPES
        assert f"telegram:{chat['id']}" == channel_id
        assert chat["name"] == world.channels[channel_id]["titles"][-1]["title"]
        previous_id, previous_ts = 0, 0
        for message in chat["messages"]:
            assert message["id"] > previous_id
            ts = int(message["date_unixtime"])
            assert ts >= previous_ts
            assert message["date"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
            previous_id, previous_ts = message["id"], ts
            assert message["type"] in {"message", "service"}
            if message["type"] == "service":
                assert {"actor", "actor_id", "action"} <= message.keys()
                assert message["text"] == "" and message["text_entities"] == []
            elif chat["type"] == "public_supergroup":
                assert message["from_id"].startswith("user")
            else:
                assert message["from"] == chat["name"]
                assert message["from_id"] == f"channel{chat['id']}"
            check_text(message)
            if "photo" in message:
                photo = world.chat_dir(channel_id) / message["photo"]
                assert photo.stat().st_size == message["photo_file_size"]
                assert message["width"] > 0 and message["height"] > 0


def check_text(message: dict[str, Any]) -> None:
    text, entities = message["text"], message["text_entities"]
    if isinstance(text, str):
        assert entities == ([{"type": "plain", "text": text}] if text else [])
        return
    assert len(text) == len(entities)
    assert any(not isinstance(part, str) for part in text)
    for part, entity in zip(text, entities, strict=True):
        if isinstance(part, str):
            assert entity == {"type": "plain", "text": part}
        else:
            assert part == entity and entity["type"] != "plain"


def test_summary_counts_match_what_was_written(world: World) -> None:
    summary = world.summary
    assert summary.channels == len(world.chats) == len(list(summary.exports_dir.iterdir()))
    assert summary.messages == len(world.messages) == len(world.labels)
    assert summary.photos == len(list(summary.exports_dir.glob("*/photos/*.jpg")))
    assert world.truth["counts"]["messages"] == summary.messages
    assert 20 <= summary.channels <= 40
    assert 2_000 <= summary.messages <= 6_000
    estimate = estimate_messages(1)
    assert estimate / 2 <= summary.messages <= estimate * 2


def test_truth_schema(world: World) -> None:
    truth = world.truth
    assert truth["seed"] == 1 and truth["scale"] == 1
    assert truth["generated_by"].startswith("undertow.simulate ")
    for record in truth["channels"]:
        assert record["role"] in ROLES
        assert record["first_post"].endswith("Z") and record["last_post"].endswith("Z")
        assert all(entry["since"].endswith("Z") for entry in record["titles"])
    for mirror in truth["mirrors"]:
        assert mirror["method"] in {"forward", "copy"}
        assert 0.0 < mirror["share"] <= 1.0
    members = {cid for net in truth["networks"] for cid in net["channels"]}
    propaganda = {c["channel_id"] for c in truth["channels"] if c["propaganda"]}
    assert propaganda <= members
    assert {net["kind"] for net in truth["networks"]} == {"propaganda", "benign"}
    assert {m["platform"] for m in truth["migrations"]} <= PLATFORMS


def test_forwards_name_the_source_title_valid_at_the_original_time(world: World) -> None:
    forwards = [key for key, label in world.labels.items() if label["method"] == "forward"]
    assert forwards
    renamed_sources_seen = set()
    for key in forwards:
        origin = world.labels[key]["origin"]
        source = world.channels[origin["channel_id"]]
        original = world.messages[(origin["channel_id"], origin["message_id"])]
        expected = title_at(source, int(original["date_unixtime"]))
        assert world.messages[key]["forwarded_from"] == expected
        if expected != source["titles"][-1]["title"]:
            renamed_sources_seen.add(origin["channel_id"])
        assert flat_text(world.messages[key]) == flat_text(original)
    assert renamed_sources_seen, "no forward predates its source's rename"


def test_copy_images_are_reencoded_and_forward_images_are_exact(world: World) -> None:
    checked = {"reencoded": 0, "exact": 0}
    for key, label in world.labels.items():
        if label["origin"] is None or label["image"] is None:
            continue
        origin = label["origin"]
        original = world.photo_bytes((origin["channel_id"], origin["message_id"]))
        mine = world.photo_bytes(key)
        if label["method"] == "copy":
            assert label["variant"] == "reencoded" and mine != original
            assert "forwarded_from" not in world.messages[key]
        else:
            assert label["variant"] == "exact" and mine == original
        checked[label["variant"]] += 1
    assert checked["reencoded"] > 10 and checked["exact"] > 10


def test_sleeper_rebrand_matches_truth(world: World) -> None:
    sleepers = world.role_channels("sleeper")
    assert sleepers
    rebrands = {r["channel_id"]: r for r in world.truth["rebrands"] if r["kind"] == "sleeper"}
    for sleeper in sleepers:
        rebrand = rebrands[sleeper["channel_id"]]
        messages = world.chats[sleeper["channel_id"]]["messages"]
        titles = [m for m in messages if m.get("action") == "edit_group_title"]
        photos = [m for m in messages if m.get("action") == "edit_group_photo"]
        assert len(titles) == 1 and len(photos) == 1
        assert titles[0]["title"] == rebrand["to_title"] == sleeper["titles"][-1]["title"]
        assert rebrand["from_title"] == sleeper["titles"][0]["title"]
        assert int(titles[0]["date_unixtime"]) == iso_ts(rebrand["at"])
        assert (world.chat_dir(sleeper["channel_id"]) / photos[0]["photo"]).is_file()
        shift = iso_ts(rebrand["content_shift_at"])
        assert shift >= iso_ts(rebrand["at"])
        for message in messages:
            label = world.labels[(sleeper["channel_id"], message["id"])]
            if int(message["date_unixtime"]) < iso_ts(rebrand["at"]):
                assert not label["propaganda"]
            if label["origin"] is not None:
                assert int(message["date_unixtime"]) >= shift


def test_lineages_are_ordered_and_announcements_name_the_successor(world: World) -> None:
    assert world.truth["lineages"]
    announced = 0
    for lineage in world.truth["lineages"]:
        records = [world.channels[cid] for cid in lineage["channels"]]
        starts = [iso_ts(r["first_post"]) for r in records]
        assert starts == sorted(starts) and len(records) >= 2
        for link in lineage["links"]:
            source, target = world.channels[link["from"]], world.channels[link["to"]]
            assert source["banned_at"] is not None
            assert iso_ts(source["last_post"]) < iso_ts(source["banned_at"])
            assert 0 <= link["gap_s"] <= 10 * 86_400
            note = link["announcement"]
            assert (note is not None) == link["announced"]
            if note is None:
                continue
            announced += 1
            message = world.messages[(note["channel_id"], note["message_id"])]
            if note["kind"] == "we_are_back":
                assert note["channel_id"] == link["to"]
                assert "we are back" in flat_text(message)
            else:
                assert note["channel_id"] == link["from"]
                assert target["handle"] in flat_text(message)
    assert announced


def test_migration_urls_appear_in_the_messages_truth_points_to(world: World) -> None:
    migrations = world.truth["migrations"]
    assert migrations
    for migration in migrations:
        message = world.messages[(migration["channel_id"], migration["message_id"])]
        assert migration["url"] in flat_text(message) or migration["url"] in hrefs(message)
    by_move: dict[str, set[str]] = {}
    for migration in migrations:
        if migration["move_id"]:
            by_move.setdefault(migration["move_id"], set()).add(migration["channel_id"])
    assert any(len(channels) >= 2 for channels in by_move.values())


def test_hard_negatives_quote_brands_but_are_not_propaganda(world: World) -> None:
    negatives = world.role_channels("news") + world.role_channels("research")
    assert negatives
    for record in negatives:
        assert record["propaganda"] is False
        chat = world.chats[record["channel_id"]]
        texts = [flat_text(m) for m in chat["messages"]]
        assert any(brand in text for text in texts for brand in BRANDS)
        assert not any(
            world.labels[(record["channel_id"], m["id"])]["propaganda"] for m in chat["messages"]
        )


def test_mirrors_carry_their_source(world: World) -> None:
    for mirror in world.truth["mirrors"]:
        carried = [
            label
            for (channel_id, _), label in world.labels.items()
            if channel_id == mirror["channel_id"] and label["origin"] is not None
        ]
        assert len(carried) == mirror["carried"]
        for label in carried:
            assert label["method"] == mirror["method"]
            immediate = label["via"] or label["origin"]
            assert immediate["channel_id"] == mirror["source_id"]


def test_benign_group_has_people_and_joins(world: World) -> None:
    (group,) = world.role_channels("benign_group")
    messages = world.chats[group["channel_id"]]["messages"]
    joins = [m for m in messages if m.get("action") == "join_group_by_link"]
    assert joins and all(
        m["actor_id"].startswith("user") and m["inviter"] == "Group" for m in joins
    )
    authors = {m["from_id"] for m in messages if m["type"] == "message"}
    assert len(authors) >= 3


def test_larger_scale_writes_more(tmp_path: Path) -> None:
    small = simulate_world(tmp_path / "s1", seed=3, scale=1)
    large = simulate_world(tmp_path / "s3", seed=3, scale=3)
    assert large.messages > small.messages * 2
    assert large.channels > small.channels * 2
    assert estimate_messages(3) / 2 <= large.messages <= estimate_messages(3) * 2
    truth = json.loads(large.truth_path.read_text(encoding="utf-8"))
    ids = [c["export_id"] for c in truth["channels"]]
    handles = [c["handle"] for c in truth["channels"] if c["handle"]]
    assert len(set(ids)) == len(ids) and len(set(handles)) == len(handles)


def test_progress_reports_every_message(tmp_path: Path) -> None:
    reported: list[int] = []
    summary = simulate_world(tmp_path / "p", seed=2, progress=reported.append)
    assert sum(reported) == summary.messages
    assert all(step > 0 for step in reported)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed"):
        simulate_world(tmp_path / "x", seed=-1)
    with pytest.raises(ValueError, match="scale"):
        simulate_world(tmp_path / "x", scale=0)
    with pytest.raises(ValueError, match="scale"):
        estimate_messages(0)
    assert not (tmp_path / "x").exists()


def test_output_directory_rules(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ValueError, match="not empty"):
        simulate_world(foreign)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="not a directory"):
        simulate_world(a_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    first = simulate_world(empty, seed=4)
    truth = first.truth_path.read_bytes()
    again = simulate_world(empty, seed=4)  # a previous simulation is replaced
    assert again.truth_path.read_bytes() == truth
