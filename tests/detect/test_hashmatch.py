"""The hash-bank detector: exact and perceptual matches, thresholds, rotations, explanations."""

from __future__ import annotations

import numpy as np

from undertow.detect.base import Detector
from undertow.detect.hashmatch import BankEntryInfo, BankSnapshot, HashMatchDetector
from undertow.plugins import load_detectors
from undertow.records import MediaItem
from undertow.settings import Settings

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def near(value: str, bits: int) -> str:
    number = int(value, 16)
    for bit in range(bits):
        number ^= 1 << (bit * 37 % 256)
    return f"{number:064x}"


def snapshot() -> BankSnapshot:
    return BankSnapshot.build(
        [
            BankEntryInfo(1, "gifct", "pdq", PDQ, "terrorist_content", "poster"),
            BankEntryInfo(2, "gifct", "md5", "a" * 32, "terrorist_content", None),
            BankEntryInfo(3, "internal", "sha256", "b" * 64, None, "confirmed"),
        ]
    )


def item(
    message_id: int,
    *,
    sha: str = "0" * 64,
    md5: str = "0" * 32,
    pdq: str | None = None,
    dihedral: list[str] | None = None,
    vpdq: list[tuple[str, int]] | None = None,
) -> MediaItem:
    return MediaItem("telegram:1", message_id, sha, md5, pdq, dihedral, vpdq)


def test_the_detector_satisfies_the_protocol_and_registers(sqlite_settings: Settings) -> None:
    assert isinstance(HashMatchDetector(snapshot()), Detector)
    assert "hashmatch" in load_detectors()


def test_exact_and_perceptual_matches_with_threshold() -> None:
    detector = HashMatchDetector(snapshot(), pdq_threshold=31)
    signals = detector.detect(
        [
            item(1, md5="a" * 32),
            item(2, sha="b" * 64, pdq=near(PDQ, 10)),
            item(3, pdq=near(PDQ, 31)),
            item(4, pdq=near(PDQ, 32)),
            item(5),
        ]
    )
    by_message = {(s.message_id, s.explanation["bank"]): s for s in signals}
    assert set(by_message) == {(1, "gifct"), (2, "gifct"), (2, "internal"), (3, "gifct")}
    assert (
        by_message[(1, "gifct")].score == 1.0
        and by_message[(1, "gifct")].explanation["method"] == "md5"
    )
    assert by_message[(2, "gifct")].explanation["distance"] == 10
    assert by_message[(2, "internal")].category is None
    assert 0.5 <= by_message[(3, "gifct")].score < 0.6
    assert by_message[(3, "gifct")].explanation["entry"]["note"] == "poster"
    strict = HashMatchDetector(snapshot(), pdq_threshold=8)
    assert [s.message_id for s in strict.detect([item(2, pdq=near(PDQ, 10))])] == []


def test_rotated_copies_match_only_with_dihedral_matching() -> None:
    rotated = near(PDQ, 128)  # far from the original, as a rotation is
    variants = [near(PDQ, 3)] + [near(PDQ, 100)] * 6
    media = [item(7, pdq=rotated, dihedral=variants)]
    assert HashMatchDetector(snapshot()).detect(media) == []
    (signal,) = HashMatchDetector(snapshot(), dihedral=True).detect(media)
    assert signal.explanation["method"] == "pdq-dihedral" and signal.explanation["distance"] == 3


def test_signal_keys_are_stable_across_runs() -> None:
    media = [item(9, md5="a" * 32, pdq=PDQ)]
    first = HashMatchDetector(snapshot()).detect(media)
    second = HashMatchDetector(BankSnapshot.build(list(snapshot().entries.values()))).detect(media)
    assert [s.key for s in first] == [s.key for s in second]
    assert first[0].explanation["matched_entries"] == 2
    assert np.isclose(first[0].score, 1.0)


def video(frames: list[str], quality: int = 90) -> str:
    return " ".join(f"{h},{quality},{i}" for i, h in enumerate(frames))


def test_vpdq_videos_match_by_share_of_frames() -> None:
    base = [near(PDQ, 0), near(PDQ, 60), near(PDQ, 120), near(PDQ, 180), near(PDQ, 240)]
    snapshot_ = BankSnapshot.build(
        [BankEntryInfo(7, "videos", "vpdq", video(base), "terrorist_content", "clip")]
    )
    detector = HashMatchDetector(snapshot_, vpdq_match_percent=80)
    copy = [(near(h, 5), 80) for h in base[:4]] + [
        ("0" * 64, 80)
    ]  # 4 of 5 frames re-encoded, 1 new
    (signal,) = detector.detect([item(1, vpdq=copy)])
    assert signal.explanation["method"] == "vpdq"
    assert signal.explanation["query_match_percent"] == 80.0
    assert signal.explanation["compared_match_percent"] == 80.0
    assert signal.score == 0.8
    too_different = [(near(h, 5), 80) for h in base[:3]] + [("0" * 64, 80), ("f" * 64, 80)]
    assert detector.detect([item(2, vpdq=too_different)]) == []
    low_quality = [(h, 10) for h in base]
    assert detector.detect([item(3, vpdq=low_quality)]) == []
