"""Link extraction against the simulator's ground truth, on messages as the store keeps them.

A simulated world is imported into a SQLite store; `extract_links` runs on every stored
message's text and entities.  Recall: every migration link truth lists is found in its message
with the right platform.  Precision: every link classified as something other than web is
right; for links truth does not list (news and research sites, the research channel's
archive.org links, lineage `t.me` announcements and `@handle` backup mentions) the right
platform follows from the URL itself: t.me and @handle are telegram, archive.org is archive,
anything else is web.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from undertow.enrich.links import Link, extract_links, normalize_url
from undertow.ingest import ingest_paths
from undertow.settings import load_settings
from undertow.simulate import simulate_world
from undertow.store import open_store, schema

# Seed 3 at scale 2 has every platform the simulator writes, Hoop and TamTam included.
SEED, SCALE = 3, 2
SIMULATOR_PLATFORMS = {"website": "web"}
MessageKey = tuple[str, int]


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], dict[MessageKey, list[Link]]]:
    """(truth, links of every stored message)."""
    folder = tmp_path_factory.mktemp("links-world")
    summary = simulate_world(folder / "world", seed=SEED, scale=SCALE)
    settings = load_settings(
        f"sqlite:///{folder / 'store.db'}", folder / "data", environ={}
    ).with_overrides(pseudonym_key=bytes(range(32)))
    store = open_store(settings.db_url)
    try:
        reports = ingest_paths(store, settings, [summary.exports_dir])
        assert all(report.error is None for report in reports)
        messages = schema.messages.c
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    messages.channel_id, messages.message_id, messages.text, messages.entities
                )
            ).all()
    finally:
        store.close()
    found = {
        (row.channel_id, row.message_id): extract_links(row.text, row.entities or [])
        for row in rows
    }
    return json.loads(summary.truth_path.read_text()), found


def expected_from_url(link: Link) -> str:
    """The platform of a link truth does not list, judged from the URL alone."""
    if link.source == "mention" or link.normalized_url.startswith("https://t.me/"):
        return "telegram"
    if link.normalized_url.startswith("https://archive.org/"):
        return "archive"
    return "web"


def test_migration_links_are_found_with_their_platform(
    world: tuple[dict[str, Any], dict[MessageKey, list[Link]]],
) -> None:
    truth, found = world
    migrations = truth["migrations"]
    platforms = {m["platform"] for m in migrations}
    assert platforms >= {"rocketchat", "matrix", "tamtam", "threema", "xmpp", "hoop", "website"}
    missed = []
    for migration in migrations:
        links = found[(migration["channel_id"], migration["message_id"])]
        wanted = SIMULATOR_PLATFORMS.get(migration["platform"], migration["platform"])
        url = normalize_url(migration["url"])
        if not any(link.normalized_url == url and link.platform == wanted for link in links):
            missed.append((migration, links))
    recall = 1 - len(missed) / len(migrations)
    print(f"\nlink recall on {len(migrations)} truth migration links: {recall:.4f}")
    assert recall >= 0.98, missed[:5]


def test_links_classified_off_the_web_are_right(
    world: tuple[dict[str, Any], dict[MessageKey, list[Link]]],
) -> None:
    truth, found = world
    listed = {
        (m["channel_id"], m["message_id"], normalize_url(m["url"])): SIMULATOR_PLATFORMS.get(
            m["platform"], m["platform"]
        )
        for m in truth["migrations"]
    }
    right, wrong = 0, []
    for (channel_id, message_id), links in found.items():
        for link in links:
            if link.platform == "web":
                continue
            expected = listed.get((channel_id, message_id, link.normalized_url))
            if expected is None:
                expected = expected_from_url(link)
            if link.platform == expected:
                right += 1
            else:
                wrong.append((channel_id, message_id, link, expected))
    precision = right / (right + len(wrong))
    print(f"\nlink precision on {right + len(wrong)} non-web links: {precision:.4f}")
    assert right > len(truth["migrations"])
    assert precision >= 0.98, wrong[:5]


def test_links_truth_does_not_list_have_the_platform_their_url_says(
    world: tuple[dict[str, Any], dict[MessageKey, list[Link]]],
) -> None:
    truth, found = world
    listed = {
        (m["channel_id"], m["message_id"], normalize_url(m["url"])) for m in truth["migrations"]
    }
    others = [
        link
        for (channel_id, message_id), links in found.items()
        for link in links
        if (channel_id, message_id, link.normalized_url) not in listed
    ]
    assert {link.platform for link in others} == {"web", "archive", "telegram"}
    assert all(link.platform == expected_from_url(link) for link in others)


def test_announced_successors_are_found_by_handle(
    world: tuple[dict[str, Any], dict[MessageKey, list[Link]]],
) -> None:
    truth, found = world
    handles = {channel["channel_id"]: channel["handle"] for channel in truth["channels"]}
    announced = [
        link
        for lineage in truth["lineages"]
        for link in lineage["links"]
        if link["announcement"] and link["announcement"]["kind"] != "we_are_back"
    ]
    assert announced
    for succession in announced:
        note = succession["announcement"]
        targets = {
            link.target
            for link in found[(note["channel_id"], note["message_id"])]
            if link.platform == "telegram"
        }
        assert handles[succession["to"]].lower() in targets
