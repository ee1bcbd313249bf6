"""Finds every outbound link in a message, puts it in canonical form and says where it leads.

Links come from Telegram `link`, `text_link` and `mention` entities and from a scan of the text
(URLs, bare `t.me/x`-style paths on known platforms' hosts, `www.` hosts, `xmpp:`/`tg:`/`matrix:`
URIs, room JIDs, Matrix `@user:server`/`#room:server` identifiers, `.onion` hosts and `@handle`
mentions).  Where each link leads is decided in `link_platforms`.

Choices: only http(s), tg, xmpp and matrix URIs are links; other schemes (javascript:, data:,
ftp:, mailto:) are skipped by the scan and come out of `classify_url` as web/other.  A URL is
cut at MAX_URL_LENGTH characters (the destination lives in the host and first path segments),
a message gives at most MAX_LINKS links, only its first MAX_TEXT_LENGTH characters are scanned
(`link_scan` finds the candidates, looking at a bounded number of each anchor).  A link found
twice in a message is one Link (an entity's wins over the text's).  `start`/`end` are set only where
`text[start:end] == url`, so never for a `text_link` href.  Malformed input never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from undertow.enrich.link_platforms import (
    TG_NAME,
    Analysis,
    classify_host,
    clean_query,
    context_flags,
    host_platform,
    is_xmpp_jid,
    matrix_id,
    matrix_uri,
    platform_link,
    telegram_path,
    tg_uri,
    xmpp_address,
)
from undertow.enrich.link_scan import MAX_LINKS, MAX_URL_LENGTH, scan

MAX_TEXT_LENGTH = 200_000

PLATFORMS: tuple[str, ...] = (
    "telegram", "rocketchat", "matrix", "tamtam", "threema", "xmpp", "hoop", "mewe",
    "whatsapp", "discord", "onion", "paste", "archive", "filehost", "web",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Link:
    """One outbound link of a message; `text[start:end] == url` when it came from the text."""

    url: str
    normalized_url: str
    platform: str
    kind: str
    target: str | None
    source: str
    start: int | None = None
    end: int | None = None


_ROOM_ALIAS = re.compile(r"#[\w.=+/-]{1,255}:[a-z0-9-]+\.[a-z]", re.IGNORECASE)
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_URL_SAFE = "/:@!$&'()*+,;=-._~%?"
_TRAILING = ".,;:!?»”’\"'…)]}>*"
_LINK_ENTITIES = frozenset({"link", "text_link", "mention", "url"})

# (position, priority (0 entity, 1 text), raw, source, start, end, context start, context end)
_Candidate = tuple[int, int, str, str, int | None, int | None, int, int]


def normalize_url(url: str) -> str:
    """Canonical form of `url` (see the module docstring); never raises."""
    return _analyse(_trim(str(url).strip()[:MAX_URL_LENGTH]), 0)[0]


def classify_url(url: str, context: str = "") -> tuple[str, str, str | None]:
    """(platform, kind, target) of `url`; `context` is the text around it in the message."""
    _, platform, kind, target = _analyse(
        _trim(str(url).strip()[:MAX_URL_LENGTH]), context_flags(context)
    )
    return platform, kind, target


def extract_links(text: str, entities: Sequence[Mapping[str, Any]] = ()) -> list[Link]:
    """Every distinct link of a message, in text order; entity-marked ones win over the scan."""
    if text.__class__ is not str:
        text = text if isinstance(text, str) else ""
    if len(text) > MAX_TEXT_LENGTH:
        text = text[:MAX_TEXT_LENGTH]
    found: list[_Candidate] = []
    taken: list[tuple[int, int]] = []
    if entities:
        _entity_candidates(text, entities, found, taken)
    if _may_have_links(text):
        _text_candidates(text, found, taken)
    if not found:
        return []
    found.sort(key=lambda c: (c[0], c[1]))
    spans = [(c[6], c[7]) for c in found]
    best: dict[str, tuple[int, Link]] = {}
    for index, (_, priority, raw, source, start, end, _s, _e) in enumerate(found):
        context = _context(text, spans, index)
        normalized, platform, kind, target = _analyse(raw, context_flags(context))
        if not normalized:
            continue
        link = Link(raw, normalized, platform, kind, target, source, start, end)
        held = best.get(normalized)
        if held is None:
            if len(best) >= MAX_LINKS:
                break
            best[normalized] = (priority, link)
        elif priority < held[0]:
            best[normalized] = (priority, link)
    return [link for _, link in best.values()]


def _may_have_links(text: str) -> bool:
    """Cheap test that rules out most link-free messages before any regex runs."""
    if "/" in text or "@" in text:
        return True
    if ".onion" in text or ".ONION" in text or "www." in text or "WWW." in text:
        return True
    return "#" in text and ":" in text and _ROOM_ALIAS.search(text) is not None


def _entity_candidates(
    text: str,
    entities: Sequence[Mapping[str, Any]],
    found: list[_Candidate],
    taken: list[tuple[int, int]],
) -> None:
    if not isinstance(entities, Sequence) or isinstance(entities, str | bytes):
        return
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        kind = entity.get("type")
        if kind not in _LINK_ENTITIES:
            continue
        label = entity.get("text")
        label = label if isinstance(label, str) else ""
        span = _locate(text, label, entity.get("offset"))
        if kind == "text_link":
            href = entity.get("href")
            if not isinstance(href, str) or not href.strip():
                continue
            raw, source, start, end = _trim(href.strip()[:MAX_URL_LENGTH]), "href", None, None
        elif kind == "mention":
            if not label.startswith("@") or not TG_NAME.fullmatch(label, 1):
                continue
            raw, source = label, "mention"
            start, end = span if span else (None, None)
        else:
            raw = _trim(label.strip()[:MAX_URL_LENGTH])
            source = "link"
            start = span[0] + label.find(raw) if span and raw else None
            end = start + len(raw) if start is not None else None
        if not raw:
            continue
        if span:
            taken.append(span)
        where = span or (len(text), len(text))
        found.append((where[0], 0, raw, source, start, end, where[0], where[1]))
        if len(found) >= MAX_LINKS:
            return


def _locate(text: str, label: str, offset: Any) -> tuple[int, int] | None:
    """Span of an entity's text: at its offset when that is right, else its first occurrence."""
    if not label:
        return None
    if isinstance(offset, int) and offset >= 0 and text.startswith(label, offset):
        return offset, offset + len(label)
    index = text.find(label)
    return (index, index + len(label)) if index >= 0 else None


