"""Components are found through entry points and checked against their Protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from undertow.plugins import PluginError, check_implements, get_source, load_sources
from undertow.settings import Settings
from undertow.sources.base import Source
from undertow.sources.telegram_export import TelegramExportSource


def test_built_in_source_registers_through_its_entry_point(sqlite_settings: Settings) -> None:
    sources = load_sources(sqlite_settings)
    assert isinstance(sources["telegram_export"], TelegramExportSource)
    assert get_source(sqlite_settings, "telegram_export").name == "telegram_export"


def test_unknown_source_is_a_clear_error(sqlite_settings: Settings) -> None:
    with pytest.raises(PluginError, match=r"no source named 'nope'.*telegram_export"):
        get_source(sqlite_settings, "nope")


def test_a_plugin_missing_a_method_is_refused() -> None:
    class HalfSource:
        name = "half"

        def discover(self, paths: list[Path]) -> list[Path]:
            return paths

        def raed(self) -> None:  # misspelt `read`
            """Never called."""

    with pytest.raises(PluginError, match="missing read"):
        check_implements(HalfSource(), Source, "half")
    check_implements(TelegramExportSource(), Source, "telegram_export")
