"""Time helpers for the simulator: a fixed epoch and the date formats exports and truth use.

Everything is integer Unix seconds in UTC; no wall-clock time is ever read, so worlds are
reproducible.
"""

from __future__ import annotations

import time

# 2019-06-01T00:00:00Z: a fixed start keeps every seed's world byte-identical across runs.
WORLD_START = 1_559_347_200
MINUTE = 60
HOUR = 3_600
DAY = 86_400
WORLD_DAYS = 180
WORLD_END = WORLD_START + WORLD_DAYS * DAY


def export_date(ts: int) -> str:
    """The export's `date` field: UTC time without a zone suffix."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))


def iso_z(ts: int) -> str:
    """ISO 8601 UTC with a trailing Z, as used throughout the truth files."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def iso_z_or_none(ts: int | None) -> str | None:
    """Like `iso_z`, passing None through for open-ended intervals."""
    return None if ts is None else iso_z(ts)


def photo_stamp(ts: int) -> str:
    """The `dd-mm-yyyy_HH-MM-SS` part Telegram Desktop puts in exported photo file names."""
    return time.strftime("%d-%m-%Y_%H-%M-%S", time.gmtime(ts))
