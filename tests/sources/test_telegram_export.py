"""Telegram Desktop exports of every vintage map to the right canonical records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from undertow.enrich.evidence import EvidenceStore
from undertow.enrich.pseudonym import Pseudonymiser
from undertow.records import ChannelRecord, MessageRecord, TitleObservation
from undertow.settings import Settings
from undertow.sources.base import ImportContext, Source
from undertow.sources.jsonstream import ExportFormatError
from undertow.sources.telegram_export import TelegramExportSource

from conftest import shared_dataset
from export_builder import chat, message, service, write_export

KEY = bytes(range(32))


def read(path: Path, settings: Settings, **overrides: Any) -> list[Any]:
    context = ImportContext(
        settings=settings.with_overrides(**overrides),
        pseudonyms=Pseudonymiser(KEY),
        evidence=EvidenceStore(settings.evidence_dir),
    )
    return list(TelegramExportSource().read(path, context))


def msgs(items: list[Any]) -> list[MessageRecord]:
    return [i for i in items if isinstance(i, MessageRecord)]


def test_source_satisfies_the_protocol() -> None:
    assert isinstance(TelegramExportSource(), Source)


def test_text_forms_entities_links_and_hashtags(tmp_path: Path, sqlite_settings: Settings) -> None:
    path = write_export(
        tmp_path,
        chat(
            [
                message(1, "plain text with https://example.org/a, and #NoEntity"),
                message(
                    2,
                    [
                        "see ",
                        {"type": "link", "text": "https://t.me/newchan"},
                        " and ",
                        {"type": "hashtag", "text": "#KhilafahNews"},
                        " ",
                        {"type": "text_link", "text": "here", "href": "https://justpaste.it/abc"},
                        " ",
                        {"type": "mention", "text": "@backup"},
                    ],
                ),
                {
                    "id": 3,
                    "type": "message",
                    "date": "2020-01-01T10:00:00",
                    "from": "Test Channel",
                    "from_id": "channel100",
                    "text": "no unixtime #tag t.me/abc",
                },
            ]
        ),
    )
    one, two, three = msgs(read(path, sqlite_settings))
    assert one.text == "plain text with https://example.org/a, and #NoEntity"
    assert one.links == ["https://example.org/a"]
    assert one.hashtags == []  # the exporter marks real hashtags as entities
    assert two.text == "see https://t.me/newchan and #KhilafahNews here @backup"
    assert two.links == ["https://t.me/newchan", "https://justpaste.it/abc"]
    assert two.hashtags == ["#KhilafahNews"]
    assert two.mentions == ["@backup"]
    assert [e["type"] for e in two.entities] == ["link", "hashtag", "text_link", "mention"]
    assert two.entities[1]["offset"] == two.text.index("#KhilafahNews")
    assert three.date == 1577872800  # local ISO time without zone taken as UTC
    assert three.hashtags == ["#tag"]
    assert three.links == ["t.me/abc"]


def test_old_export_numeric_from_id_and_pseudonymised_people(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    path = write_export(
        tmp_path,
        chat(
            [
                {
                    "id": 1,
                    "type": "message",
                    "date": "2019-01-01T00:00:00",
                    "from": "Real Person Name",
                    "from_id": 4242,
                    "text": "hi",
                },
                {
                    "id": 2,
                    "type": "message",
                    "date": "2019-01-01T00:01:00",
                    "from": "Other Person",
                    "from_id": "user77",
                    "text": "yo",
                },
                {
                    "id": 3,
                    "type": "message",
                    "date": "2019-01-01T00:02:00",
                    "from": "Grp",
                    "from_id": "channel9",
                    "text": "as channel",
                },
                service(
                    4,
                    "invite_members",
                    actor="Real Person Name",
                    actor_id="user4242",
                    members=["Invited Person"],
                ),
                service(
                    5, "join_group_by_link", actor="Joiner Name", actor_id="user5", inviter="Group"
                ),
            ],
            kind="public_supergroup",
            name="Grp",
            chat_id=9,
        ),
    )
    items = read(path, sqlite_settings)
    records = msgs(items)
    assert records[0].author == records[3].action["actor"]  # numeric old id == "user4242"
    assert records[0].author is not None and records[0].author.startswith("user:")
    assert records[1].author != records[0].author
    assert records[2].author is None and records[2].author_channel_id == "telegram:9"
    assert records[3].action["members"][0].startswith("user:")
    dumped = json.dumps([repr(i) for i in items])
    for secret in (
        "Real Person Name",
        "Other Person",
        "Invited Person",
        "Joiner Name",
        "4242",
        "user77",
    ):
        assert secret not in dumped


def test_service_actions_titles_and_custom_actions(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    path = write_export(
        tmp_path,
        chat(
            [
                service(1, "create_channel", title="Daily Recipes"),
                message(2, "a recipe"),
                service(3, "edit_group_title", title="Nashir News"),
                service(
                    4,
                    "edit_group_photo",
                    photo="(File not included. Change data exporting settings to download.)",
                    width=640,
                    height=640,
                ),
                service(5, "pin_message", message_id=2),
                {
                    "id": 6,
                    "type": "service",
                    "date": "2020-01-01T00:00:00",
                    "actor": "Test Channel",
                    "actor_id": "channel100",
                    "information_text": "something custom",
                    "text": "",
                },
                service(7, "migrate_from_group", title="Old Group"),
                service(8, "custom_action", title="Someone did something"),
            ],
            name="Nashir News",
        ),
    )
    items = read(path, sqlite_settings)
    records = msgs(items)
    assert [r.service_action for r in records if r.kind == "service"] == [
        "create_channel",
        "edit_group_title",
        "edit_group_photo",
        "pin_message",
        "custom",
        "migrate_from_group",
        "custom_action",
    ]
    assert records[4].action == {
        "action": "pin_message",
        "message_id": 2,
        "actor_channel_id": "telegram:100",
    }
    assert records[5].action["information_text"] == "something custom"
    titles = [(t.title, t.source) for t in items if isinstance(t, TitleObservation)]
    assert titles == [
        ("Daily Recipes", "create_channel"),
        ("Nashir News", "edit_group_title"),
        ("Old Group", "migrate_from_group"),
        ("Nashir News", "export"),
    ]
    photo = records[3].media[0]
    assert (photo.role, photo.status, photo.width) == ("photo", "not_included", 640)


def test_media_stored_missing_placeholder_and_path_escape(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    (export / "photos" / "p1.jpg").write_bytes(b"\xff\xd8fake-jpeg-1")
    (tmp_path / "secret.txt").write_text("outside the export")
    path = write_export(
        export,
        chat(
            [
                message(1, "", photo="photos/p1.jpg", width=10, height=10),
                message(2, "", photo="photos/p1.jpg", width=10, height=10),
                message(
                    3,
                    "",
                    file="files/gone.mp4",
                    media_type="video_file",
                    mime_type="video/mp4",
                    thumbnail="files/gone_thumb.jpg",
                ),
                message(
                    4,
                    "",
                    file="(File exceeds maximum size. Change data exporting settings to download.)",
                    media_type="video_file",
                ),
                message(5, "", file="../secret.txt"),
                message(6, "", file="/etc/hostname"),
            ]
        ),
    )
    records = msgs(read(path, sqlite_settings))
    expected_sha = hashlib.sha256(b"\xff\xd8fake-jpeg-1").hexdigest()
    first = records[0].media[0]
    assert (first.status, first.sha256, first.size, first.mime) == (
        "stored",
        expected_sha,
        13,
        "image/jpeg",
    )
    assert records[1].media[0].sha256 == expected_sha
    blob = EvidenceStore(sqlite_settings.evidence_dir).blob_path(expected_sha)
    assert blob.read_bytes() == b"\xff\xd8fake-jpeg-1"
    assert [(m.role, m.status) for m in records[2].media] == [
        ("file", "missing"),
        ("thumbnail", "missing"),
    ]
    assert records[2].media[0].kind == "video_file"
    assert records[3].media[0].status == "not_included" and records[3].media[0].path is None
    assert records[4].media[0].status == "rejected"
    assert records[5].media[0].status == "rejected"


def test_personal_chats_are_skipped_unless_asked(tmp_path: Path, sqlite_settings: Settings) -> None:
    account = {
        "personal_information": {"first_name": "Owner", "phone_number": "+10000000"},
        "chats": {
            "list": [
                chat([message(1, "dm")], name="Friend Name", chat_id=555, kind="personal_chat"),
                chat([message(1, "public post")], name="Open Channel", chat_id=777),
            ]
        },
        "left_chats": {
            "list": [
                chat([message(1, "old")], name="Left Group", chat_id=888, kind="private_supergroup")
            ]
        },
    }
    path = write_export(tmp_path, account)
    items = read(path, sqlite_settings)
    channels = [i for i in items if isinstance(i, ChannelRecord)]
    assert [c.channel_id for c in channels] == ["telegram:777", "telegram:888"]
    assert [c.kind for c in channels] == ["channel", "group"]
    with_private = read(path, sqlite_settings, include_private=True)
    private = next(i for i in with_private if isinstance(i, ChannelRecord))
    assert private.kind == "user"
    assert "555" not in private.channel_id and "Friend" not in (private.title or "")


def test_stripped_export_without_ids_gets_stable_identities(
    tmp_path: Path, sqlite_settings: Settings
) -> None:
    doc = {
        "chats": {
            "list": [
                {
                    "name": "Chatname",
                    "messages": [
                        {
                            "type": "message",
                            "date_unixtime": "1544006350",
                            "from": "Author 1",
                            "text": "a",
                        },
                        {
                            "type": "message",
                            "date_unixtime": "1544006964",
                            "from": "Author 2",
                            "text": "b",
                        },
                    ],
                }
            ]
        }
    }
    path = write_export(tmp_path, doc)
    first = read(path, sqlite_settings)
    second = read(path, sqlite_settings)
    assert [m.message_id for m in msgs(first)] == [1, 2]
    assert first[0].channel_id == second[0].channel_id
    assert first[0].channel_id.startswith("telegram:anon-")


@pytest.mark.parametrize(
    ("bad_message", "problem"),
    [
        (
            {"id": "abc", "type": "message", "date_unixtime": "1", "text": ""},
            "'id' is not an integer",
        ),
        ({"id": 1, "type": "message", "text": ""}, "has no 'date'"),
        ({"id": 1, "type": "message", "date": "yesterday", "text": ""}, "not an ISO 8601 date"),
        ({"id": 1, "type": "message", "date_unixtime": "soon", "text": ""}, "not a number"),
        ({"id": 1, "type": "message", "date_unixtime": "1", "text": 5}, "'text' must be"),
        ({"id": 1, "type": "message", "date_unixtime": "1", "text": [["nested"]]}, "text part"),
        ({"id": 1, "type": "message", "date_unixtime": "1", "text": "", "photo": 7}, "media field"),
        ("just a string", "must be a JSON object"),
    ],
)
def test_bad_records_are_named(
    tmp_path: Path, sqlite_settings: Settings, bad_message: Any, problem: str
) -> None:
    path = write_export(tmp_path, chat([message(1, "fine"), bad_message]))
    with pytest.raises(ExportFormatError) as caught:
        read(path, sqlite_settings)
    text = str(caught.value)
    assert str(path) in text and "messages[1]" in text and problem in text


def test_hostile_strings_are_made_storable(tmp_path: Path, sqlite_settings: Settings) -> None:
    raw = (
        b'{"name": "N\\u0000ul", "type": "public_channel", "id": 1, "messages": ['
        b'{"id": 1, "type": "message", "date_unixtime": "5", '
        b'"text": "lone \\ud800 surrogate \\x00 nul \\u202e rtl"}]}'
    )
    path = tmp_path / "result.json"
    path.write_bytes(raw)
    items = read(path, sqlite_settings)
    (record,) = msgs(items)
    record.text.encode("utf-8")
    assert "\x00" not in record.text and "\u202e" in record.text
    assert items[0].title == "N\ufffdul"


def test_every_real_sample_export_reads(sqlite_settings: Settings) -> None:
    folder = shared_dataset("telegram-exports")
    source = TelegramExportSource()
    files = source.discover([folder])
    names = {f.name for f in files}
    assert {
        "tg2md__result.json",
        "Tkonverter__result.json",
        "chat-miner__test_batch_export.json",
    } <= names
    assert not any("rocketchat" in str(f) or "matrix" in str(f) for f in files)
    total = 0
    for path in files:
        items = read(path, sqlite_settings, include_private=True)
        total += len(msgs(items))
        assert any(isinstance(i, ChannelRecord) for i in items), path
    assert total >= 160