def _text_candidates(
    text: str,
    found: list[_Candidate],
    taken: list[tuple[int, int]],
) -> None:
    count = 0
    dropped: set[tuple[int, int]] = set()
    for start, stop, group in scan(text):
        raw = text[start : min(stop, start + MAX_URL_LENGTH)]
        if group in ("uri", "host"):
            raw = _trim(raw)
        end = start + len(raw)
        if not raw or (group == "jid" and not is_xmpp_jid(text, start, raw)):
            continue
        overlaps = [(s, e) for s, e in taken if s < end and start < e] if taken else []
        if overlaps:
            # Telegram marks "@alice" of "@alice:example.org" as a mention and the host of a
            # JID as a link; the whole identifier is the destination.  Otherwise the entity wins.
            wider = group in ("mxid", "jid") or (group == "uri" and raw[:4].lower() != "http")
            if not wider or not all(start <= s and e <= end for s, e in overlaps):
                continue
            dropped.update(overlaps)
        found.append((start, 1, raw, "mention" if group == "mention" else "text", start, end,
                      start, end))  # fmt: skip
        count += 1
        if count >= MAX_LINKS:
            break
    if dropped:
        found[:] = [c for c in found if c[1] or (c[6], c[7]) not in dropped]


def _context(text: str, spans: list[tuple[int, int]], index: int) -> str:
    """Words around link `index`: back to the previous link (at most 100 characters) and on to
    the end of its line or the next link (at most 40)."""
    start, end = spans[index]
    if start >= len(text):
        return ""
    left = min(start, max(0, start - 100, spans[index - 1][1] if index else 0))
    right = min(len(text), end + 40)
    if index + 1 < len(spans):
        right = max(end, min(right, spans[index + 1][0]))
    newline = text.find("\n", end, right)
    if newline >= 0:
        right = newline
    return text[left:right]


