"""Hash-bank matching: known media found by exact hash (MD5, SHA-256) or PDQ distance.

`BankSnapshot` is what the banks held when a run started (built by the stage, which does the
I/O); `HashMatchDetector` compares a batch of media occurrences with it and returns one signal
per occurrence and bank, carrying the strongest evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from undertow.detect.pdq_index import PDQIndex, codes_from_hex
from undertow.enrich.media_hash import MIN_PDQ_QUALITY
from undertow.records import MediaItem, Signal
from undertow.settings import Settings


@dataclass(frozen=True, slots=True)
class BankEntryInfo:
    """A bank entry as the detector explains it."""

    entry_id: int
    bank: str
    hash_type: str
    value: str
    category: str | None
    note: str | None


@dataclass
class BankSnapshot:
    """Exact-hash lookups and a PDQ index over the entries of the enabled banks."""

    entries: dict[int, BankEntryInfo] = field(default_factory=dict)
    exact: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    pdq: PDQIndex = field(default_factory=PDQIndex)
    video_frames: PDQIndex = field(default_factory=PDQIndex)
    """Every usable frame of every vPDQ entry; ids index `frame_entry`."""
    frame_entry: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    frame_count: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable[BankEntryInfo], pdq: PDQIndex | None = None) -> BankSnapshot:
        """From entries; a ready PDQ index (loaded from disk) may be passed in."""
        snapshot = cls()
        pdq_values: list[str] = []
        pdq_ids: list[int] = []
        frames: list[str] = []
        owners: list[int] = []
        for entry in entries:
            snapshot.entries[entry.entry_id] = entry
            if entry.hash_type == "vpdq":
                usable = usable_frames(
                    (item.split(",")[0], int(item.split(",")[1])) for item in entry.value.split()
                )
                frames.extend(usable)
                owners.extend([entry.entry_id] * len(usable))
                snapshot.frame_count[entry.entry_id] = len(usable)
            elif entry.hash_type == "pdq":
                pdq_values.append(entry.value)
                pdq_ids.append(entry.entry_id)
            else:
                snapshot.exact.setdefault((entry.hash_type, entry.value), []).append(entry.entry_id)
        snapshot.pdq = (
            pdq if pdq is not None else PDQIndex(codes_from_hex(pdq_values), np.array(pdq_ids))
        )
        snapshot.frame_entry = np.array(owners, dtype=np.int64)
        snapshot.video_frames = PDQIndex(codes_from_hex(frames), np.arange(len(frames)))
        return snapshot


def usable_frames(frames: Iterable[tuple[str, int]]) -> list[str]:
    """Distinct frame hashes of quality >= 50, in order (the vPDQ matching rule)."""
    return list(dict.fromkeys(h for h, quality in frames if quality >= MIN_PDQ_QUALITY))


@dataclass
class _Evidence:
    entry: BankEntryInfo
    method: str
    distance: int
    detail: dict[str, Any] = field(default_factory=dict)


class HashMatchDetector:
    """Matches media occurrences against hash banks (exact and PDQ within a threshold)."""

    name = "hashmatch"
    version = "1"

    def __init__(
        self,
        banks: BankSnapshot,
        *,
        pdq_threshold: int = 31,
        dihedral: bool = False,
        vpdq_match_percent: int = 80,
    ) -> None:
        if not 0 <= pdq_threshold < 32:
            raise ValueError("the PDQ match threshold must be between 0 and 31 bits")
        self.banks = banks
        self.pdq_threshold = pdq_threshold
        self.dihedral = dihedral
        self.vpdq_match_percent = vpdq_match_percent

    @classmethod
    def from_settings(cls, settings: Settings, banks: BankSnapshot) -> HashMatchDetector:
        return cls(
            banks,
            pdq_threshold=settings.pdq_threshold,
            dihedral=settings.pdq_dihedral,
            vpdq_match_percent=settings.vpdq_match_percent,
        )

    def detect(self, batch: Sequence[Any]) -> list[Signal]:
        items: list[MediaItem] = [item for item in batch if isinstance(item, MediaItem)]
        found: dict[int, list[_Evidence]] = defaultdict(list)
        for position, item in enumerate(items):
            for hash_type, value in (("sha256", item.sha256), ("md5", item.md5)):
                for entry_id in self.banks.exact.get((hash_type, value), ()):
                    found[position].append(_Evidence(self.banks.entries[entry_id], hash_type, 0))
        self._match_pdq(items, found)
        self._match_videos(items, found)
        return [
            signal
            for position, evidence in found.items()
            for signal in self._signals(items[position], evidence)
        ]

    def _match_pdq(self, items: list[MediaItem], found: dict[int, list[_Evidence]]) -> None:
        if len(self.banks.pdq) == 0:
            return
        queries: list[str] = []
        owners: list[tuple[int, bool]] = []  # (item position, is a rotated/flipped variant)
        for position, item in enumerate(items):
            if item.pdq is None:
                continue
            queries.append(item.pdq)
            owners.append((position, False))
            if self.dihedral and item.pdq_dihedral:
                for variant in item.pdq_dihedral:
                    queries.append(variant)
                    owners.append((position, True))
        for match in self.banks.pdq.search(codes_from_hex(queries), self.pdq_threshold):
            position, rotated = owners[match.query]
            entry = self.banks.entries[match.entry]
            found[position].append(
                _Evidence(entry, "pdq-dihedral" if rotated else "pdq", match.distance)
            )

    def _match_videos(self, items: list[MediaItem], found: dict[int, list[_Evidence]]) -> None:
        """vPDQ: a video matches a bank video when enough of its usable frames (quality >= 50,
        distinct) are within the PDQ threshold of some frame of it."""
        if len(self.banks.video_frames) == 0:
            return
        queries: list[str] = []
        owners: list[int] = []
        counts: dict[int, int] = {}
        for position, item in enumerate(items):
            if item.vpdq:
                usable = usable_frames(item.vpdq)
                queries.extend(usable)
                owners.extend([position] * len(usable))
                counts[position] = len(usable)
        matched_query: dict[tuple[int, int], set[int]] = defaultdict(set)
        matched_bank: dict[tuple[int, int], set[int]] = defaultdict(set)
        closest: dict[tuple[int, int], int] = {}
        for match in self.banks.video_frames.search(codes_from_hex(queries), self.pdq_threshold):
            key = (owners[match.query], int(self.banks.frame_entry[match.entry]))
            matched_query[key].add(match.query)
            matched_bank[key].add(match.entry)
            closest[key] = min(closest.get(key, 256), match.distance)
        for key, frames in matched_query.items():
            position, entry_id = key
            query_percent = 100.0 * len(frames) / counts[position]
            if query_percent < self.vpdq_match_percent:
                continue
            compared = 100.0 * len(matched_bank[key]) / self.banks.frame_count[entry_id]
            detail = {
                "query_match_percent": round(query_percent, 1),
                "compared_match_percent": round(compared, 1),
            }
            found[position].append(
                _Evidence(self.banks.entries[entry_id], "vpdq", closest[key], detail)
            )

    def _signals(self, item: MediaItem, evidence: list[_Evidence]) -> Iterable[Signal]:
        by_bank: dict[str, list[_Evidence]] = defaultdict(list)
        for ev in evidence:
            by_bank[ev.entry.bank].append(ev)
        for bank, matches in sorted(by_bank.items()):
            # Exact matches first, then the closest perceptual one.
            matches.sort(
                key=lambda e: (e.method not in ("md5", "sha256"), e.distance, e.entry.entry_id)
            )
            best = matches[0]
            yield Signal(
                detector=self.name,
                version=self.version,
                key=f"{item.channel_id}:{item.message_id}:{item.sha256}:{bank}",
                target_kind="media",
                channel_id=item.channel_id,
                message_id=item.message_id,
                sha256=item.sha256,
                score=self.score(best.method, best.distance, best.detail),
                category=best.entry.category,
                explanation={
                    "bank": bank,
                    "method": best.method,
                    "distance": best.distance,
                    "threshold": self.pdq_threshold,
                    "entry": {
                        "id": best.entry.entry_id,
                        "hash_type": best.entry.hash_type,
                        "value": best.entry.value,
                        "note": best.entry.note,
                    },
                    "matched_entries": len({e.entry.entry_id for e in matches}),
                    **best.detail,
                },
            )

    def score(self, method: str, distance: int, detail: dict[str, Any] | None = None) -> float:
        """1.0 for an exact hash; for PDQ falling from 1.0 at 0 bits to about 0.5 at the
        threshold (PDQ's own confidence is roughly linear in distance up to 31 bits); for vPDQ
        the share of the video's frames that matched."""
        if method == "vpdq":
            return round(float((detail or {}).get("query_match_percent", 0.0)) / 100, 4)
        if not method.startswith("pdq"):
            return 1.0
        return round(1.0 - distance / (2 * (self.pdq_threshold + 1)), 4)
