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
) -> MediaItem:
    return MediaItem("telegram:1", message_id, sha, md5, pdq, dihedral)


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
