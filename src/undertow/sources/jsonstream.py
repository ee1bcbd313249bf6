"""Streaming reader for chat-export JSON: yields chats and their messages one at a time.

The file is read in chunks; the structure around the `messages` arrays (a single-chat export,
or `chats.list` / `left_chats.list` of a full-account export) is walked token by token, and
each message is decoded whole by the C JSON scanner.  Memory therefore stays at a few chunks
plus the largest single message, whatever the file size.

It also repairs the one way Telegram Desktop's exporter writes invalid JSON: control
characters escaped as `\\xNN`, which are rewritten to `\\uNNNN` before decoding.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NoReturn

Scalar = str | int | float | bool | None

_WS = re.compile(r"[ \t\n\r]*")
_SEPARATOR = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+\-]*")
_X_ESCAPE = re.compile(r"(\\+)x([0-9a-fA-F]{2})")
# Containers that hold chats in a full-account export; anything else is decoded and dropped.
_CHAT_CONTAINERS = frozenset({"chats", "left_chats", "list"})
_MAX_DEPTH = 3


class ExportFormatError(ValueError):
    """The file is not valid export JSON; says where, in which record, and what was wrong."""

    def __init__(
        self, source: str, problem: str, *, line: int, column: int, offset: int, record: str | None
    ) -> None:
        self.source = source
        self.problem = problem
        self.line = line
        self.column = column
        self.offset = offset
        self.record = record
        where = f"line {line}, column {column} (character {offset})"
        if record:
            where += f", in {record}"
        super().__init__(f"{source}: {where}: {problem}")


@dataclass(slots=True)
class ChatStart:
    """A chat object's `messages` array begins; `header` has the scalar keys seen before it."""

    path: str
    header: dict[str, Scalar]


@dataclass(slots=True)
class ChatEnd:
    """The chat object closed; `fields` has every scalar key of it, before and after messages."""

    path: str
    fields: dict[str, Scalar] = field(default_factory=dict)
    messages: int = 0


def _fix_x_escapes(text: str) -> str:
    if "\\x" not in text:
        return text

    def repl(match: re.Match[str]) -> str:
        slashes, digits = match.group(1), match.group(2)
        if len(slashes) % 2 == 0:  # `\\x41` is an escaped backslash followed by "x41"
            return match.group(0)
        return f"{slashes[:-1]}\\u00{digits}"

    return _X_ESCAPE.sub(repl, text)


def _safe_cut(text: str) -> int:
    """Where to split `text` so that no backslash escape straddles the split."""
    start = max(0, len(text) - 8)
    last = text.rfind("\\", start)
    if last < 0:
        return len(text)
    while last > 0 and text[last - 1] == "\\":
        last -= 1
    return last


