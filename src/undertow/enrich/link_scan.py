"""Scanning a message's text for link-like runs: URLs, bare hosts, URIs, JIDs, Matrix IDs,
`.onion` hosts and mentions (what `links.extract_links` then normalises and classifies).

Scanning runs on a lower-cased copy of the text, from cheap anchors ("://", "/", "@", ...),
and looks at no more than `_MAX_ANCHORS` of each anchor, so that hostile text costs little.
"""

from __future__ import annotations

import re

from undertow.enrich.link_platforms import is_known_host

MAX_URL_LENGTH = 2048
MAX_LINKS = 1000

_BODY = "[^\\s<>\"'`{}|\\\\^«»“”„‘’\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060\ufeff]"
# Scanning runs on a lower-cased copy of the text, from cheap anchors ("://", "/", "@", ...).
_URL_BODY = re.compile(f"{_BODY}{{0,{MAX_URL_LENGTH}}}")
_HOST_RUN = re.compile(r"(?:[a-z0-9-]{1,63}\.){1,8}[a-z][a-z0-9-]{1,62}(?![\w-])")
_MXID = re.compile(r"[@#][\w.=+/-]{1,255}:(?:[a-z0-9-]{1,63}\.)+[a-z]{2,63}(?::\d{1,5})?(?![\w-])")
_JID_DOMAIN = re.compile(r"@(?:[a-z0-9-]{1,63}\.)+[a-z]{2,63}(?![\w@-])")
_MENTION = re.compile(r"@[a-z][a-z0-9_]{3,31}(?![\w@])")
_COLON_SCHEMES = {"xmpp:": re.compile(r"\S*\w"), "tg:": re.compile(r"[a-z_]+\?"),
                  "matrix:": re.compile(r"(?:r|u|roomid)/")}  # fmt: skip
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")
_MAX_ANCHORS = 20 * MAX_LINKS
_URI_SCHEMES = frozenset({"http", "https", "tg", "xmpp"})


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _positions(haystack: str, needle: str) -> list[int]:
    found: list[int] = []
    index = haystack.find(needle)
    while index >= 0 and len(found) < _MAX_ANCHORS:
        found.append(index)
        index = haystack.find(needle, index + 1)
    return found


def scan(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) of link-like runs in `text`, in text order."""
    low = text.lower()
    if len(low) != len(text):  # a few characters (İ) grow when lower-cased
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    runs: list[tuple[int, int, str]] = []
    for index in _positions(low, "://"):
        start = index
        while start > 0 and index - start < 32 and low[start - 1] in _SCHEME_CHARS:
            start -= 1
        end = _run_end(low, index + 3)
        scheme = low[start:index]
        # Other schemes (ftp://, hxxp://) are claimed but dropped, so that nothing inside
        # them is taken for a bare link.
        runs.append((start, end, "uri" if scheme in _URI_SCHEMES and end > index + 3 else ""))
    for needle, shape in _COLON_SCHEMES.items():
        for index in _positions(low, needle) if needle in low else ():
            body = index + len(needle)
            if (index and low[index - 1] in _SCHEME_CHARS) or low.startswith("//", body):
                continue
            if shape.match(low, body):
                runs.append((index, _run_end(low, body), "uri"))
    claimed = sorted((run[0], run[1]) for run in runs)
    claim = 0
    for index in _positions(low, "/") if "/" in low else ():
        while claim < len(claimed) and claimed[claim][1] <= index:
            claim += 1
        if claim < len(claimed) and claimed[claim][0] <= index:
            continue  # a slash inside a URL found above
        start = index
        while start > 0 and index - start < 255 and low[start - 1] in _HOST_CHARS:
            start -= 1
        if start < index and _bounded(low, start) and is_known_host(low[start:index]):
            runs.append((start, _run_end(low, index), "host"))
    for index in _positions(low, "www.") if "www." in low else ():
        host = _HOST_RUN.match(low, index)
        if host and _bounded(low, index):
            runs.append((index, _body_end(low, host.end()), "host"))
    for index in _positions(low, ".onion") if ".onion" in low else ():
        start = index
        while start > 0 and index - start < 56 and low[start - 1] in _BASE32:
            start -= 1
        after = low[index + 6 : index + 7]
        if index - start in (16, 56) and _bounded(low, start) and not (after and _is_word(after)):
            runs.append((start, _body_end(low, index + 6), "host"))
    for index in _positions(low, "@") if "@" in low else ():
        before = low[index - 1] if index else " "
        if _is_word(before) or before in "._+-":
            start = index
            while (
                start > 0
                and index - start < 64
                and (_is_word(low[start - 1]) or low[start - 1] in "._+-")
            ):
                start -= 1
            domain = _JID_DOMAIN.match(low, index)
            if domain and _bounded(low, start):
                runs.append((start, domain.end(), "jid"))
        elif before not in "/:#@":
            matrix = _MXID.match(low, index)
            if matrix:
                runs.append((index, matrix.end(), "mxid"))
                continue
            mention = _MENTION.match(low, index)
            if mention:
                runs.append((index, mention.end(), "mention"))
    if "#" in low and ":" in low:
        for index in _positions(low, "#"):
            if index and (_is_word(low[index - 1]) or low[index - 1] in ".@#!/+=-"):
                continue
            matrix = _MXID.match(low, index)
            if matrix:
                runs.append((index, matrix.end(), "mxid"))
    if len(runs) > 1:
        runs.sort(key=lambda run: (run[0], -run[1]))
    kept: list[tuple[int, int, str]] = []
    reach = -1
    for run in runs:
        if run[0] >= reach:
            reach = run[1]
            if run[2]:
                kept.append(run)
    return kept


def _bounded(low: str, start: int) -> bool:
    """Whether a bare link may start at `start` (not inside a word, path or address)."""
    return start == 0 or not (_is_word(low[start - 1]) or low[start - 1] in ".@/:+#-")


def _body_end(low: str, end: int) -> int:
    """End of a bare host's path, query or fragment (or port) when one follows it."""
    if low[end : end + 1] in ("/", "?", "#", ":"):
        return _run_end(low, end + 1)
    return end


def _run_end(low: str, start: int) -> int:
    """Where the URL characters starting at `start` end (at most MAX_URL_LENGTH of them)."""
    body = _URL_BODY.match(low, start)
    return body.end() if body else start
