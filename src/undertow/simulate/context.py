"""Shared state of one simulation run: output locations, id allocation, RNG streams, counters.

Every random stream is derived from the seed and a name, so the world does not depend on the
order in which unrelated parts are generated.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from undertow.simulate.images import ImagePool
from undertow.simulate.model import Channel
from undertow.simulate.truth import TruthBook
from undertow.simulate.variant import DEFAULT, Variant

# Odd, not divisible by 5 or 3: multiplying by it permutes residues mod 10**9 and 9 * 10**8, so
# ids look random yet can never collide.
_ID_MIXER = 2_654_435_761
# Photo share shrinks past this scale so disk use grows sublinearly.
_PHOTO_FULL_SCALE = 10


@dataclass(slots=True)
class Counters:
    messages: int = 0
    photos: int = 0
    bytes: int = 0
    channels: int = 0


@dataclass(slots=True)
class SimulationContext:
    """Everything the generators share while writing one world."""

    seed: int
    scale: int
    exports_dir: Path
    truth_messages: BinaryIO
    images: ImagePool
    progress: Callable[[int], None] | None
    variant: Variant = DEFAULT
    truth: TruthBook = field(default_factory=TruthBook)
    counters: Counters = field(default_factory=Counters)
    _next_chat: int = 0
    _next_user: int = 0
    _handles: set[str] = field(default_factory=set)

    @property
    def photo_factor(self) -> float:
        """Multiplier on every photo probability: 1 up to scale 10, then 1/sqrt(scale/10)."""
        return min(1.0, math.sqrt(_PHOTO_FULL_SCALE / self.scale))

    def rng(self, *names: object) -> random.Random:
        # str seeds are hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
        return random.Random(":".join(["undertow-sim", str(self.seed), *map(str, names)]))

    def new_export_id(self) -> int:
        self._next_chat += 1
        mixed = ((self._next_chat + self.seed * 7_919) * _ID_MIXER) % 1_000_000_000
        return 1_000_000_000 + mixed

    def new_user_id(self) -> int:
        self._next_user += 1
        mixed = ((self._next_user + self.seed * 31) * _ID_MIXER) % 900_000_000
        return 100_000_000 + mixed

    def claim_handle(self, base: str) -> str:
        """A t.me handle not used elsewhere in this world, derived from `base`."""
        handle, suffix = base, 1
        while handle in self._handles:
            suffix += 1
            handle = f"{base}{suffix}"
        self._handles.add(handle)
        return handle

    def reserve_handles(self, handles: list[str]) -> list[str]:
        return [self.claim_handle(handle) for handle in handles]

    def new_channel(
        self,
        *,
        role: str,
        chat_type: str,
        titles: list[tuple[int, str]],
        handle: str | None,
        propaganda: bool,
        network_id: str | None,
    ) -> Channel:
        return Channel(
            export_id=self.new_export_id(),
            chat_type=chat_type,
            role=role,
            propaganda=propaganda,
            network_id=network_id,
            handle=handle,
            titles=titles,
        )
