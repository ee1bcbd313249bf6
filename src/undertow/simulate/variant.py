"""World variants: the titles, mirror lags and copy-edit habits a simulated world is drawn from.

`default` is the world the detectors were developed on; `alt` changes every name, the lag
range and spread, and the way copies are edited, so tests can show nothing is tuned to one
world. The structure of a world (roles, counts, timing of bans, moves) is the same in both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from undertow.simulate.clock import DAY, HOUR, MINUTE
from undertow.simulate.feeds import LAG_SPREAD, MIRROR_LAG_RANGE, CopyEditor, MirrorStyle
from undertow.simulate.images import STYLE_COUNT
from undertow.simulate.text import (
    copy_edit,
    heavy_copy_edit,
    lookalike_handles,
    lookalike_titles,
    spelled_out_handles,
    spelled_out_titles,
)

TitleScheme = Callable[[str, int, random.Random], list[str]]
# (handle of the first incarnation, every incarnation's title) -> their handles.
HandleScheme = Callable[[str, list[str]], list[str]]


def _numbered_handles(base: str, titles: list[str]) -> list[str]:
    """The default world's handles follow their own numbering, whatever the titles say."""
    return lookalike_handles(base, len(titles))


@dataclass(frozen=True, slots=True)
class Variant:
    """Everything that differs between world variants; see docs/simulator.md."""

    name: str
    # Propaganda network titles: the outlet before and after its rename, the distributor.
    outlet_titles: tuple[str, str]
    distributor_title: str
    mirror_brands: tuple[str, ...]
    mirror_suffixes: tuple[str, ...]
    # (title, topic) of the sleeper's innocuous persona; topics are keys of text.TOPIC_WORDS.
    sleeper_personas: tuple[tuple[str, str], ...]
    lineage_bases: tuple[str, ...]
    lineage_titles: TitleScheme
    lineage_handles: HandleScheme
    backup_handle: str
    # Benign side of a unit.
    news_titles: tuple[str, ...]
    research_titles: tuple[str, ...]
    benign_channels: tuple[tuple[str, str], ...]
    benign_source_title: str
    forwarder_titles: tuple[str, ...]
    group_titles: tuple[str, ...]
    # Mirroring: range of a mirror's median lag, the per-post spread, the distributor's lag
    # range, and what copies do to the text.
    mirror_lag_range: tuple[float, float]
    lag_spread: float
    distributor_lag_range: tuple[float, float]
    copy_edit: CopyEditor

    def mirror_style(
        self, rng: random.Random, method: str, hashtags: tuple[str, ...]
    ) -> MirrorStyle:
        """A mirror's style drawn with this variant's lags and copy edits."""
        return MirrorStyle.draw(
            rng,
            method,
            hashtags,
            STYLE_COUNT,
            lag_range=self.mirror_lag_range,
            lag_spread=self.lag_spread,
            edit=self.copy_edit,
        )


DEFAULT = Variant(
    name="default",
    outlet_titles=("Amaq Agency", "Amaq News Agency"),
    distributor_title="Nashir News Agency",
    mirror_brands=("Amaq", "Khilafah", "Dawlah", "Nashir"),
    mirror_suffixes=("News", "Updates", "Archive", "Feed", "Media", "24", "Daily", "Bulletin"),
    sleeper_personas=(
        ("Daily Recipes", "cooking"),
        ("Garden Tips", "gardening"),
        ("Travel Photo Diary", "travel"),
        ("Morning Weather Notes", "weather"),
    ),
    lineage_bases=("Nashir", "Amaq Daily", "Khilafah News", "Dawlah Media"),
    lineage_titles=lookalike_titles,
    lineage_handles=_numbered_handles,
    backup_handle="khilafah_backup",
    news_titles=("World News Desk", "Global Affairs Brief", "Evening News Digest"),
    research_titles=("Conflict Research Notes", "Extremism Monitor Briefings"),
    benign_channels=(
        ("Kitchen Corner", "cooking"),
        ("Sports Roundup", "sports"),
        ("Weather Watch", "weather"),
        ("Tech Bits", "tech"),
    ),
    benign_source_title="City Events Daily",
    forwarder_titles=(
        "Events Around Town",
        "Weekend Picks",
        "City Guide Reposts",
        "What's On Today",
    ),
    group_titles=("Neighbourhood Chat", "Book Club Lounge", "Hiking Friends"),
    mirror_lag_range=MIRROR_LAG_RANGE,
    lag_spread=LAG_SPREAD,
    distributor_lag_range=(5 * MINUTE, 90 * MINUTE),
    copy_edit=copy_edit,
)

ALT = Variant(
    name="alt",
    outlet_titles=("Dawlah Media Office", "Islamic State Media Office"),
    distributor_title="Khilafah News Relay",
    mirror_brands=("Islamic State", "Khilafah News", "Amaq", "Dawlah", "Nashir"),
    mirror_suffixes=("Channel", "Relay", "Today", "Wire", "Reports", "Official", "Now", "Hub"),
    sleeper_personas=(
        ("Matchday Banter", "sports"),
        ("Gadget Deals Daily", "tech"),
        ("Concerts This Week", "events"),
        ("Coastal Hiking Trails", "travel"),
    ),
    lineage_bases=("Dawlah Today", "Amaq Wire", "Islamic State Reports", "Khilafah Voice"),
    lineage_titles=spelled_out_titles,
    lineage_handles=spelled_out_handles,
    backup_handle="dawlah_reserve",
    news_titles=("International Newsroom", "Daily World Report", "Headlines at Noon"),
    research_titles=("Online Extremism Observatory", "Terrorism Studies Digest"),
    benign_channels=(
        ("Home Baking Club", "cooking"),
        ("Matchday Live", "sports"),
        ("Rain or Shine", "weather"),
        ("Gadget Review", "tech"),
        ("Green Fingers", "gardening"),
    ),
    benign_source_title="Citywide Listings",
    forwarder_titles=("Gig Guide", "Town Happenings", "Local Events Feed", "Out and About"),
    group_titles=("Parents Forum", "Cycling Buddies", "Language Exchange"),
    mirror_lag_range=(30, 2 * DAY),
    lag_spread=1.0,
    distributor_lag_range=(MINUTE, 6 * HOUR),
    copy_edit=heavy_copy_edit,
)

VARIANTS = {variant.name: variant for variant in (DEFAULT, ALT)}


def variant_named(name: str) -> Variant:
    """The variant called `name`; ValueError naming the choices otherwise."""
    try:
        return VARIANTS[name]
    except KeyError:
        choices = ", ".join(sorted(VARIANTS))
        raise ValueError(f"unknown simulator variant {name!r}; choose one of {choices}") from None
