"""Placeholder text for the simulator: neutral sentences, indicator markers and export rendering.

No real propaganda is ever produced: posts are built from a small fixed vocabulary of neutral
words plus the brand names and hashtags that public reporting names as indicators.
"""

from __future__ import annotations

import random
import re
from typing import Any

# (entity type, text, href); "plain" parts become bare strings in the export's `text` array.
Part = tuple[str, str, str | None]

NEUTRAL_NOUNS = (
    "report", "market", "weather", "update", "river", "bridge", "road", "city", "morning",
    "evening", "bulletin", "field", "harvest", "train", "station", "school", "garden", "village",
    "office", "notice", "water", "season", "program", "schedule", "meeting", "summary", "area",
    "route", "forecast", "library", "harbour", "valley", "square", "council", "festival",
    "avenue", "bakery", "barn", "beach", "bench", "bicycle", "boat", "border", "building",
    "bus", "cabin", "canal", "castle", "cathedral", "chapel", "clinic", "clock", "coast",
    "college", "corner", "cottage", "court", "creek", "crossing", "dam", "district", "dock",
    "factory", "farm", "ferry", "fountain", "forest", "gallery", "gate", "hall", "hill",
    "hospital", "hotel", "island", "junction", "kiosk", "lake", "lane", "lighthouse", "meadow",
    "mill", "monument", "museum", "orchard", "park", "path", "pier", "plaza", "pond", "port",
    "quay", "ridge", "shop", "shore", "stadium", "street", "studio", "suburb", "terrace",
    "theatre", "tower", "town", "tram", "tunnel", "university", "vineyard", "warehouse",
    "workshop", "yard", "agenda", "archive", "article", "budget", "calendar", "census",
    "chart", "column", "contract", "digest", "directory", "draft", "edition", "estimate",
    "figure", "guide", "headline", "index", "journal", "leaflet", "letter", "manual", "memo",
    "minutes", "newsletter", "outline", "pamphlet", "plan", "poll", "poster", "proposal",
    "record", "register", "review", "roster", "sample", "sketch", "statement", "survey",
    "table", "timetable", "ticket", "tally", "volume", "almanac", "atlas", "noticeboard",
    "catalogue", "chronicle", "circular", "compendium", "dossier", "gazette", "handbook",
    "inventory", "ledger", "logbook", "map", "notebook", "portfolio", "programme", "questionnaire",
)  # fmt: skip
NEUTRAL_VERBS = (
    "reported", "updated", "noted", "described", "listed", "shared", "reviewed", "scheduled",
    "announced", "covered", "mentioned", "outlined", "recorded", "summarised", "posted",
    "printed", "published", "revised", "checked", "counted", "measured", "compared", "drafted",
    "edited", "filed", "gathered", "highlighted", "indexed", "inspected", "introduced",
    "logged", "mapped", "marked", "moved", "observed", "opened", "ordered", "organised",
    "planned", "prepared", "presented", "proposed", "quoted", "ranked", "rated", "read",
    "released", "renewed", "repaired", "repeated", "restored", "sorted", "studied", "surveyed",
    "tested", "tracked", "translated", "visited", "welcomed", "cleaned", "painted", "built",
    "closed", "delayed", "extended", "improved", "launched", "named", "noticed",
)  # fmt: skip
NEUTRAL_ADJECTIVES = (
    "local", "regional", "daily", "weekly", "northern", "southern", "quiet", "new", "early",
    "late", "short", "long", "central", "eastern", "western", "brief", "annual", "busy",
    "calm", "clean", "clear", "cold", "colourful", "common", "complete", "cosy", "crowded",
    "dry", "empty", "famous", "fresh", "friendly", "full", "gentle", "green", "grey", "happy",
    "historic", "large", "little", "lively", "main", "modern", "monthly", "narrow", "nearby",
    "neat", "old", "open", "ordinary", "outer", "pleasant", "popular", "public", "rainy",
    "rare", "recent", "red", "rural", "seasonal", "shared", "simple", "slow", "small", "sunny",
    "tall", "tidy", "urban", "usual", "warm", "wet", "white", "wide", "windy", "wooden",
)  # fmt: skip

TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "cooking": ("recipe", "soup", "bread", "lentils", "onion", "oven", "salad", "rice", "spice",
                "dough", "pan", "lemon", "tomato", "dinner", "breakfast"),
    "sports": ("match", "team", "goal", "league", "coach", "season", "stadium", "player",
               "score", "final", "training", "transfer", "race", "cup"),
    "weather": ("rain", "wind", "cloud", "temperature", "forecast", "sunshine", "storm", "frost",
                "humidity", "breeze", "pressure", "morning", "weekend"),
    "tech": ("phone", "laptop", "software", "release", "battery", "screen", "browser", "update",
             "keyboard", "network", "storage", "camera", "chip"),
    "events": ("concert", "exhibition", "market", "festival", "parade", "museum", "theatre",
               "workshop", "lecture", "fair", "tour", "opening"),
    "gardening": ("seed", "soil", "tomato", "rose", "compost", "pot", "leaf", "watering",
                  "spring", "greenhouse", "herb"),
    "travel": ("train", "harbour", "mountain", "village", "ticket", "hostel", "map", "coast",
               "island", "trail", "sunset"),
    "chat": ("hello", "thanks", "question", "idea", "weekend", "plan", "coffee", "photo",
             "meeting", "tomorrow", "link", "answer"),
}  # fmt: skip

EMOJI = ("🔴", "📢", "⚡", "✅", "📌", "🟢", "🔻", "⭐")
BRAND_PREFIXES = ("Amaq", "Amaq Agency", "Islamic State", "Dawlah")
OUTLET_HASHTAGS = ("#KhilafahNews", "#Amaq")
DISTRIBUTOR_HASHTAGS = ("#Nashir", "#KhilafahNews")
MIRROR_HASHTAGS = ("#KhilafahNews", "#Amaq", "#Nashir")
BENIGN_HASHTAGS: dict[str, tuple[str, ...]] = {
    "cooking": ("#recipe", "#dinner"),
    "sports": ("#football", "#matchday"),
    "weather": ("#weather", "#forecast"),
    "tech": ("#tech", "#gadgets"),
    "events": ("#events", "#weekend"),
    "gardening": ("#garden",),
    "travel": ("#travel",),
}

FIRST_NAMES = (
    "Lena", "Tomas", "Mira", "Oskar", "Ines", "Pavel", "Sara", "Jonas", "Alma", "Emil", "Nora",
    "Felix", "Rina", "Hugo", "Dana", "Milo", "Vera", "Arno", "Ida", "Kasper",
)  # fmt: skip
LAST_NAMES = (
    "Marsh", "Holm", "Brook", "Vale", "Stone", "Field", "Lind", "Moor", "Ash", "Reed", "Wells",
    "Hart", "Dale", "Fenn", "Grove",
)  # fmt: skip

# Latin -> Cyrillic look-alikes; the classic trick for re-creating a banned channel's title.
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "A": "А", "E": "Е", "O": "О"}


def sentence(rng: random.Random, topic: str | None = None) -> str:
    """One capitalised neutral sentence, optionally sprinkled with words of a benign topic."""
    topic_words = TOPIC_WORDS.get(topic, ()) if topic else ()

    def noun() -> str:
        return rng.choice(topic_words if topic_words and rng.random() < 0.7 else NEUTRAL_NOUNS)

    words = [rng.choice(NEUTRAL_ADJECTIVES), noun(), rng.choice(NEUTRAL_VERBS), "the"]
    words += [rng.choice(NEUTRAL_ADJECTIVES), noun()]
    if rng.random() < 0.4:
        words += ["and", "the", noun()]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def sentences(rng: random.Random, low: int, high: int, topic: str | None = None) -> str:
    return " ".join(sentence(rng, topic) for _ in range(rng.randint(low, high)))


def plain(text: str) -> Part:
    return ("plain", text, None)


def hashtag_parts(tags: list[str]) -> list[Part]:
    """Hashtags separated by spaces, each one a hashtag entity."""
    parts: list[Part] = []
    for index, tag in enumerate(tags):
        if index:
            parts.append(plain(" "))
        parts.append(("hashtag", tag, None))
    return parts


def link(url: str) -> Part:
    return ("link", url, None)


def text_link(label: str, href: str) -> Part:
    return ("text_link", label, href)


def mention(handle: str) -> Part:
    return ("mention", f"@{handle}", None)


def outlet_post(rng: random.Random) -> list[Part]:
    """An official-outlet style post: brand prefix, placeholder body, indicator hashtags."""
    prefix = rng.choice(BRAND_PREFIXES)
    tags = [tag for tag in OUTLET_HASHTAGS if rng.random() < 0.7] or ["#KhilafahNews"]
    body = sentences(rng, 1, 3)
    return [plain(f"{prefix}: {body}\n\n"), *hashtag_parts(tags)]