class ExportJsonReader:
    """Walks one export file and yields `ChatStart`, each message value, then `ChatEnd`."""

    def __init__(
        self,
        stream: BinaryIO,
        source: str,
        *,
        chunk_size: int = 1 << 20,
        max_record_chars: int = 64 * 1024 * 1024,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self._stream = stream
        self.source = source
        self._chunk = chunk_size
        self._max_record = max_record_chars
        self._on_bytes = on_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._decode = json.JSONDecoder(strict=False).raw_decode
        self._buf = ""
        self._pos = 0
        self._carry = ""
        self._eof = False
        self._dropped_chars = 0
        self._dropped_lines = 0
        self._record: str | None = None
        self._array_path: str | None = None
        self._array_index = 0
        self.chats = 0

    # -- buffer ---------------------------------------------------------------------------

    def _fill(self, at_least: int = 0) -> bool:
        """Append the next chunk to the buffer; False when the file is exhausted."""
        if self._eof:
            return False
        data = self._stream.read(max(self._chunk, at_least))
        if self._on_bytes is not None and data:
            self._on_bytes(len(data))
        if data:
            text = self._carry + self._utf8.decode(data)
            cut = _safe_cut(text)
            self._carry = text[cut:]
            text = text[:cut]
        else:
            text = self._carry + self._utf8.decode(b"", final=True)
            self._carry = ""
            self._eof = True
        if self._pos > self._chunk:
            self._dropped_lines += self._buf.count("\n", 0, self._pos)
            self._dropped_chars += self._pos
            self._buf = self._buf[self._pos :]
            self._pos = 0
        self._buf += _fix_x_escapes(text)
        return True

    def _peek(self) -> str:
        """The next non-whitespace character, without consuming it; "" at end of file."""
        while True:
            self._pos = _WS.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _expect(self, char: str) -> None:
        found = self._peek()
        if found != char:
            shown = repr(found) if found else "end of file"
            self._fail(f"expected {char!r} but found {shown}" + self._truncation_hint(found))
        self._pos += 1

    def _value(self) -> Any:
        """Decode one complete JSON value at the cursor, reading more of the file as needed."""
        self._peek()
        while True:
            try:
                value, end = self._decode(self._buf, self._pos)
            except RecursionError:
                self._fail("a record is nested too deeply")
            except json.JSONDecodeError as exc:
                if self._eof:
                    self._fail(exc.msg + self._truncation_hint(""), at=exc.pos)
                if len(self._buf) - self._pos > self._max_record:
                    self._fail(f"one record is larger than {self._max_record} characters")
                self._fill(at_least=len(self._buf) - self._pos)
                continue
            # A number that ends at (or just short of) the buffer's end may continue in the file.
            if not self._eof and (
                end >= len(self._buf)
                or (type(value) in (int, float) and _NUMBER_TAIL.fullmatch(self._buf, end))
            ):
                self._fill()
                continue
            self._pos = end
            return value

    def _truncation_hint(self, found: str) -> str:
        return " (the file ends early: truncated?)" if self._eof and not found else ""

    def _fail(self, problem: str, *, at: int | None = None) -> NoReturn:
        raise self.error(problem, at=at)

    def error(self, problem: str, *, at: int | None = None) -> ExportFormatError:
        """An error located at the reader's position (or `at`) in the current record."""
        offset = self._pos if at is None else at
        line = self._dropped_lines + self._buf.count("\n", 0, offset) + 1
        column = offset - (self._buf.rfind("\n", 0, offset) + 1) + 1
        return ExportFormatError(
            self.source,
            problem,
            line=line,
            column=column,
            offset=self._dropped_chars + offset,
            record=self.record,
        )

    @property
    def record(self) -> str | None:
        """Where the reader is, as a JSON path such as `chats.list[2].messages[17]`."""
        if self._array_path is not None:
            return f"{self._array_path}[{self._array_index}]"
        return self._record

    # -- structure -----------------------------------------------------------------------

    def events(self) -> Iterator[ChatStart | ChatEnd | Any]:
        first = self._peek()
        if first == "\ufeff":
            self._pos += 1
            first = self._peek()
        if first != "{":
            shown = repr(first) if first else "an empty file"
            self._fail(f"not a chat export: expected a JSON object at the top but found {shown}")
        yield from self._object("", 0)
        if self._peek() != "":
            self._fail("unexpected data after the end of the export's JSON object")
        if self.chats == 0:
            self._record = None
            self._fail("not a chat export: no 'messages' array found")

    def _object(self, path: str, depth: int) -> Iterator[ChatStart | ChatEnd | Any]:
        self._expect("{")
        fields: dict[str, Scalar] = {}
        messages = -1
        if self._peek() == "}":
            self._pos += 1
            return
        while True:
            key = self._value()
            if not isinstance(key, str):
                self._fail("object key is not a string")
            self._expect(":")
            nxt = self._peek()
            child = f"{path}.{key}" if path else key
            if key == "messages" and nxt == "[" and messages < 0:
                self.chats += 1
                yield ChatStart(path or "$", dict(fields))
                messages = yield from self._messages(child)
                self._record = path or None
            elif nxt in "{[" and depth < _MAX_DEPTH and key in _CHAT_CONTAINERS:
                self._record = child
                yield from (
                    self._object(child, depth + 1) if nxt == "{" else self._array(child, depth + 1)
                )
            else:
                self._record = child
                value = self._value()
                if value is None or isinstance(value, str | int | float | bool):
                    fields[key] = value
            sep = self._peek()
            if sep == ",":
                self._pos += 1
                continue
            if sep == "}":
                self._pos += 1
                break
            self._fail(f"expected ',' or '}}' after key {key!r}" + self._truncation_hint(sep))
        if messages >= 0:
            yield ChatEnd(path or "$", fields, messages)

    def _array(self, path: str, depth: int) -> Iterator[ChatStart | ChatEnd | Any]:
        self._expect("[")
        index = 0
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            item = f"{path}[{index}]"
            self._record = item
            if self._peek() == "{" and depth < _MAX_DEPTH:
                yield from self._object(item, depth + 1)
            else:
                self._value()
            index += 1
            sep = self._peek()
            if sep == ",":
                self._pos += 1
            elif sep == "]":
                self._pos += 1
                return
            else:
                self._fail("expected ',' or ']' in array" + self._truncation_hint(sep))

    def _messages(self, path: str) -> Generator[Any, None, int]:
        """Yield each element of a `messages` array; returns how many there were.

        The common case (a whole message and its separator already in the buffer) is handled
        inline with one scanner call and one regex match; anything else takes the careful path.
        """
        self._expect("[")
        if self._peek() == "]":
            self._pos += 1
            return 0
        index = 0
        decode = self._decode
        separator = _SEPARATOR.match
        self._array_path = path
        while True:
            self._array_index = index
            buf = self._buf
            try:
                value, end = decode(buf, self._pos)
                sep = separator(buf, end)
                fast = sep is not None and sep.end() < len(buf)
            except (json.JSONDecodeError, RecursionError):
                fast = False
            if fast:
                self._pos = sep.end()  # type: ignore[union-attr]
                yield value
                index += 1
                if sep.group(1) == "]":  # type: ignore[union-attr]
                    self._array_path = None
                    return index
                continue
            yield self._value()
            index += 1
            found = self._peek()
            if found == ",":
                self._pos += 1
                self._peek()
            elif found == "]":
                self._pos += 1
                self._array_path = None
                return index
            else:
                self._fail("expected ',' or ']' between messages" + self._truncation_hint(found))
