"""The streaming reader decodes exactly what json.loads would, in bounded memory, and names
where broken input breaks."""

from __future__ import annotations

import io
import json
import tracemalloc
from typing import Any

import pytest

from undertow.sources.jsonstream import ChatEnd, ChatStart, ExportFormatError, ExportJsonReader


def read(data: bytes | str, **kwargs: Any) -> list[Any]:
    raw = data.encode() if isinstance(data, str) else data
    return list(ExportJsonReader(io.BytesIO(raw), "test.json", **kwargs).events())


def messages_of(events: list[Any]) -> list[Any]:
    return [e for e in events if not isinstance(e, ChatStart | ChatEnd)]


SAMPLE = {
    "name": "Chan",
    "type": "public_channel",
    "id": 5,
    "messages": [
        {
            "id": i,
            "type": "message",
            "text": ["a" * i, {"type": "hashtag", "text": "#x"}],
            "n": 1.5e3,
        }
        for i in range(1, 300)
    ],
    "after": "tail",
}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
def test_any_chunk_size_gives_what_json_loads_gives(chunk: int) -> None:
    events = read(json.dumps(SAMPLE, indent=1), chunk_size=chunk)
    assert isinstance(events[0], ChatStart)
    assert events[0].header == {"name": "Chan", "type": "public_channel", "id": 5}
    assert messages_of(events) == SAMPLE["messages"]
    end = events[-1]
    assert isinstance(end, ChatEnd)
    assert end.fields["after"] == "tail"
    assert end.messages == len(SAMPLE["messages"])


def test_numbers_split_across_chunks_are_not_cut() -> None:
    doc = '{"messages": [123456789, 98765.4321e2, true, null]}'
    for chunk in range(1, 12):
        assert messages_of(read(doc, chunk_size=chunk)) == [123456789, 98765.4321e2, True, None]


def test_full_account_export_yields_every_chat_with_its_path() -> None:
    doc = {
        "about": "x",
        "personal_information": {"first_name": "Someone", "phone_number": "+000"},
        "contacts": {"list": [{"first_name": "A"}]},
        "chats": {
            "about": "y",
            "list": [
                {"name": "A", "id": 1, "messages": [{"id": 1}]},
                {"name": "B", "id": 2, "messages": []},
            ],
        },
        "left_chats": {"list": [{"name": "C", "id": 3, "messages": [{"id": 9}]}]},
    }
    events = read(json.dumps(doc))
    starts = [e for e in events if isinstance(e, ChatStart)]
    assert [(s.path, s.header["name"]) for s in starts] == [
        ("chats.list[0]", "A"),
        ("chats.list[1]", "B"),
        ("left_chats.list[0]", "C"),
    ]
    assert messages_of(events) == [{"id": 1}, {"id": 9}]


def test_exporter_x_escapes_become_control_characters() -> None:
    raw = b'{"messages": [{"text": "bell\\x07 nul\\x00 tab\\x09 kept \\\\x41 end"}]}'
    for chunk in (1, 3, 5, 4096):
        (msg,) = messages_of(read(raw, chunk_size=chunk))
        assert msg["text"] == "bell\x07 nul\x00 tab\t kept \\x41 end"


def test_byte_order_mark_and_raw_control_characters_are_accepted() -> None:
    raw = "\ufeff" + '{"messages": [{"text": "line\x01break"}]}'
    assert messages_of(read(raw.encode("utf-8"))) == [{"text": "line\x01break"}]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    raw = b'{"messages": [{"text": "bad \xff\xfe byte"}]}'
    assert messages_of(read(raw))[0]["text"] == "bad \ufffd\ufffd byte"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty file"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"name": "x"}', "no 'messages' array"),
        (b'{"rid": "r", "msgs": []}', "no 'messages' array"),
        (b'{"messages": [{"id": 1}, {"id": 2', "truncated"),
        (b'{"messages": [{"id": 1}, {"id": 2}', "truncated"),
        (b'{"messages": [{"id": 1} {"id": 2}]}', "expected ',' or ']'"),
        (b'{"messages": [{"id": 1}]} trailing', "unexpected data after"),
        (b'{"messages": [{"id": 1,}]}', "messages[0]"),
        (b'{"name": "x", "messages": [{"id": "a\\q"}]}', "messages[0]"),
    ],
)
def test_broken_input_names_file_position_and_record(data: bytes, expected: str) -> None:
    with pytest.raises(ExportFormatError) as caught:
        read(data, chunk_size=4)
    message = str(caught.value)
    assert message.startswith("test.json: line ")
    assert expected in message


def test_error_position_counts_lines_across_chunks() -> None:
    good = ",\n".join(json.dumps({"id": i}) for i in range(1000))
    data = '{"messages": [\n' + good + ",\n{broken}\n]}"
    with pytest.raises(ExportFormatError) as caught:
        read(data, chunk_size=16)
    assert caught.value.line == 1002
    assert caught.value.record == "messages[1000]"


def test_a_record_over_the_limit_is_refused() -> None:
    data = '{"messages": [{"text": "' + "x" * 5000 + '"}]}'
    with pytest.raises(ExportFormatError, match="larger than 1000 characters"):
        read(data, chunk_size=64, max_record_chars=1000)


def test_deep_nesting_inside_a_message_is_decoded_or_refused_cleanly() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    data = '{"messages": [' + deep + "]}"
    with pytest.raises(ExportFormatError, match="nested too deeply"):
        read(data)


def test_memory_stays_bounded_on_a_large_file() -> None:
    """20 MB of messages read with 64 KiB chunks never holds more than a few chunks."""
    line = json.dumps({"id": 1, "type": "message", "text": "x" * 200})
    body = ",\n".join([line] * 80_000)
    data = ('{"name": "big", "messages": [\n' + body + "\n]}").encode()
    stream = io.BytesIO(data)
    del body
    tracemalloc.start()
    count = 0
    for event in ExportJsonReader(stream, "big.json", chunk_size=65536).events():
        if isinstance(event, dict):
            count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 80_000
    assert len(data) > 18_000_000
    assert peak < 2_000_000, f"peak {peak} bytes while streaming {len(data)} bytes"
