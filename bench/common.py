"""Helpers shared by the benchmarks: machine facts and writing results as JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / "work"


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"benchmark": name, "machine": machine(), **result}, indent=2) + "\n"
    )
    print(json.dumps(result, indent=2))
    print(f"written to {path}")
    return path


def merge_into_account_export(world: Path) -> Path:
    """Write the world's per-chat exports as one full-account export (`chats.list`), as
    Telegram Desktop's "Export Telegram data" does; media paths are rewritten to stay valid."""
    import orjson

    target = world / "account-export.json"
    if target.exists():
        return target
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as out:
        out.write(b'{"about": "simulated account export", "chats": {"about": "", "list": [\n')
        for index, result in enumerate(sorted((world / "exports").glob("*/result.json"))):
            chat = orjson.loads(result.read_bytes())
            prefix = result.parent.relative_to(world).as_posix() + "/"
            for message in chat["messages"]:
                for key in ("photo", "file", "thumbnail"):
                    value = message.get(key)
                    if isinstance(value, str) and not value.startswith("("):
                        message[key] = prefix + value
            out.write((b",\n" if index else b"") + orjson.dumps(chat))
        out.write(b"\n]}}\n")
    tmp.replace(target)
    return target
