"""Text normalisation for matching indicators, robust to the evasions propaganda uses.

The normalised form is for matching only and is kept beside the raw text, never instead of
it.  Every normalised character remembers which raw character it came from, so a match in the
normalised text can be shown as a span of the raw text.

Steps: Unicode NFKC and case folding; invisible characters removed (zero-width, bidi controls,
soft hyphen); Arabic diacritics (tashkeel) and tatweel removed and letter variants unified
(alef forms, alef maqsura, ta marbuta, hamza carriers); Cyrillic and Greek look-alikes folded
to Latin; digits and symbols used as letters inside words folded ("n4sh1r"); and letters
spaced or dotted apart ("N.a.s.h.i.r", "D a w l a h") joined again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

_INVISIBLE = frozenset(
    [0x00AD, 0x034F, 0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x202A, 0x202F),
     *range(0x2060, 0x2070)]
)  # fmt: skip
_ARABIC_MARKS = frozenset(
    [*range(0x0610, 0x061B), *range(0x064B, 0x0660), 0x0670, *range(0x06D6, 0x06EE), 0x0640]
)
_ARABIC_LETTERS = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ى": "ي", "ی": "ي", "ئ": "ي", "ؤ": "و", "ة": "ه", "ک": "ك",
}  # fmt: skip
# Cyrillic and Greek letters that look like Latin ones (after case folding).
_HOMOGLYPHS = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "һ": "h",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k",
    "μ": "m", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
}  # fmt: skip
# Digits and symbols standing in for letters, folded only inside words that have letters.
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
_WORD_WITH_LEET = re.compile(r"(?=\S*[^\W\d_])[\w@$!]*[\d@$!][\w@$!]*")
# Three or more single letters separated by one space or punctuation mark: "n.a.s.h.i.r".
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W\d_][ .\-_*·•|/]){2,}[^\W\d_](?![^\W_])")
# What every such run contains (a letter between two separators), found far more cheaply.
_SPACED_HINT = re.compile(r"[ .\-_*·•|/][^\W\d_][ .\-_*·•|/]")


class _FoldTable(dict[int, str]):
    """`str.translate` table that folds each character the first time it is seen.

    Folding a character does not depend on its neighbours, so the fold of the whole text is
    one C-level `translate` call; characters that fold to nothing or to several characters are
    remembered so that origins are only worked out for texts that contain them.
    """

    irregular: set[str]

    def __init__(self) -> None:
        super().__init__()
        self.irregular = set()

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(folded) != 1:
            self.irregular.add(chr(code))
        self[code] = folded
        return folded


def _fold_char(char: str) -> str:
    if ord(char) in _INVISIBLE or ord(char) in _ARABIC_MARKS:
        return ""
    out = []
    for folded in unicodedata.normalize("NFKC", char).casefold():
        if ord(folded) in _INVISIBLE or ord(folded) in _ARABIC_MARKS:
            continue
        unified = _ARABIC_LETTERS.get(folded, folded)
        letter = _HOMOGLYPHS.get(unified, unified)
        if not unicodedata.combining(letter):
            out.append(letter)
    return "".join(out)


_TABLE = _FoldTable()
_MAYBE_LEET = re.compile(r"[\d@$!]")


@dataclass(frozen=True, slots=True)
class Normalised:
    """Normalised text and, for each of its characters, the raw character it came from."""

    text: str
    offsets: tuple[int, ...] | None  # None: character i came from raw character i

    @property
    def origin(self) -> tuple[int, ...]:
        return self.offsets if self.offsets is not None else tuple(range(len(self.text)))

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw text's [start, end) that normalised characters [start, end) came from."""
        if start >= end or not self.text:
            return (0, 0)
        if self.offsets is None:
            return start, end
        return self.offsets[start], self.offsets[end - 1] + 1


def normalise(raw: str) -> Normalised:
    """The matching form of `raw`, with the origin of every character."""
    text, origin = _fold(raw, with_origin=True)
    return Normalised(text, None if origin is None else tuple(origin))


def matching_form(raw: str) -> str:
    """Just the normalised text (cheaper: no origins are kept)."""
    return _fold(raw, with_origin=False)[0]


def _fold(raw: str, *, with_origin: bool) -> tuple[str, list[int] | None]:
    text = raw.translate(_TABLE)
    origin: list[int] | None = None
    if with_origin and (len(text) != len(raw) or not _TABLE.irregular.isdisjoint(raw)):
        origin = _origins(raw)
    if _MAYBE_LEET.search(text):
        text, origin = _rewrite(text, origin, _WORD_WITH_LEET, _unleet, with_origin)
    if _SPACED_HINT.search(text):
        text, origin = _rewrite(text, origin, _SPACED, _unspace, with_origin)
    return text, origin


def _origins(raw: str) -> list[int]:
    """For each character of the fold of `raw`, the raw index it came from: runs of
    characters that fold one-to-one are copied as ranges, the others expanded one by one."""
    irregular = _irregular_pattern(len(_TABLE.irregular))
    out: list[int] = []
    position = 0
    for match in irregular.finditer(raw):
        index = match.start()
        out.extend(range(position, index))
        out.extend([index] * len(_TABLE[ord(raw[index])]))
        position = index + 1
    out.extend(range(position, len(raw)))
    return out


@cache
def _irregular_pattern(size: int) -> re.Pattern[str]:
    """A character class of the characters known (so far: `size` of them) not to fold
    one-to-one; rebuilt whenever the fold table learns a new one."""
    del size  # the cache key
    chars = "".join(sorted(_TABLE.irregular))
    return re.compile("[" + re.escape(chars) + "]") if chars else re.compile(r"(?!)")


def _unleet(word: str) -> str:
    return "".join(_LEET.get(c, c) for c in word)


def _unspace(run: str) -> str:
    return run[::2]


def _rewrite(
    text: str,
    origin: list[int] | None,
    pattern: re.Pattern[str],
    change: Callable[[str], str],
    with_origin: bool,
) -> tuple[str, list[int] | None]:
    """Apply `change` to every match of `pattern`, keeping origins aligned when asked."""
    first = pattern.search(text)
    if first is None:
        return text, origin
    matches = [first, *pattern.finditer(text, first.end())]
    if with_origin and origin is None:
        origin = list(range(len(text)))
    out: list[str] = []
    out_origin: list[int] = []
    last = 0
    for match in matches:
        start, end = match.span()
        out.append(text[last:start])
        segment = match.group(0)
        replaced = change(segment)
        out.append(replaced)
        if origin is not None:
            out_origin.extend(origin[last:start])
            # The spaced-letter join keeps every other character; other changes keep lengths.
            step = 1 if len(replaced) == len(segment) else 2
            out_origin.extend(origin[start:end:step])
        last = end
    out.append(text[last:])
    if origin is not None:
        out_origin.extend(origin[last:])
        return "".join(out), out_origin
    return "".join(out), None