def distributor_post(rng: random.Random) -> list[Part]:
    """An own bulletin of the distributor brand."""
    brand = rng.choice(("Nashir News Agency", "Nashir"))
    tags = [tag for tag in DISTRIBUTOR_HASHTAGS if rng.random() < 0.7] or ["#Nashir"]
    return [plain(f"{brand} | {sentences(rng, 1, 2)}\n"), *hashtag_parts(tags)]


def topic_post(rng: random.Random, topic: str, hashtags: bool = True) -> list[Part]:
    """A benign post about `topic`, sometimes with a topical hashtag."""
    parts = [plain(sentences(rng, 1, 3, topic))]
    tags = BENIGN_HASHTAGS.get(topic, ())
    if hashtags and tags and rng.random() < 0.4:
        parts += [plain("\n"), *hashtag_parts([rng.choice(tags)])]
    return parts


def filler_post(rng: random.Random) -> list[Part]:
    """Neutral chatter a mirror posts between carried items (no markers)."""
    return [plain(sentences(rng, 1, 2))]


def render(parts: list[Part]) -> tuple[str | list[Any], list[dict[str, str]]]:
    """Parts as Telegram Desktop writes them: (`text`, `text_entities`)."""
    merged: list[Part] = []
    for part in parts:
        if part[0] == "plain" and merged and merged[-1][0] == "plain":
            merged[-1] = plain(merged[-1][1] + part[1])
        elif part[1] or part[0] != "plain":
            merged.append(part)
    entities: list[dict[str, str]] = []
    for kind, text, href in merged:
        entity = {"type": kind, "text": text}
        if href is not None:
            entity["href"] = href
        entities.append(entity)
    if all(kind == "plain" for kind, _, _ in merged):
        return "".join(text for _, text, _ in merged), entities
    array: list[Any] = [e["text"] if e["type"] == "plain" else e for e in entities]
    return array, entities


def flat_text(parts: list[Part]) -> str:
    return "".join(text for _, text, _ in parts)


def copy_edit(parts: list[Part], rng: random.Random, hashtags: tuple[str, ...]) -> list[Part]:
    """What a copy mirror does to a post it re-posts: small cosmetic edits, one or more.

    `hashtags` are the tags it may add; empty means it never adds any.
    """
    edited = list(parts)
    edits = rng.sample(("emoji", "hashtag", "case", "space", "truncate"), k=rng.randint(1, 3))
    if "truncate" in edits:
        edited = _truncate(edited, rng)
    if "case" in edits:
        change = str.upper if rng.random() < 0.5 else str.lower
        edited = [(k, change(t), h) if k == "plain" else (k, t, h) for k, t, h in edited]
    if "space" in edits:
        edited = [
            (k, t.replace(" ", "  ", 1), h) if k == "plain" else (k, t, h) for k, t, h in edited
        ]
        edited.append(plain("\n"))
    if "hashtag" in edits and hashtags:
        edited += [plain(" "), ("hashtag", rng.choice(hashtags), None)]
    if "emoji" in edits:
        mark = rng.choice(EMOJI)
        edited = (
            [plain(f"{mark} "), *edited] if rng.random() < 0.5 else [*edited, plain(f" {mark}")]
        )
    return edited


