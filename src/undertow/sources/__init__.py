"""Sources: each reads one kind of input and yields canonical records (see `undertow.records`)."""

from __future__ import annotations

from undertow.sources.base import ImportContext, RecordError, Source

__all__ = ["ImportContext", "RecordError", "Source"]
