"""The compiled n-gram kernel gives exactly the columns of the NumPy formulation of the
feature hashing (docs/model.md), which is kept here as the reference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from undertow.enrich.ngram_kernel import grams
from undertow.enrich.text_features import FeatureParams, normalised_code_points

_U64 = np.uint64
_MOD = 1 << 64
_BASE = 0x100000001B3
_BASE_INVERSE = pow(_BASE, -1, _MOD)
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1, _MIX2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53
_WORD_SALT, _BIGRAM_SALT = 0x51ED270B27D4A3C5, 0x2545F4914F6CDD1D
_SENTINEL, _SPACE = 0, 32


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser, so that every output bit depends on every input bit."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(_MIX1)
    h = h ^ (h >> _U64(33))
    h = h * _U64(_MIX2)
    return h ^ (h >> _U64(33))


def _ngram_hashes(
    points: npt.NDArray[np.uint32], params: FeatureParams
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], int]]:
    """(text number, 64-bit hash, family) of every n-gram; family 0 = characters, 1 = words.

    A substring's polynomial hash sum(c_j * B^(end-1-j)) mod 2^64 comes from prefix sums of
    c_j * B^-j (B is odd, hence invertible mod 2^64), so all substrings hash at once.
    """
    size = points.size
    sentinel = points == _SENTINEL
    space = points == _SPACE
    text = np.cumsum(sentinel) - 1
    codes = points.astype(np.uint64) + _U64(1)
    powers = np.full(size, _BASE, dtype=np.uint64)
    powers[0] = 1
    powers = np.cumprod(powers)
    inverse = np.full(size, _BASE_INVERSE, dtype=np.uint64)
    inverse[0] = 1
    prefix = np.zeros(size + 1, dtype=np.uint64)
    prefix[1:] = np.cumsum(codes * np.cumprod(inverse))

    def substring(start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]) -> Any:
        return powers[end - 1] * (prefix[end] - prefix[start])

    sentinels = np.concatenate(([0], np.cumsum(sentinel)))
    spaces = np.concatenate(([0], np.cumsum(space)))
    for n in range(params.char_min, params.char_max + 1):
        start = np.arange(max(size - n + 1, 0), dtype=np.int64)
        # Within one text, and spaces only at the ends: n-grams stay inside a word.
        inside = sentinels[start + n] == sentinels[start]
        if n > 2:
            inside &= spaces[start + n - 1] == spaces[start + 1]
        start = start[inside]
        salt = _U64((n * _GOLDEN) % _MOD)
        yield text[start], _mix(substring(start, start + n) + salt), 0
    if params.word_max == 0:
        return
    is_word = ~(sentinel | space)
    before = np.concatenate(([False], is_word[:-1]))
    after = np.concatenate((is_word[1:], [False]))
    starts = np.flatnonzero(is_word & ~before)
    ends = np.flatnonzero(is_word & ~after) + 1
    words = _mix(substring(starts, ends))
    word_text = text[starts]
    yield word_text, _mix(words + _U64(_WORD_SALT)), 1
    gram = words
    for n in range(2, params.word_max + 1):
        same = word_text[n - 1 :] == word_text[: len(word_text) - n + 1]
        gram = _mix(gram[:-1] * _U64(_MIX1) + words[n - 1 :] + _U64(_BIGRAM_SALT * n % _MOD))
        yield word_text[: len(same)][same], gram[same], 1


def _reference(points: Any, params: FeatureParams) -> list[list[tuple[int, int]]]:
    shift = _U64(64 - params.bits)
    out: list[list[tuple[int, int]]] = [[], []]
    for text, hashes, family in _ngram_hashes(points, params):
        out[family] += zip(text.tolist(), (hashes >> shift).astype(np.intp).tolist(), strict=True)
    return out


TEXTS = [
    "",
    "a",
    "Amaq Agency reports: the weekly bulletin",
    "   spaced   out   words   ",
    "وكالة أعماق الإخبارية #الدولة_الإسلامية",
    "N.a.s.h.i.r n4sh1r 🔴📢 emoji",
    "x" * 300,
    "one\ntwo\tthree",
    "日本語のテキスト and Ελληνικά",
]


@pytest.mark.parametrize(
    "params",
    [
        FeatureParams(),
        FeatureParams(char_min=2, char_max=5, word_max=2, bits=18),
        FeatureParams(char_min=3, char_max=8, word_max=3, bits=24),
        FeatureParams(char_min=2, char_max=2, word_max=0, bits=10),
    ],
)
def test_the_kernel_gives_the_reference_columns(params: FeatureParams) -> None:
    points = normalised_code_points(TEXTS, params.max_chars)
    char_text, char_column, word_text, word_column = grams(
        points, params.char_min, params.char_max, params.word_max, params.bits
    )
    chars, words = _reference(points, params)
    assert sorted(zip(char_text.tolist(), char_column.tolist(), strict=True)) == sorted(chars)
    assert sorted(zip(word_text.tolist(), word_column.tolist(), strict=True)) == sorted(words)
    assert len(chars) > 100 and (params.word_max == 0 or len(words) > 20)


def test_an_empty_batch_has_no_grams() -> None:
    points = normalised_code_points([], 100)
    assert all(part.size == 0 for part in grams(points, 2, 5, 2, 20))
