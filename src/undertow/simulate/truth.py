"""Ground truth of a simulated world: collected while chats are written, saved as truth.json.

Only per-channel and per-relation records are kept (their number grows with channels, not
messages); per-message labels are streamed to truth_messages.jsonl by the writer instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from undertow.simulate.clock import iso_z, iso_z_or_none
from undertow.simulate.model import Channel, Migration

SIMULATOR_VERSION = "1.0"
GENERATED_BY = f"undertow.simulate {SIMULATOR_VERSION}"


@dataclass(slots=True)
class LineageLink:
    """Succession of one incarnation by the next; `announcement` names the message saying so."""

    source: Channel
    target: Channel
    announced: bool
    announcement_kind: str | None
    announcement_channel: Channel | None
    announcement_message_id: int | None


@dataclass(slots=True)
class TruthBook:
    """Accumulates the truth records in the order the world is generated."""

    channels: list[dict[str, Any]] = field(default_factory=list)
    mirrors: list[dict[str, Any]] = field(default_factory=list)
    lineages: list[dict[str, Any]] = field(default_factory=list)
    rebrands: list[dict[str, Any]] = field(default_factory=list)
    migrations: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)

    def add_channel(self, channel: Channel) -> None:
        self.channels.append(
            {
                "channel_id": channel.channel_id,
                "export_id": channel.export_id,
                "slug": channel.slug,
                "handle": channel.handle,
                "chat_type": channel.chat_type,
                "titles": [
                    {"title": title, "since": iso_z(since)} for since, title in channel.titles
                ],
                "role": channel.role,
                "propaganda": channel.propaganda,
                "network_id": channel.network_id,
                "first_post": iso_z_or_none(channel.first_post),
                "last_post": iso_z_or_none(channel.last_post),
                "banned_at": iso_z_or_none(channel.banned_at),
                "messages": channel.messages,
            }
        )

    def add_mirror(
        self,
        channel: Channel,
        source: Channel,
        *,
        method: str,
        since: int,
        until: int | None,
        carried: int,
        eligible: int,
    ) -> None:
        self.mirrors.append(
            {
                "channel_id": channel.channel_id,
                "source_id": source.channel_id,
                "method": method,
                "since": iso_z(since),
                "until": iso_z_or_none(until),
                "share": round(carried / eligible, 4) if eligible else 0.0,
                "carried": carried,
                "network_id": channel.network_id,
            }
        )

    def add_lineage(
        self, lineage_id: str, incarnations: list[Channel], links: list[LineageLink]
    ) -> None:
        self.lineages.append(
            {
                "lineage_id": lineage_id,
                "network_id": incarnations[0].network_id,
                "channels": [channel.channel_id for channel in incarnations],
                "links": [_link_record(link) for link in links],
            }
        )

    def add_rebrand(
        self,
        channel: Channel,
        *,
        at: int,
        from_title: str,
        to_title: str,
        content_shift_at: int | None,
        kind: str,
    ) -> None:
        self.rebrands.append(
            {
                "channel_id": channel.channel_id,
                "kind": kind,
                "at": iso_z(at),
                "from_title": from_title,
                "to_title": to_title,
                "content_shift_at": iso_z_or_none(content_shift_at),
            }
        )

    def add_migration(self, channel: Channel, message_id: int, migration: Migration) -> None:
        self.migrations.append(
            {
                "channel_id": channel.channel_id,
                "message_id": message_id,
                "platform": migration.platform,
                "url": migration.url,
                "network_id": channel.network_id,
                "move_id": migration.move_id,
            }
        )

    def add_network(self, network_id: str, kind: str, channels: list[Channel]) -> None:
        self.networks.append(
            {
                "network_id": network_id,
                "kind": kind,
                "channels": [channel.channel_id for channel in channels],
            }
        )

    def write(self, path: Path, *, seed: int, scale: int, counts: dict[str, int]) -> None:
        document = {
            "seed": seed,
            "scale": scale,
            "generated_by": GENERATED_BY,
            "counts": counts,
            "channels": self.channels,
            "mirrors": self.mirrors,
            "lineages": self.lineages,
            "rebrands": self.rebrands,
            "migrations": self.migrations,
            "networks": self.networks,
        }
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def _link_record(link: LineageLink) -> dict[str, Any]:
    announcement = None
    if link.announcement_channel is not None and link.announcement_message_id is not None:
        announcement = {
            "kind": link.announcement_kind,
            "channel_id": link.announcement_channel.channel_id,
            "message_id": link.announcement_message_id,
        }
    gap = None
    if link.source.banned_at is not None and link.target.first_post is not None:
        gap = link.target.first_post - link.source.banned_at
    return {
        "from": link.source.channel_id,
        "to": link.target.channel_id,
        "announced": link.announced,
        "gap_s": gap,
        "announcement": announcement,
    }