def _trim(url: str) -> str:
    """Drop punctuation that ends a sentence rather than the URL (keeping balanced brackets)."""
    while url and url[-1] in _TRAILING:
        last = url[-1]
        if last == ")" and url.count("(") >= url.count(")"):
            break
        if last == "]" and url.count("[") >= url.count("]"):
            break
        url = url[:-1]
    return url


@lru_cache(maxsize=8192)
def _analyse(raw: str, flags: int) -> Analysis:
    """(normalized_url, platform, kind, target) of one raw link."""
    if not raw:
        return "", "web", "other", None
    try:
        return _analyse_unchecked(raw, flags)
    except (ValueError, IndexError):  # defensive: a parser bug must not stop an import
        return raw.lower(), "web", "other", None


def _analyse_unchecked(raw: str, flags: int) -> Analysis:
    first = raw[0]
    if first in "@#!":
        if first == "@" and ":" not in raw:
            return telegram_path(raw[1:], "")
        return matrix_id(raw) or (raw.lower(), "web", "other", None)
    scheme, colon, rest = raw.partition(":")
    scheme = scheme.lower()
    if not colon or not scheme.isascii() or not scheme.isalpha():
        scheme, rest = "", raw
    if scheme in ("http", "https"):
        if not rest.startswith("//"):
            return raw.lower(), "web", "other", None
        rest = rest[2:]
    elif scheme == "tg":
        return tg_uri(rest)
    elif scheme == "xmpp":
        return xmpp_address(rest)
    elif scheme == "matrix":
        return matrix_uri(rest)
    elif scheme == "":
        if "@" in raw.split("/", 1)[0]:
            return xmpp_address(raw)
        scheme, rest = "https", raw.removeprefix("//")
    else:
        return scheme + ":" + rest, "web", "other", None
    return _http(scheme, rest, flags)


def _http(scheme: str, rest: str, flags: int) -> Analysis:
    """An http(s) URL (`rest` is after "//"): canonical host, path, query and fragment."""
    cut = len(rest)
    for sep in "/?#":
        index = rest.find(sep)
        if 0 <= index < cut:
            cut = index
    netloc, tail = rest[:cut], rest[cut:]
    tail, _, fragment = tail.partition("#")
    path, _, query = tail.partition("?")
    host, port = _host_port(netloc.rpartition("@")[2])
    platform = host_platform(host)
    found = platform_link(platform, host, path, query, fragment)
    if found:
        return found
    if port and (scheme, port) not in (("http", "80"), ("https", "443")):
        hostport = f"{host}:{port}"
    else:
        hostport = host
    if not path.isascii():
        path = quote(path, safe=_URL_SAFE)
    if "%" in path:
        path = _PERCENT.sub(_upper, path)
    query = clean_query(query)
    if not query.isascii():
        query = quote(query, safe=_URL_SAFE)
    keep_fragment = fragment if fragment.startswith(("/", "!")) else ""
    url = f"{scheme}://{hostport}{path or '/'}"
    if query:
        url += "?" + query
    if keep_fragment:
        url += "#" + keep_fragment
    return classify_host(url, platform, host, path, query, flags)


def _upper(match: re.Match[str]) -> str:
    return match.group().upper()


def _host_port(hostport: str) -> tuple[str, str]:
    """Lower-cased ASCII (punycode) host without "www." and a trailing dot, and the port."""
    host, port = hostport, ""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end > 0:
            host, port = hostport[: end + 1], hostport[end + 2 :]
    elif ":" in hostport:
        host, _, port = hostport.rpartition(":")
    if port and not port.isdigit():
        host, port = hostport, ""
    host = host.lower().rstrip(".")
    if not host.isascii():
        with suppress(UnicodeError):  # not a valid IDN: keep the lower-cased raw form
            host = host.encode("idna").decode("ascii")
    if host.startswith("www."):
        host = host[4:]
    return host, port.lstrip("0") or ("0" if port else "")
