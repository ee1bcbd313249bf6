"""Keyed pseudonyms for people, so that no name or raw user id is ever stored.

A pseudonym is a keyed BLAKE2b hash of the platform and the person's id (or, where an export
only gives a display name, of that name).  Without the key the mapping cannot be reversed by
hashing guessed ids; with it, the same person gets the same pseudonym across imports.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


class Pseudonymiser:
    """Turns platform user ids and display names into stable keyed pseudonyms."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonymisation key needs at least 16 bytes")
        self._key = key
        self._cache: dict[str, str] = {}

    @property
    def key(self) -> bytes:
        """The key, for handing to a worker process of the same import (never log or store it)."""
        return self._key

    def user(self, platform: str, user_id: str) -> str:
        """Pseudonym of a user known by id, e.g. `user:3f2a...`."""
        return self._digest(f"{platform}:id:{user_id}")

    def name(self, platform: str, display_name: str) -> str:
        """Pseudonym of a person known only by display name (old exports, member lists)."""
        return self._digest(f"{platform}:name:{display_name}")

    def _digest(self, value: str) -> str:
        cached = self._cache.get(value)
        if cached is None:
            raw = value.encode("utf-8", "surrogatepass")
            cached = "user:" + hashlib.blake2b(raw, key=self._key, digest_size=10).hexdigest()
            if len(self._cache) < 1_000_000:
                self._cache[value] = cached
        return cached


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create one with fresh random bytes (mode 0600) on first use."""
    if path.exists():
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(key) < 16:
            raise ValueError(f"{path}: pseudonymisation key is shorter than 16 bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key
