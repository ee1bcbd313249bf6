"""Names of channels for telling incarnations apart: a title or handle without its numbering
and labels ("Nashir 2", "Nashir_v3", "Nashir new", "Nаshir", "N.a.s.h.i.r", "nashir_86_backup"
all give "nashir"), folded like the text (`enrich.normalise`)."""

from __future__ import annotations

import re

from undertow.enrich.normalise import matching_form

# Tokens that number or label an incarnation rather than name it: "2", "v3", "#4", "new".
_LABELS = frozenset(
    {"new", "backup", "bkp", "official", "reserve", "spare", "real", "again", "back", "alt",
     "the", "جديد", "الجديد", "احتياط", "احتياطي",
     # numbering written out: "X One", "X Two", "X II"
     "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "ii", "iii", "iv", "vi", "vii", "viii", "ix", "x"}
)  # fmt: skip
_NUMBERING = re.compile(r"(?:v|ver|version|no|nr|part|pt)?[.#№]?\d+(?:\.\d+)*")
_TOKEN_SPLIT = re.compile(r"[\s_\-–—|/\\()\[\]{}:,;!?\"«»]+")


def name_stem(name: str) -> str:
    """A title or handle without numbering and labels, folded for matching: "Nashir 2",
    "Nashir_v3", "Nashir new", "Nаshir" (Cyrillic а), "N.a.s.h.i.r", "nashir_86_backup"
    all give "nashir"."""
    tokens = [token for token in _TOKEN_SPLIT.split(name) if token]
    kept = [token for token in tokens if not _is_label(token)] or tokens
    # Numbering glued on ("nashir2") goes before folding, which would read "3" as an "e".
    kept = [token.rstrip("0123456789") or token for token in kept]
    return "".join(char for char in matching_form(" ".join(kept)) if char.isalnum())


def _is_label(token: str) -> bool:
    low = token.casefold()
    return low in _LABELS or matching_form(token) in _LABELS or bool(_NUMBERING.fullmatch(low))
