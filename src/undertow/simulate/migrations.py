"""Migration signals: links to other platforms, hosts and backup channels, alone or as a move.

A network-wide move gives several channels of one network the same destination within hours
(as after a takedown wave); one-off links are scattered. URLs use reserved example domains or
real platform domains with made-up paths.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from undertow.simulate.clock import DAY, HOUR, WORLD_END, WORLD_START
from undertow.simulate.model import Event, Migration
from undertow.simulate.text import NEUTRAL_NOUNS, Part, hashtag_parts, link, plain, text_link

MOVE_PLATFORMS = ("rocketchat", "matrix", "tamtam", "threema", "xmpp", "hoop", "website")
ONE_OFF_PLATFORMS = ("paste", "archive", "filehost", "website", "telegram", "rocketchat", "matrix")

_LEAD_INS = {
    "rocketchat": "Our new home on Rocket.Chat: ",
    "matrix": "Join the room on Matrix: ",
    "tamtam": "Follow on TamTam: ",
    "threema": "Threema contact: ",
    "xmpp": "XMPP room: ",
    "hoop": "Hoop group: ",
    "website": "Official site: ",
    "paste": "Full list of links: ",
    "archive": "Archive of releases: ",
    "filehost": "Download: ",
    "telegram": "Backup channel: ",
}


def _code(rng: random.Random, length: int, alphabet: str = string.ascii_lowercase) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def destination_url(rng: random.Random, platform: str, backup_handle: str) -> str:
    """A made-up destination of `platform`; `backup_handle` is used for t.me links."""
    word = rng.choice(NEUTRAL_NOUNS)
    number = rng.randint(2, 99)
    if platform == "rocketchat":
        if rng.random() < 0.5:
            return f"https://chat.{word}-rc.example.org/channel/{rng.choice(NEUTRAL_NOUNS)}"
        return f"https://{word}{number}.rocket.chat/channel/news"
    if platform == "matrix":
        room = f"{word}{number}"
        return rng.choice(
            (
                f"https://matrix.to/#/#{room}:example.org",
                f"https://riot.im/app/#/room/#{room}:example.net",
                f"https://app.element.io/#/room/#{room}:example.org",
            )
        )
    if platform == "threema":
        return "https://threema.id/" + _code(rng, 8, string.ascii_uppercase + string.digits)
    if platform == "tamtam":
        return f"https://tamtam.chat/{word}{number}"
    if platform == "xmpp":
        return f"xmpp:{word}{number}@conference.example.org?join"
    if platform == "hoop":
        return f"https://hoop.example.com/join/{_code(rng, 10)}"
    if platform == "website":
        return f"https://{word}-{rng.choice(NEUTRAL_NOUNS)}.example.net/"
    if platform == "paste":
        if rng.random() < 0.7:
            return f"https://justpaste.it/{_code(rng, 5)}"
        return f"https://paste.example.net/{_code(rng, 8)}"
    if platform == "archive":
        return f"https://archive.org/details/{word}-{rng.choice(NEUTRAL_NOUNS)}-{number}"
    if platform == "filehost":
        return rng.choice(
            (
                f"https://files.example.com/d/{_code(rng, 12)}",
                f"https://upload.example.net/f/{_code(rng, 9)}",
            )
        )
    return f"https://t.me/{backup_handle}"


def migration_parts(rng: random.Random, migrations: tuple[Migration, ...]) -> list[Part]:
    """Post text announcing `migrations`; each url appears in the text or a text_link href."""
    parts: list[Part] = []
    for migration in migrations:
        parts.append(plain(_LEAD_INS[migration.platform]))
        if migration.platform == "xmpp":
            # Telegram does not auto-link xmpp: URIs, so they stay plain text.
            parts.append(plain(migration.url))
        elif rng.random() < 0.2:
            parts.append(text_link("click here", migration.url))
        else:
            parts.append(link(migration.url))
        parts.append(plain("\n"))
    if rng.random() < 0.6:
        parts += hashtag_parts(["#KhilafahNews"])
    return parts


@dataclass(frozen=True, slots=True)
class NetworkMove:
    """A network moving together: the same destinations posted by its channels from `ts` on."""

    move_id: str
    ts: int
    destinations: tuple[Migration, ...]


def plan_moves(rng: random.Random, network_id: str, backup_handle: str) -> list[NetworkMove]:
    """One or two moves, the first after a 'purge' some 50-75 % into the world's span."""
    moves: list[NetworkMove] = []
    span = WORLD_END - WORLD_START
    purge = WORLD_START + int(span * rng.uniform(0.5, 0.75))
    for index in range(rng.randint(1, 2)):
        ts = purge if index == 0 else WORLD_START + int(span * rng.uniform(0.2, 0.45))
        platforms = rng.sample(MOVE_PLATFORMS, k=rng.randint(1, 2))
        destinations = tuple(
            Migration(
                platform,
                destination_url(rng, platform, backup_handle),
                f"{network_id}-move-{index + 1}",
            )
            for platform in platforms
        )
        moves.append(NetworkMove(f"{network_id}-move-{index + 1}", ts, destinations))
    return moves


def migration_events(
    rng: random.Random,
    moves: list[NetworkMove],
    start: int,
    end: int,
    backup_handle: str,
    *,
    join_chance: float = 0.8,
    one_off_chance: float = 0.5,
) -> list[Event]:
    """A channel's migration posts over its life [start, end): it joins each move it is alive
    for (usually within 12 hours) and sometimes posts a one-off link."""
    events: list[Event] = []
    for move in moves:
        ts = move.ts + rng.randint(0, 12 * HOUR)
        if start <= move.ts and ts < end and rng.random() < join_chance:
            parts = migration_parts(rng, move.destinations)
            events.append(Event(ts=ts, parts=parts, propaganda=True, migrations=move.destinations))
    if end - start > 2 * DAY and rng.random() < one_off_chance:
        platform = rng.choice(ONE_OFF_PLATFORMS)
        migration = Migration(platform, destination_url(rng, platform, backup_handle))
        ts = rng.randint(start + DAY, end - DAY)
        events.append(
            Event(
                ts=ts,
                parts=migration_parts(rng, (migration,)),
                propaganda=True,
                migrations=(migration,),
            )
        )
    return events
