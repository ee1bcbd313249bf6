"""Normalisation defeats each evasion and still points back into the raw text."""

from __future__ import annotations

import pytest

from undertow.enrich.normalise import matching_form, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AMAQ Agency", "amaq agency"),  # case
        ("ＡＭＡＱ", "amaq"),  # full-width (NFKC)
        ("Ama\u200bq", "amaq"),  # zero-width space
        ("Na\u200dshir\u2060", "nashir"),  # zero-width joiner, word joiner
        ("\u202eNashir\u202c", "nashir"),  # bidi override
        ("Da\u00adwlah", "dawlah"),  # soft hyphen
        ("Nаshir", "nashir"),  # Cyrillic а
        ("Ιslamic Stаte", "islamic state"),  # Greek Ι, Cyrillic а
        ("n4sh1r", "nashir"),  # digits for letters
        ("D@wl@h", "dawlah"),  # symbols for letters
        ("N.a.s.h.i.r", "nashir"),  # dotted apart
        ("D a w l a h", "dawlah"),  # spaced apart
        ("K-h-i-l-a-f-a-h", "khilafah"),  # hyphenated apart
        ("الدَّوْلَةُ", "الدوله"),  # tashkeel removed, ta marbuta unified
        ("ـــعـمـاق", "عماق"),  # tatweel removed
        ("إسلامية", "اسلاميه"),  # alef with hamza below, ta marbuta
        ("أمة", "امه"),  # alef with hamza above
        ("مستشفى", "مستشفي"),  # alef maqsura
    ],
)
def test_each_evasion_is_undone(raw: str, expected: str) -> None:
    assert matching_form(raw) == expected


def test_ordinary_numbers_and_words_are_left_alone() -> None:
    assert (
        matching_form("In 2019, 43,000 channels were removed")
        == "in 2019, 43,000 channels were removed"
    )
    assert matching_form("an ox is big") == "an ox is big"


def test_normalised_spans_map_back_to_the_raw_text() -> None:
    raw = "Join N.a.\u200bs.h.i.r today"
    result = normalise(raw)
    start = result.text.index("nashir")
    raw_start, raw_end = result.raw_span(start, start + len("nashir"))
    assert raw[raw_start:raw_end] == "N.a.\u200bs.h.i.r"
    assert result.raw_span(3, 3) == (0, 0)


def test_raw_text_is_untouched_and_output_is_stable() -> None:
    raw = "Dаwlah n3ws"
    first = normalise(raw)
    assert raw == "Dаwlah n3ws"
    assert normalise(raw) == first
    assert len(first.origin) == len(first.text)


def test_fast_and_mapped_forms_agree_on_mixed_input() -> None:
    import random

    alphabet = "aB1 .-@$\u200b\u0430\u0622\u064e\u0640\u0629ﬁ\u00c5\u0301ǅ!"
    rng = random.Random(5)
    for _ in range(2000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        mapped = normalise(raw)
        assert mapped.text == matching_form(raw)
        assert len(mapped.origin) == len(mapped.text)
        assert all(0 <= i < len(raw) for i in mapped.origin)
        assert list(mapped.origin) == sorted(mapped.origin)
