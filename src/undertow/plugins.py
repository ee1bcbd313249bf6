"""Finding components through entry-point groups, built-in ones included.

Built-in sources register in `undertow.sources` exactly as a third-party package would (see
`pyproject.toml`). Each entry point names a class with `from_settings(settings)`; the object
it builds is checked against the group's Protocol when it is loaded, so a misspelt method
is an error at start-up rather than silence at run time.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from undertow.settings import Settings
from undertow.sources.base import Source

SOURCES = "undertow.sources"
DETECTORS = "undertow.detectors"


class PluginError(Exception):
    """A plugin cannot be loaded or does not implement its extension point."""


def _required_members(protocol: type) -> list[str]:
    """Public attributes (annotated) and methods a Protocol class declares."""
    names = set(getattr(protocol, "__annotations__", {}))
    names.update(k for k, v in vars(protocol).items() if callable(v))
    return sorted(name for name in names if not name.startswith("_"))


def check_implements(obj: Any, protocol: type, name: str) -> None:
    """Raise PluginError naming every member of `protocol` that `obj` lacks."""
    missing = [member for member in _required_members(protocol) if not hasattr(obj, member)]
    if missing:
        raise PluginError(
            f"plugin {name!r} does not implement {protocol.__name__}: missing {', '.join(missing)}"
        )


def load_sources(settings: Settings) -> dict[str, Source]:
    """Every registered source, built from `settings`, by entry-point name."""
    found: dict[str, Source] = {}
    for entry in entry_points(group=SOURCES):
        try:
            factory = entry.load()
            source = (
                factory.from_settings(settings) if hasattr(factory, "from_settings") else factory()
            )
        except Exception as exc:
            raise PluginError(
                f"cannot load source plugin {entry.name!r} ({entry.value}): {exc}"
            ) from exc
        check_implements(source, Source, entry.name)
        found[entry.name] = source
    return found


def get_source(settings: Settings, name: str) -> Source:
    sources = load_sources(settings)
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise PluginError(f"no source named {name!r} (installed: {known})")
    return sources[name]


def load_detectors() -> dict[str, type]:
    """Registered detector classes by name, each checked against the `Detector` protocol.

    Detectors need run-time inputs (a bank snapshot, a model) besides settings, so the stage
    that runs one builds it with `from_settings(settings, ...)`; this only finds and checks them.
    """
    from undertow.detect.base import Detector

    found: dict[str, type] = {}
    for entry in entry_points(group=DETECTORS):
        try:
            cls = entry.load()
        except Exception as exc:
            raise PluginError(
                f"cannot load detector plugin {entry.name!r} ({entry.value}): {exc}"
            ) from exc
        check_implements(cls, Detector, entry.name)
        if not hasattr(cls, "from_settings"):
            raise PluginError(f"detector plugin {entry.name!r} has no from_settings constructor")
        found[entry.name] = cls
    return found
