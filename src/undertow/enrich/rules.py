"""Indicator rule packs: names, hashtags and markers kept as YAML data, matched on normalised text.

A pack is a YAML file (format in docs/formats.md) holding rules; each rule has an id, a
category from the taxonomy (`data/taxonomy.yaml`), a severity, the languages of its patterns,
the scopes it applies to and its patterns.  Packs come from the package (`data/rules/`) and
from user folders; a user pack may replace a built-in rule by reusing its id.

Patterns are normalised like the text (`enrich.normalise`) when loaded, so one pattern covers
its case, diacritic, homoglyph, spacing and leetspeak variants.  All patterns of a scope are
compiled into one regular expression shaped like a trie, with word boundaries that hold for
Latin and Arabic script alike (`_` counts as a separator, so handles like `amaq_agency` match)
and that let Arabic patterns carry the proclitics و ف ب ل ك ("and", "so", "by", "for", "like").
A hit reports the span of the *raw* text it came from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from undertow.enrich.normalise import matching_form, normalise

SCOPES = ("text", "title", "bio", "hashtag", "url")
SEVERITY_WEIGHT = {"low": 0.3, "medium": 0.6, "high": 0.9}
MAX_PATTERN_CHARS = 200
MAX_RULES = 10_000
_RULE_KEYS = {"id", "description", "category", "severity", "language", "scope", "patterns"}
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,119}")
# Word boundaries: a hit may not continue a word (letters and digits; "_" separates).  Before
# a hit an Arabic proclitic (one or two letters) may stand between the boundary and the hit.
# The left boundary is checked in Python (`_left_ok`): a pattern that begins with a
# lookbehind cannot use the regex engine's fast scan for its first characters (3x slower).
_RIGHT = r"(?![^\W_])"
_PROCLITIC = "وفبلك"
_URL_SEPARATORS = re.compile(r"[/:.?=&#%+\-_~@]+")
# Inside a pattern, a space, hyphen or underscore matches any run of them, or nothing:
# "amaq agency" also finds "amaq-agency", "amaq_agency", "amaqagency" and "amaq  agency".
# Patterns are held in the trie with "_" standing for such a run.
_SEPARATORS = re.compile(r"[\s\-_]+")


class RuleError(ValueError):
    """A rule pack or the taxonomy is unusable; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    label: str
    description: str


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    pack: str
    description: str
    category: str
    severity: str
    languages: tuple[str, ...]
    scopes: frozenset[str]
    patterns: tuple[str, ...]

    @property
    def weight(self) -> float:
        return SEVERITY_WEIGHT[self.severity]


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule matching one place: `start:end` indexes the raw `field` that was matched
    (text, title, bio, forwarded_from or url)."""

    rule: Rule
    scope: str
    start: int
    end: int
    matched: str
    field: str = "text"


@dataclass(frozen=True, slots=True)
class RulePack:
    name: str
    version: int
    path: str
    digest: str


@dataclass
class RuleSet:
    """Loaded rules, compiled per scope."""

    rules: dict[str, Rule]
    packs: list[RulePack]
    taxonomy: dict[str, Category]
    _matchers: dict[str, tuple[re.Pattern[str], dict[str, list[tuple[Rule, str]]]]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        for scope in SCOPES:
            self._matchers[scope] = _compile(self.rules.values(), scope)

    @property
    def fingerprint(self) -> str:
        """Short digest of every pack loaded: part of the detector version in signals."""
        joined = "|".join(f"{p.name}:{p.version}:{p.digest}" for p in self.packs)
        return hashlib.sha256(joined.encode()).hexdigest()[:12]

    def match(self, raw: str, scope: str, field: str | None = None) -> list[RuleHit]:
        """Every rule hit in `raw` for `scope` (hashtags are found too in text, titles and
        bios); `field` names what `raw` is, for the explanation (default: the scope)."""
        if not raw:
            return []
        pattern, literals = self._matchers[scope]
        # Origins cost little (ranges, only for texts that do not fold one-to-one), so the
        # text is folded once, with them, rather than again for texts that match.
        spans = normalise(raw)
        folded = spans.text
        found = [m for m in pattern.finditer(folded) if _left_ok(folded, m.start())]
        if not found:
            return []
        hits: list[RuleHit] = []
        for match in found:
            start, end = spans.raw_span(*match.span())
            for rule, hit_scope in literals.get(_key(match.group(0)), ()):
                hits.append(RuleHit(rule, hit_scope, start, end, raw[start:end], field or scope))
        return hits

    def match_url(self, url: str) -> list[RuleHit]:
        """Rule hits in the words of a (normalised) URL; spans index `url`."""
        pattern, literals = self._matchers["url"]
        words = matching_form(_URL_SEPARATORS.sub(" ", url))
        hits: list[RuleHit] = []
        for match in pattern.finditer(words):
            if not _left_ok(words, match.start()):
                continue
            for rule, _ in literals.get(_key(match.group(0)), ()):
                hits.append(RuleHit(rule, "url", 0, len(url), url, "url"))
        return hits


def _compile(
    rules: Iterable[Rule], scope: str
) -> tuple[re.Pattern[str], dict[str, list[tuple[Rule, str]]]]:
    literals: dict[str, list[tuple[Rule, str]]] = {}
    words: set[str] = set()
    for rule in rules:
        forms: list[tuple[str, str]] = []
        if scope in rule.scopes:
            forms += [(p, scope) for p in rule.patterns]
        if scope in {"text", "title", "bio"} and "hashtag" in rule.scopes:
            # "#tag" is a hashtag hit; in titles and bios, too, a hashtag is a marker.
            forms += [("#" + _key(p), "hashtag") for p in rule.patterns]
        for literal, hit_scope in forms:
            words.add(_SEPARATORS.sub("_", literal))
            entries = literals.setdefault(_key(literal), [])
            if (rule, hit_scope) not in entries:
                entries.append((rule, hit_scope))
    if not literals:
        return re.compile(r"(?!)"), literals
    return re.compile("(?:" + _trie_pattern(words) + ")" + _RIGHT), literals


def _left_ok(text: str, start: int) -> bool:
    """A hit at `start` begins a word, or follows one or two Arabic proclitics that do."""
    if start == 0 or not text[start - 1].isalnum():
        return True
    if text[start - 1] not in _PROCLITIC:
        return False
    if start == 1 or not text[start - 2].isalnum():
        return True
    return (
        text[start - 2] in "وف"
        and text[start - 1] in "بلك"
        and (start == 2 or not text[start - 3].isalnum())
    )


@lru_cache(maxsize=1 << 16)  # called for every match: the same few words again and again
def _key(literal: str) -> str:
    return _SEPARATORS.sub("", literal)


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression for `words`, shaped as a prefix trie (fast for many words);
    "_" in a word matches a run of spaces, hyphens and underscores, or nothing."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def walk(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [
            ("[\\s\\-_]*" if char == "_" else re.escape(char)) + walk(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return "(?:" + body + ")?"
        return body

    return walk(trie)


# -- loading ----------------------------------------------------------------------------------


@cache
def category_ids() -> tuple[str, ...]:
    """The ids of the shipped taxonomy's categories, sorted (read once per process)."""
    return tuple(sorted(load_taxonomy()))


