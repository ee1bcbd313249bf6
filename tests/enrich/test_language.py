"""Language identification from a model shipped inside a package (CLD2)."""

from __future__ import annotations

import pytest

from undertow.enrich.language import detect_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The weekly market opened in the northern town this morning.", "en"),
        ("Le marché hebdomadaire a ouvert ce matin dans la ville du nord.", "fr"),
        ("افتتح السوق الأسبوعي في المدينة الشمالية صباح اليوم", "ar"),
        ("Der Wochenmarkt hat heute Morgen in der Stadt geöffnet.", "de"),
    ],
)
def test_common_languages_are_told_apart(text: str, code: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["", "ok", "https://t.me/x @handle #tag", "12345 67890"])
def test_too_little_text_gives_none(text: str) -> None:
    assert detect_language(text) is None


def test_hostile_input_does_not_raise() -> None:
    assert (
        detect_language("broken \ud800 surrogate and \x00 nul in an English sentence here") == "en"
    )
    assert detect_language("The market opened in the town this morning. " * 20_000) == "en"
