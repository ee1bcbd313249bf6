"""Builds Telegram Desktop export files for tests, in the shapes the real exporter writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASE = 1_600_000_000


def message(
    ident: int, text: Any = "", *, date: int | None = None, **fields: Any
) -> dict[str, Any]:
    """A current-format channel message."""
    when = BASE + ident * 60 if date is None else date
    out: dict[str, Any] = {
        "id": ident,
        "type": "message",
        "date": _iso(when),
        "date_unixtime": str(when),
        "from": "Test Channel",
        "from_id": "channel100",
        "text": text,
    }
    if isinstance(text, str):
        out["text_entities"] = [{"type": "plain", "text": text}] if text else []
    out.update(fields)
    return out


def service(ident: int, action: str, *, date: int | None = None, **fields: Any) -> dict[str, Any]:
    when = BASE + ident * 60 if date is None else date
    out: dict[str, Any] = {
        "id": ident,
        "type": "service",
        "date": _iso(when),
        "date_unixtime": str(when),
        "actor": "Test Channel",
        "actor_id": "channel100",
        "action": action,
        "text": "",
        "text_entities": [],
    }
    out.update(fields)
    return out


def chat(
    messages: list[dict[str, Any]],
    *,
    name: str = "Test Channel",
    chat_id: int = 100,
    kind: str = "public_channel",
) -> dict[str, Any]:
    return {"name": name, "type": kind, "id": chat_id, "messages": messages}


def write_export(folder: Path, content: Any, *, name: str = "result.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(content, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")