def load_taxonomy(path: Path | None = None) -> dict[str, Category]:
    if path is None:
        text = resources.files("undertow").joinpath("data/taxonomy.yaml").read_text("utf-8")
        where = "undertow/data/taxonomy.yaml"
    else:
        text, where = _read(path), str(path)
    data = _yaml(text, where)
    categories = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(categories, list) or not categories:
        raise RuleError(f"{where}: no 'categories' list")
    out: dict[str, Category] = {}
    for index, item in enumerate(categories, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise RuleError(f"{where}: category {index}: needs an 'id'")
        out[item["id"]] = Category(
            item["id"], str(item.get("label", item["id"])), str(item.get("description", ""))
        )
    return out


def builtin_pack_files() -> list[tuple[str, str]]:
    """(name, text) of every pack shipped in the package."""
    folder = resources.files("undertow").joinpath("data/rules")
    return sorted(
        (f"undertow/data/rules/{entry.name}", entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith((".yaml", ".yml"))
    )


def load_rules(folders: Sequence[Path] = (), *, builtin: bool = True) -> RuleSet:
    """The built-in packs (unless `builtin` is false), then every `*.yaml` in `folders`.

    A later pack's rule replaces an earlier rule with the same id (so a user folder can
    retune a built-in rule); two rules with one id inside one pack are an error.
    """
    taxonomy = load_taxonomy()
    sources = builtin_pack_files() if builtin else []
    for folder in folders:
        if not folder.is_dir():
            raise RuleError(f"{folder}: rule folder not found")
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            sources.append((str(path), _read(path)))
    rules: dict[str, Rule] = {}
    packs: list[RulePack] = []
    for where, text in sources:
        pack, pack_rules = parse_pack(text, where, taxonomy)
        packs.append(pack)
        rules.update((rule.id, rule) for rule in pack_rules)
        if len(rules) > MAX_RULES:
            raise RuleError(f"{where}: more than {MAX_RULES} rules in all")
    return RuleSet(rules, packs, taxonomy)


@cache
def default_rules() -> RuleSet:
    """The built-in packs alone (cached)."""
    return load_rules()


def parse_pack(
    text: str, where: str, taxonomy: Mapping[str, Category]
) -> tuple[RulePack, list[Rule]]:
    data = _yaml(text, where)
    if not isinstance(data, dict):
        raise RuleError(f"{where}: a rule pack is a mapping with 'pack' and 'rules'")
    name = data.get("pack")
    if not isinstance(name, str) or not _ID.fullmatch(name):
        raise RuleError(f"{where}: 'pack' must be a lower-case name like 'my-pack'")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise RuleError(f"{where}: 'version' must be a whole number")
    items = data.get("rules")
    if not isinstance(items, list) or not items:
        raise RuleError(f"{where}: 'rules' must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        rule = _parse_rule(item, f"{where}: rule {index}", name, taxonomy)
        if rule.id in seen:
            raise RuleError(f"{where}: rule {index}: id {rule.id!r} is used twice in this pack")
        seen.add(rule.id)
        rules.append(rule)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return RulePack(name, version, where, digest), rules


def _parse_rule(item: object, where: str, pack: str, taxonomy: Mapping[str, Category]) -> Rule:
    if not isinstance(item, dict):
        raise RuleError(f"{where}: a rule is a mapping")
    unknown = set(item) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise RuleError(f"{where}: 'id' must be lower-case letters, digits and . _ -")
    where = f"{where} ({rule_id})"
    category = item.get("category")
    if category not in taxonomy:
        raise RuleError(
            f"{where}: category {category!r} is not in the taxonomy ({', '.join(sorted(taxonomy))})"
        )
    severity = item.get("severity")
    if severity not in SEVERITY_WEIGHT:
        raise RuleError(f"{where}: severity must be one of {', '.join(SEVERITY_WEIGHT)}")
    scopes = _strings(item.get("scope", ["text"]), where, "scope")
    bad = set(scopes) - set(SCOPES)
    if bad or not scopes:
        raise RuleError(f"{where}: scope must be some of {', '.join(SCOPES)}")
    languages = _strings(item.get("language", []), where, "language")
    patterns: list[str] = []
    for raw in _strings(item.get("patterns"), where, "patterns"):
        if not raw.strip() or len(raw) > MAX_PATTERN_CHARS:
            raise RuleError(
                f"{where}: pattern {raw[:40]!r} is empty or over {MAX_PATTERN_CHARS} chars"
            )
        folded = " ".join(matching_form(raw).split())
        if folded and folded not in patterns:
            patterns.append(folded)
    if not patterns:
        raise RuleError(f"{where}: no usable patterns")
    return Rule(
        id=rule_id,
        pack=pack,
        description=str(item.get("description", "")),
        category=str(category),
        severity=str(severity),
        languages=tuple(languages),
        scopes=frozenset(scopes),
        patterns=tuple(patterns),
    )


def _strings(value: object, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: {key!r} must be a string or a list of strings")
    return list(value)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > 16 * 1024 * 1024:
        raise RuleError(f"{path}: over 16 MiB; a rule pack should be far smaller")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 (byte {exc.start})") from exc


def _yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"{where}: {at}not valid YAML: {problem}") from exc
