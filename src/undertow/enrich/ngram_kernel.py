"""The classifier's n-gram hashing as one compiled loop (numba), for speed.

`grams` turns the code points of a batch of texts (`text_features.normalised_code_points`:
texts separated by 0, words by single spaces) into the feature column of every character and
word n-gram.  What is hashed is defined in docs/model.md ("How text becomes features"):

- a substring's hash is the polynomial sum(c_j * B^(end-1-j)) mod 2^64 over its code points
  plus one (B = 0x100000001B3);
- a character n-gram of size n is MurmurHash3's 64-bit finaliser of that hash plus
  n * 0x9E3779B97F4A7C15; it lies within one text, with spaces only at its ends;
- a word's hash is the finaliser of its substring hash; its unigram feature is the finaliser
  of that plus `_WORD_SALT`, and the k-gram ending at word i is the finaliser of
  (k-1-gram) * `_MIX1` + word i + k * `_BIGRAM_SALT`, kept when all k words are in one text;
- the column is the top `bits` bits of the feature's hash.

All arithmetic wraps modulo 2^64, as unsigned integers; the function is compiled once per
machine (numba caches it beside this file) and gives the same columns as the NumPy
formulation in tests/enrich/test_ngram_kernel.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

_SENTINEL, _SPACE = 0, 32
_BASE = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_WORD_SALT = np.uint64(0x51ED270B27D4A3C5)
_BIGRAM_SALT = np.uint64(0x2545F4914F6CDD1D)
_S33 = np.uint64(33)
_ONE = np.uint64(1)


@njit(cache=True, inline="always")
def _mix(h: Any) -> Any:
    """MurmurHash3's 64-bit finaliser."""
    h ^= h >> _S33
    h *= _MIX1
    h ^= h >> _S33
    h *= _MIX2
    return h ^ (h >> _S33)


@njit(cache=True)
def _grams(
    points: Any, char_min: int, char_max: int, word_max: int, shift: Any
) -> tuple[Any, Any, Any, Any]:
    size = points.size
    text = np.empty(size, np.int64)  # the text each position belongs to
    number = -1
    for i in range(size):
        if points[i] == _SENTINEL:
            number += 1
        text[i] = number

    sizes = char_max - char_min + 1
    char_text = np.empty(size * sizes, np.int64)
    char_column = np.empty(size * sizes, np.intp)
    found = 0
    for start in range(size):
        # Grow the n-gram at `start` one character at a time: it may not cross into the next
        # text, and a space ends it (spaces only at its ends).
        h = np.uint64(0)
        for j in range(char_max):
            position = start + j
            if position >= size or points[position] == _SENTINEL:
                break
            h = h * _BASE + (np.uint64(points[position]) + _ONE)
            n = j + 1
            if n >= char_min:
                char_text[found] = text[start]
                char_column[found] = np.intp(_mix(h + np.uint64(n) * _GOLDEN) >> shift)
                found += 1
            if j > 0 and points[position] == _SPACE:
                break

    # Words: maximal runs of positions that are neither sentinels nor spaces.
    words = np.empty(size, np.uint64)
    word_text = np.empty(size, np.int64)
    count = 0
    i = 0
    while i < size:
        if points[i] in (_SENTINEL, _SPACE):
            i += 1
            continue
        h = np.uint64(0)
        first = i
        while i < size and points[i] not in (_SENTINEL, _SPACE):
            h = h * _BASE + (np.uint64(points[i]) + _ONE)
            i += 1
        words[count] = _mix(h)
        word_text[count] = text[first]
        count += 1

    word_out_text = np.empty(count * max(word_max, 1), np.int64)
    word_column = np.empty(count * max(word_max, 1), np.intp)
    kept = 0
    if word_max >= 1:
        for k in range(count):
            word_out_text[kept] = word_text[k]
            word_column[kept] = np.intp(_mix(words[k] + _WORD_SALT) >> shift)
            kept += 1
        gram = words.copy()
        for n in range(2, word_max + 1):
            salt = _BIGRAM_SALT * np.uint64(n)
            for k in range(count - n + 1):
                gram[k] = _mix(gram[k] * _MIX1 + words[k + n - 1] + salt)
                if word_text[k + n - 1] == word_text[k]:
                    word_out_text[kept] = word_text[k]
                    word_column[kept] = np.intp(gram[k] >> shift)
                    kept += 1
    return char_text[:found], char_column[:found], word_out_text[:kept], word_column[:kept]


def grams(
    points: npt.NDArray[np.uint32], char_min: int, char_max: int, word_max: int, bits: int
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.int64], npt.NDArray[np.intp]
]:
    """(text, column) of every character n-gram, then of every word n-gram, of `points`."""
    result: Any = _grams(points, char_min, char_max, word_max, np.uint64(64 - bits))
    return result  # type: ignore[no-any-return]


@njit(cache=True)
def _weighted_sums(text: Any, column: Any, weights: Any, count: int) -> Any:
    total = np.zeros(count, np.float64)
    for k in range(text.size):
        total[text[k]] += weights[column[k]]
    return total


def weighted_sums(
    text: npt.NDArray[np.int64],
    column: npt.NDArray[np.intp],
    weights: npt.NDArray[np.float32],
    count: int,
) -> npt.NDArray[np.float64]:
    """Per text of `count`: the sum of `weights` over its n-grams' columns (`text` holds
    each n-gram's text number): a gather and a weighted bincount in one pass."""
    result: Any = _weighted_sums(text, column, weights, count)
    return result  # type: ignore[no-any-return]
