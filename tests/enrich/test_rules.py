"""Indicator rule packs: loading, evasion-proof matching, raw spans, and errors that name the
file and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from undertow.enrich.rules import RuleError, default_rules, load_rules, load_taxonomy

PACK = """\
pack: local
version: 2
rules:
  - id: local.brand
    category: branded-publication
    severity: high
    language: [en]
    scope: [text, title]
    patterns: [example outlet]
"""


def ids(text: str, scope: str = "text") -> list[tuple[str, str]]:
    return [(hit.rule.id, hit.scope) for hit in default_rules().match(text, scope)]


def test_builtin_pack_loads_and_uses_only_taxonomy_categories() -> None:
    rules = default_rules()
    taxonomy = load_taxonomy()
    assert {"is.outlet.amaq", "is.distributor.nashir", "is.hashtag.khilafahnews"} <= set(
        rules.rules
    )
    assert all(rule.category in taxonomy for rule in rules.rules.values())
    assert [pack.name for pack in rules.packs] == ["islamic-state"]
    assert len(rules.fingerprint) == 12


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("AMAQ AGENCY reports", "is.outlet.amaq"),
        ("Ａｍａｑ", "is.outlet.amaq"),  # full-width
        ("A\u200bmaq", "is.outlet.amaq"),  # zero-width space
        ("Nаshir", "is.distributor.nashir"),  # Cyrillic а
        ("N.a.s.h.i.r", "is.distributor.nashir"),  # dotted apart
        ("n4sh1r", "is.distributor.nashir"),  # leetspeak
        ("D a w l a h", "is.name.dawlah"),  # spaced apart
        ("follow nashir_news", "is.distributor.nashir"),  # handle with underscore
        ("الدولةُ الإسلاميةُ", "is.name.islamic-state"),  # tashkeel
        ("وبالدولة الإسلامية", "is.name.islamic-state"),  # proclitics و + ب
        ("وكالـــة أعماق", "is.outlet.amaq"),  # tatweel
    ],
)
def test_evasions_still_match(text: str, rule: str) -> None:
    assert rule in {rule_id for rule_id, _ in ids(text)}


@pytest.mark.parametrize(
    "text",
    [
        "the amaqian dialect",  # inside a longer word
        "Ibn Nashiri wrote",  # a longer name
        "أعماق البحر",  # "depths of the sea": the bare Arabic word is ordinary vocabulary
        "الدولة الحديثة",  # "the modern state"
        "KhilafahNews without the hash",  # the hashtag rule does not apply to plain text
        "",
    ],
)
def test_ordinary_words_do_not_match(text: str) -> None:
    assert ids(text) == []


def test_hashtags_are_found_with_their_scope() -> None:
    found = ids("Daily update #KhilafahNews #Amaq")
    assert ("is.hashtag.khilafahnews", "hashtag") in found
    assert ("is.outlet.amaq", "hashtag") in found
    assert ("is.hashtag.khilafahnews", "title") in ids("KhilafahNews 24", "title")


def test_hits_point_at_the_raw_text() -> None:
    raw = "Latest from N.a.\u200bs.h.i.r today"
    (hit,) = default_rules().match(raw, "text")
    assert raw[hit.start : hit.end] == "N.a.\u200bs.h.i.r" == hit.matched
    arabic = "خبر: وكالـــة أعماق تقول"
    (hit,) = default_rules().match(arabic, "text")
    assert hit.matched == "وكالـــة أعماق"


def test_urls_are_matched_by_their_words() -> None:
    hits = default_rules().match_url("https://t.me/nashir_news_2")
    assert [hit.rule.id for hit in hits] == ["is.distributor.nashir"]
    assert default_rules().match_url("https://news.example.com/world/amaqian") == []


def test_user_folder_adds_packs_and_overrides_builtin_rules(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(PACK, encoding="utf-8")
    (tmp_path / "tune.yml").write_text(
        PACK.replace("pack: local", "pack: tune")
        .replace("local.brand", "is.name.islamic-state")
        .replace("example outlet", "islamic state"),
        encoding="utf-8",
    )
    rules = load_rules([tmp_path])
    assert [pack.name for pack in rules.packs] == ["islamic-state", "local", "tune"]
    assert rules.rules["is.name.islamic-state"].severity == "high"  # retuned
    assert [h.rule.id for h in rules.match("An Example  Outlet post", "text")] == ["local.brand"]
    assert rules.fingerprint != default_rules().fingerprint
    only = load_rules([tmp_path], builtin=False)
    assert "is.outlet.amaq" not in only.rules


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("pack: x\nrules: [\n", "line 3"),  # truncated YAML: position given
        ("- just a list", "a rule pack is a mapping"),
        ("pack: Bad Name\nrules: []", "'pack' must be"),
        ("pack: x\nrules: []", "non-empty list"),
        (PACK.replace("branded-publication", "made-up"), "not in the taxonomy"),
        (PACK.replace("severity: high", "severity: extreme"), "severity must be one of"),
        (PACK.replace("scope: [text, title]", "scope: [text, dms]"), "scope must be"),
        (
            PACK.replace("    language: [en]\n", "    language: [en]\n    colour: red\n"),
            "unknown key",
        ),
        (PACK.replace("[example outlet]", "[42]"), "list of strings"),
        (PACK.replace("[example outlet]", "['   ']"), "empty"),
        (PACK.replace("[example outlet]", "['" + "x" * 300 + "']"), "over 200"),
        (PACK + PACK.split("rules:\n")[1], "used twice"),
    ],
)
def test_bad_packs_name_file_rule_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path])
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_unreadable_inputs_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="rule folder not found"):
        load_rules([tmp_path / "missing"])
    (tmp_path / "latin1.yaml").write_bytes("pack: x\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rules([tmp_path])


def test_a_hostile_yaml_tag_is_not_executed(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rules([tmp_path])


def test_huge_text_is_matched_without_trouble() -> None:
    text = ("neutral words " * 50_000) + "#KhilafahNews"
    assert ids(text) == [("is.hashtag.khilafahnews", "hashtag")]