def _truncate(parts: list[Part], rng: random.Random) -> list[Part]:
    """Cut the first long plain part at a word boundary, keeping any entities after it."""
    for index, (kind, text, _) in enumerate(parts):
        words = text.split(" ")
        if kind == "plain" and len(words) > 6:
            keep = rng.randint(max(3, len(words) // 2), len(words) - 1)
            return [*parts[:index], plain(" ".join(words[:keep]) + "…\n"), *parts[index + 1 :]]
    return parts


def homoglyph(title: str) -> str:
    """Swap every Latin a/e/o for its Cyrillic twin: looks the same, compares different."""
    return "".join(HOMOGLYPHS.get(char, char) for char in title)


def lookalike_titles(base: str, count: int, rng: random.Random) -> list[str]:
    """`count` distinct titles for successive incarnations; the first is `base` itself."""
    first_word = base.split(" ", maxsplit=1)[0]
    candidates = [
        f"{base} 2",
        f"{base}_v3",
        f"{base} new",
        homoglyph(base),
        ".".join(first_word) + base[len(first_word) :],
        f"{base} {rng.randint(4, 9)}",
        f"{base} backup",
        f"{homoglyph(base)} 2",
        f"{base} official",
    ]
    rng.shuffle(candidates)
    return [base, *candidates[: count - 1]]


def lookalike_handles(base: str, count: int) -> list[str]:
    """Handles for successive incarnations (handles are ASCII, so no homoglyphs here)."""
    candidates = [base, f"{base}_2", f"{base}_v3", f"{base}_new", f"{base}_backup"]
    candidates += [f"{base}_{n}" for n in range(6, count + 6)]
    return candidates[:count]


def handle_base(title: str, rng: random.Random) -> str:
    ascii_words = "".join(c if c.isascii() and c.isalnum() else " " for c in title.lower()).split()
    return "_".join(ascii_words[:2] or ["channel"]) + f"_{rng.randint(10, 99)}"


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


# Signatures copy channels put on re-posts in the "alt" variant; made-up, neutral handles.
SIGNATURE_HANDLES = ("news_relay_hub", "daily_repost_feed", "archive_copy_desk", "update_mirror")


def heavy_copy_edit(parts: list[Part], rng: random.Random, hashtags: tuple[str, ...]) -> list[Part]:
    """A heavier re-post than `copy_edit`, still keeping most of the text: signature lines,
    leading emoji, shuffled hashtags, joined lines, 60-90 % truncation, an added sentence."""
    edited = list(parts)
    kinds = ("signature", "emoji", "shuffle", "join", "truncate", "sentence", "hashtag")
    edits = rng.sample(kinds, k=rng.randint(2, 4))
    if "truncate" in edits:
        edited = _truncate_share(edited, rng, 0.6, 0.9)
    if "shuffle" in edits:
        edited = _shuffle_hashtags(edited, rng)
    if "join" in edits:
        edited = [(k, _join_lines(t), h) if k == "plain" else (k, t, h) for k, t, h in edited]
    if "hashtag" in edits and hashtags:
        edited = [("hashtag", rng.choice(hashtags), None), plain(" "), *edited]
    if "sentence" in edits:
        edited.append(plain(f"\n{sentence(rng)}"))
    if "emoji" in edits:
        edited = [plain(f"{rng.choice(EMOJI)}{rng.choice(EMOJI)} "), *edited]
    if "signature" in edits:
        handle = mention(rng.choice(SIGNATURE_HANDLES))
        if rng.random() < 0.5:
            edited = [plain("via "), handle, plain("\n"), *edited]
        else:
            edited += [plain("\nvia "), handle]
    return edited


def _truncate_share(parts: list[Part], rng: random.Random, low: float, high: float) -> list[Part]:
    """Keep `low`-`high` of the words of the first long plain part, keeping what follows it."""
    for index, (kind, text, _) in enumerate(parts):
        words = text.split(" ")
        if kind == "plain" and len(words) > 6:
            keep = max(3, round(len(words) * rng.uniform(low, high)))
            return [*parts[:index], plain(" ".join(words[:keep]) + "...\n"), *parts[index + 1 :]]
    return parts


def _join_lines(text: str) -> str:
    """Line breaks (and the blanks around them) become one space."""
    return re.sub(r"[ \t]*\n\s*", " ", text)


def _shuffle_hashtags(parts: list[Part], rng: random.Random) -> list[Part]:
    """Reorder the hashtag entities among the slots they occupy."""
    slots = [index for index, part in enumerate(parts) if part[0] == "hashtag"]
    tags = [parts[index] for index in slots]
    rng.shuffle(tags)
    shuffled = list(parts)
    for index, tag in zip(slots, tags, strict=True):
        shuffled[index] = tag
    return shuffled


def spelled_out_titles(base: str, count: int, rng: random.Random) -> list[str]:
    """Look-alike successor titles of the "alt" variant: numbering, spelling and punctuation
    schemes other than `lookalike_titles` uses; the first is `base` itself."""
    first_word, _, rest = base.partition(" ")
    candidates = [
        f"{base} 1",
        f"{base} One",
        "-".join(first_word) + (f" {rest}" if rest else ""),
        base.replace(" ", "."),
        f"{base} (official)",
        f"{base} II",
        base.upper(),
        f"The {base}",
        base.replace(" ", "_") + f"_{rng.randint(10, 99)}",
    ]
    rng.shuffle(candidates)
    return [base, *candidates[: count - 1]]


def spelled_out_handles(base: str, titles: list[str]) -> list[str]:
    """Handles spelling out each incarnation's title ("Dawlah Today One" ->
    `dawlah_today_one_47`), with the number `base` ends in; the first is `base` itself."""
    number = base.rsplit("_", maxsplit=1)[-1]
    handles = [base]
    for title in titles[1:]:
        words = "".join(c if c.isascii() and c.isalnum() else " " for c in title.lower()).split()
        handles.append("_".join([*words, number]))
    return handles
