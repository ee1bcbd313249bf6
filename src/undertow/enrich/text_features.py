"""Text to features for the text classifier: a light normalisation of each text, then hashed
character and word n-grams (docs/model.md, "How text becomes features").
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from undertow.enrich.ngram_kernel import grams
from undertow.enrich.normalise import _ARABIC_LETTERS, _ARABIC_MARKS, _HOMOGLYPHS, _INVISIBLE

NORMALISATION = "undertow-light-1"
"""Name of what `normalised_code_points` does, saved with a model: change it with the code."""

FloatArray = npt.NDArray[np.float64]
_MAX_BITS = 24
_CHUNK_CHARS = 1 << 20
_SENTINEL, _SPACE = 0, 32


# Defined here, the lowest of the classifier's modules, because invalid `FeatureParams` raise
# it; users import it from `undertow.enrich.classifier`.
class ModelError(Exception):
    """A model file that cannot be read, or training input or options that cannot be used."""


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """How texts become hashed n-gram features; saved with the model."""

    char_min: int = 2
    char_max: int = 5
    word_max: int = 2
    bits: int = 20
    max_chars: int = 4000

    def __post_init__(self) -> None:
        if not 2 <= self.char_min <= self.char_max <= 8:
            raise ModelError(
                f"character n-grams must satisfy 2 <= min <= max <= 8, not "
                f"{self.char_min}..{self.char_max}"
            )
        if not 0 <= self.word_max <= 3:
            raise ModelError(f"word n-grams must be 0 to 3, not {self.word_max}")
        if not 10 <= self.bits <= _MAX_BITS:
            raise ModelError(f"hash bits must be 10 to {_MAX_BITS}, not {self.bits}")
        if self.max_chars < 1:
            raise ModelError(f"max_chars must be positive, not {self.max_chars}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureParams:
        try:
            return cls(**{name: int(data[name]) for name in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"feature parameters are incomplete or invalid: {exc}") from exc


# Links and @mentions are dropped: a placeholder token mostly tells tweets from paragraphs,
# and the accounts themselves must not be learnt.
_URL = re.compile(r"(?:https?://|www\.)[^\s\x00]+")
_MENTION = re.compile(r"@\w+")
# A leading retweet marker says how a text was shared, not what it says.
_RETWEET = re.compile(r"\x00\s*rt\s*@\w+\s*:?")


@cache
def _code_point_tables() -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
    """Per BMP code point: what it folds to (0xFFFF = drop it), and whether it is part of a
    word (letters, marks, digits, underscore); everything else separates words."""
    fold = np.arange(0x10000, dtype=np.uint32)
    for code in (*_INVISIBLE, *_ARABIC_MARKS):
        fold[code] = 0xFFFF
    for table in (_ARABIC_LETTERS, _HOMOGLYPHS):
        for source, target in table.items():
            fold[ord(source)] = ord(target)
    for zero in (0x30, 0x660, 0x6F0):  # ASCII, Arabic-Indic and Persian digits all become 0
        fold[zero : zero + 10] = 0x30
    word = np.array(
        [unicodedata.category(chr(code))[0] in "LMN" for code in range(0x10000)], dtype=bool
    )
    word[ord("_")] = True
    return fold, word


def normalised_code_points(texts: Sequence[str], max_chars: int) -> npt.NDArray[np.uint32]:
    """All texts as one array of code points: each text folded and reduced to its words with
    single spaces around them (" w1 w2 "), texts separated by 0."""
    joined = "\x00 " + " \x00 ".join(t[:max_chars].replace("\x00", " ") for t in texts) + " \x00"
    joined = unicodedata.normalize("NFKC", joined).casefold()
    if "&" in joined:
        joined = html.unescape(joined)
    joined = _RETWEET.sub("\x00 ", joined)
    joined = _MENTION.sub(" ", _URL.sub(" ", joined))
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    fold, word = _code_point_tables()
    small = points < 0x10000
    points = np.where(small, fold[np.where(small, points, 0)], points)
    points = points[points != 0xFFFF]
    is_word = np.zeros(points.size, dtype=bool)
    small = points < 0x10000
    is_word[small] = word[points[small]]
    points = np.where(is_word | (points == _SENTINEL), points, _SPACE).astype(np.uint32)
    space = points == _SPACE
    keep = np.ones(points.size, dtype=bool)
    keep[1:] = ~(space[1:] & space[:-1])
    return points[keep]


Grams = tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]
"""(text number, feature column) of every n-gram of one family (characters or words)."""


def family_grams(
    texts: Sequence[str], params: FeatureParams
) -> Iterator[tuple[int, int, Grams, Grams]]:
    """(first text, number of texts, character n-grams, word n-grams), in chunks of about
    `_CHUNK_CHARS` characters so that memory stays bounded whatever the batch."""
    first = 0
    while first < len(texts):
        last, chars = first, 0
        while last < len(texts) and (last == first or chars < _CHUNK_CHARS):
            chars += min(len(texts[last]), params.max_chars)
            last += 1
        points = normalised_code_points(texts[first:last], params.max_chars)
        char_text, char_column, word_text, word_column = grams(
            points, params.char_min, params.char_max, params.word_max, params.bits
        )
        yield first, last - first, (char_text, char_column), (word_text, word_column)
        first = last


def hashed_features(
    texts: Sequence[str], params: FeatureParams
) -> Iterator[tuple[int, int, npt.NDArray[np.int64], npt.NDArray[np.intp], FloatArray]]:
    """(first text, number of texts, row, column, value) of the feature matrix, in chunks.

    A text's value for a feature is how often the n-gram occurs divided by the square root of
    its number of n-grams of that family (characters or words), so length counts little.
    """
    for first, count, *families in family_grams(texts, params):
        rows = [text for text, _ in families]
        columns = [column for _, column in families]
        values = [family_scale(text, count)[text] for text, _ in families]
        yield first, count, np.concatenate(rows), np.concatenate(columns), np.concatenate(values)


def family_scale(text: npt.NDArray[np.int64], count: int) -> FloatArray:
    """Per text of `count`: 1 / sqrt(its number of n-grams of one family; `text` holds the
    text number of each)."""
    totals = np.bincount(text, minlength=count)
    return np.asarray(1.0 / np.sqrt(np.maximum(totals, 1.0)), dtype=np.float64)


def feature_matrix(texts: Sequence[str], params: FeatureParams) -> Any:
    """The texts' features as a scipy CSR matrix (for training; prediction needs no matrix)."""
    from scipy import sparse

    blocks = [
        sparse.csr_matrix((value, (row, column)), shape=(count, 1 << params.bits))
        for _, count, row, column, value in hashed_features(texts, params)
    ]
    if not blocks:
        return sparse.csr_matrix((0, 1 << params.bits))
    return sparse.vstack(blocks, format="csr")
