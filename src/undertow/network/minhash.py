"""MinHash signatures of message texts and the LSH band segments that index them, all
computed for whole batches with NumPy.

Texts are cleaned so that a copy mirror's cosmetic edits (emoji, added hashtags, case,
spacing, homoglyphs, links) vanish; the clean text is cut into shingles of `shingle` words
(or characters); each shingle gets a fixed 64-bit hash (never Python's salted `hash()`), and
`num_perm` affine permutations of those hashes give the signature.  Equal parameters give
equal signatures on every machine and in every process.  The band segments that index
signatures are in `lsh_segment.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from undertow.enrich.normalise import matching_form

HASHING_VERSION = 3  # bump when cleaning or hashing changes: old signatures stop comparing
EMPTY = np.uint32(0xFFFFFFFF)  # every value of a text that has no signature

U32 = np.ndarray[Any, np.dtype[np.uint32]]
U64 = np.ndarray[Any, np.dtype[np.uint64]]
I64 = np.ndarray[Any, np.dtype[np.int64]]
U16 = np.ndarray[Any, np.dtype[np.uint16]]
F32 = np.ndarray[Any, np.dtype[np.float32]]

_URL = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}/\S*", re.IGNORECASE
)
_HASHTAG = re.compile(r"#\w+")
_NOT_WORD = re.compile(r"[\W_]+")  # punctuation, symbols, emoji and runs of whitespace
_WORD = re.compile(r"[^\W_]")
_ELLIPSES = ("...", "\u2026")

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ODD = np.uint64(0xD6E8FEB86659FD93)
_CHUNK_CHARS = 1 << 22  # texts are hashed in chunks of about this many characters


def clean_text(raw: str, max_chars: int = 20_000) -> str:
    """The text a signature is built from: the matching form (case, homoglyphs, invisible
    characters and spaced-out letters folded) without links, hashtags, emoji, punctuation
    or repeated spaces.  Only the first `max_chars` characters count (bounds hostile input)."""
    text = matching_form(raw[:max_chars])
    if "/" in text or "www." in text:  # every link form has one; the regex is costly
        text = _URL.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub(" ", text)
    return _NOT_WORD.sub(" ", text).strip()


def signed_text(
    raw: str, max_chars: int = 20_000, min_chars: int = 30, cleaned: str | None = None
) -> str:
    """The clean text a signature is built from: `clean_text`, except that a truncated copy
    (a line cut by an ellipsis) is signed by the cut line up to the ellipsis, the part of the
    original it kept.  Signature lines, hashtags or a sentence a re-poster puts around the cut
    text would otherwise outweigh it in a short post, and no similarity threshold could tell
    the copy from chance (see docs/decisions.md).  A kept part under `min_chars` clean
    characters is no evidence; the whole text is signed then.  `cleaned`: `clean_text(raw,
    max_chars)` where the caller has it already."""
    raw = raw[:max_chars]
    if "..." in raw or "\u2026" in raw:
        head = _cut_line(raw)
        if head is not None and len(head := clean_text(head)) >= min_chars:
            return head
    return clean_text(raw, max_chars) if cleaned is None else cleaned


def _cut_line(raw: str) -> str | None:
    """The first line that ends in an ellipsis (hashtags, emoji or punctuation may follow),
    up to the ellipsis; None if no line does."""
    for line in raw.split("\n"):
        if "..." not in line and "\u2026" not in line:
            continue
        words = line.split()
        while words and (words[-1].startswith("#") or not _WORD.search(words[-1])):
            words.pop()
        if words and words[-1].endswith(_ELLIPSES):
            return " ".join(words).rstrip(".\u2026")
    return None


def fmix64(values: U64) -> U64:
    """MurmurHash3's 64-bit finaliser: a fixed bijection that spreads every input bit."""
    values = values ^ (values >> np.uint64(33))
    values = values * _M1
    values = values ^ (values >> np.uint64(33))
    values = values * _M2
    return values ^ (values >> np.uint64(33))


def _splitmix64(seed: int, count: int) -> list[int]:
    """`count` pseudo-random 64-bit integers from `seed` (pure Python, so never changes)."""
    mask, state, out = (1 << 64) - 1, seed & ((1 << 64) - 1), []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


@dataclass(frozen=True, slots=True)
class Signatures:
    """Signatures of a batch of texts: `values` (n, num_perm) uint32 and `sizes` (n,), the
    number of distinct shingles (0: no signature, the text was too short); `family` names
    the hasher so that signatures of different hashers are never compared."""

    values: U32
    sizes: U32
    family: str

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def has_signature(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return self.sizes > 0

    def take(self, rows: Any) -> Signatures:
        """The signatures of `rows` (indices or a boolean mask)."""
        return Signatures(self.values[rows], self.sizes[rows], self.family)


class MinHasher:
    """Batch MinHash over word or character shingles of cleaned text.

    Word shingles are the default: measured on the simulator, 3-word shingles separate copies
    from unrelated posts of the same vocabulary far better than character shingles (fewer
    chance candidates at equal recall on truncated copies), and a text has ~5x fewer of them
    to hash.  Character shingles remain for scripts written without spaces.
    """

    def __init__(
        self,
        num_perm: int = 64,
        shingle: int = 3,
        seed: int = 1,
        *,
        unit: Literal["word", "char"] = "word",
        min_chars: int = 30,
        max_chars: int = 20_000,
    ) -> None:
        if not 1 <= num_perm <= 1024:
            raise ValueError(f"num_perm must be in 1..1024, not {num_perm}")
        if not 1 <= shingle <= 64:
            raise ValueError(f"shingle must be in 1..64, not {shingle}")
        if unit not in ("word", "char"):
            raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
        if min_chars < 1 or max_chars < min_chars:
            raise ValueError("need 1 <= min_chars <= max_chars")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, not {seed}")
        self.num_perm, self.shingle, self.seed, self.unit = num_perm, shingle, seed, unit
        self.min_chars, self.max_chars = min_chars, max_chars
        draws = _splitmix64(seed, 2 * num_perm)
        # Multiply-add-shift, h -> (a*h + b mod 2^64) >> 32 with random 64-bit a (odd) and b:
        # strongly universal for 32-bit h (Dietzfelbinger 1996).  The plain affine map mod
        # 2^32 used before ordered shingles alike across permutations and lost recall.
        self._a = np.array([d | 1 for d in draws[:num_perm]], dtype=np.uint64)
        self._b = np.array(draws[num_perm:], dtype=np.uint64)

    @property
    def family(self) -> str:
        """Everything that decides a signature; signatures compare only within a family."""
        return (
            f"minhash-v{HASHING_VERSION}:{self.unit}{self.shingle}:p{self.num_perm}:"
            f"s{self.seed}:min{self.min_chars}:max{self.max_chars}"
        )

    def clean(self, text: str, cleaned: str | None = None) -> str:
        """The form of `text` that is signed (`signed_text`)."""
        return signed_text(text, self.max_chars, self.min_chars, cleaned)

    def signatures(self, texts: Sequence[str]) -> Signatures:
        """Signatures of `texts`; texts shorter than `min_chars` once cleaned get none
        (all values EMPTY, size 0): too short to call one a copy of another."""
        cleaned = [self.clean(text if isinstance(text, str) else "") for text in texts]
        return self.signatures_of_clean(cleaned)

    def signatures_of_clean(self, cleaned: Sequence[str]) -> Signatures:
        """Signatures of texts that are already `clean()`ed."""
        cleaned = [" ".join(text.split()) for text in cleaned]  # one space between words
        n = len(cleaned)
        values = np.full((n, self.num_perm), EMPTY, dtype=np.uint32)
        sizes = np.zeros(n, dtype=np.uint32)
        lengths = np.fromiter(map(len, cleaned), dtype=np.int64, count=n)
        rows = np.flatnonzero(lengths >= self.min_chars)
        # Chunks of about _CHUNK_CHARS characters bound the per-character arrays.
        chunk_of = np.cumsum(lengths[rows] + 1) // _CHUNK_CHARS
        for chunk in np.split(rows, np.flatnonzero(np.diff(chunk_of)) + 1):
            if len(chunk):
                values[chunk], sizes[chunk] = self._minhash([cleaned[i] for i in chunk])
        return Signatures(values, sizes, self.family)

    def _minhash(self, texts: list[str]) -> tuple[U32, U32]:
        hashes, owner = self._shingle_hashes(texts)
        ends = np.cumsum(np.bincount(owner, minlength=len(texts)))
        offsets = ends - np.bincount(owner, minlength=len(texts))
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        wide = hashes.astype(np.uint64)
        block = max(1, (1 << 16) // self.num_perm)  # shingles per block: ~512 KiB of products
        buffer = np.empty((block, self.num_perm), dtype=np.uint64)
        first = 0
        while first < len(texts):
            # Whole texts per block, so a text's minimum is one reduceat over its rows.
            lo = int(offsets[first])
            last = max(int(np.searchsorted(ends, lo + block, side="right")), first + 1)
            hi = int(ends[last - 1])
            part = buffer if hi - lo <= block else np.empty((hi - lo, self.num_perm), np.uint64)
            products = part[: hi - lo]
            np.multiply(wide[lo:hi, None], self._a[None, :], out=products)
            np.add(products, self._b[None, :], out=products)
            # The shift keeps order, so it is applied to the minima only.
            lowest = np.minimum.reduceat(products, offsets[first:last] - lo, axis=0)
            out[first:last] = lowest >> np.uint64(32)
            first = last
        # Distinct shingles per text, for estimating containment later.
        keyed = np.sort((owner.astype(np.uint64) << np.uint64(32)) | hashes.astype(np.uint64))
        fresh = np.ones(len(keyed), dtype=bool)
        fresh[1:] = keyed[1:] != keyed[:-1]
        distinct = np.bincount(
            (keyed[fresh] >> np.uint64(32)).astype(np.int64), minlength=len(texts)
        )
        return out, distinct.astype(np.uint32)

    def _shingle_hashes(self, texts: list[str]) -> tuple[U32, I64]:
        """32-bit hashes of every shingle of `texts` (all non-empty, clean) and the index of
        the text each belongs to, in text order."""
        joined = "\n".join(texts)  # clean text has no newlines, so "\n" marks text ends
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        mixed = fmix64(points.astype(np.uint64) + _GOLDEN)
        ends = np.flatnonzero(points == 10)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        if self.unit == "char":
            tokens = mixed
            token_start = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
            token_count = lengths
        else:
            tokens, token_start, token_count = _word_tokens(points, mixed, ends, len(texts))
        return _ngram_hashes(tokens, token_start, token_count, self.shingle)


def _word_tokens(points: U32, mixed: U64, ends: I64, texts: int) -> tuple[U64, I64, I64]:
    """A hash per word (position-weighted sum of its characters) and each text's words."""
    separators = np.flatnonzero((points == 32) | (points == 10))
    starts = np.concatenate(([0], separators + 1))
    lengths = np.concatenate((separators, [len(points)])) - starts
    position = (
        np.arange(len(points), dtype=np.int64) - np.repeat(starts, lengths + 1)[: len(points)]
    )
    powers = np.ones(int(lengths.max()) + 1, dtype=np.uint64)
    if len(powers) > 1:
        powers[1:] = _ODD
        powers = np.multiply.accumulate(powers)
    weighted = mixed * powers[position]
    weighted[separators] = 0
    words = fmix64(np.add.reduceat(weighted, starts) + lengths.astype(np.uint64))
    text_of_word = np.searchsorted(ends, starts)
    count = np.bincount(text_of_word, minlength=texts).astype(np.int64)
    return words, np.concatenate(([0], np.cumsum(count)[:-1])), count


def _ngram_hashes(tokens: U64, start: I64, count: I64, size: int) -> tuple[U32, I64]:
    """Hashes of every run of `size` consecutive tokens within a text (a text with fewer
    tokens gives one shingle of all of them), with the owning text of each."""
    shingles = np.maximum(count - size + 1, 1)
    owner = np.repeat(np.arange(len(count)), shingles)
    first = np.concatenate(([0], np.cumsum(shingles)[:-1]))
    begin = np.repeat(start, shingles) + (
        np.arange(int(shingles.sum())) - np.repeat(first, shingles)
    )
    end = np.repeat(start + count, shingles)
    hashed = tokens[begin].copy()
    for offset in range(1, size):
        at = begin + offset
        inside = at < end
        hashed = hashed * _ODD + np.where(inside, tokens[np.minimum(at, len(tokens) - 1)], 0)
    return (fmix64(hashed) >> np.uint64(32)).astype(np.uint32), owner


def band_keys(values: U32, bands: int, rows: int) -> U64:
    """(n, bands) uint64 keys: a hash of each band's `rows` values, salted by band number."""
    n = len(values)
    parts = values[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    keys = np.broadcast_to(fmix64(np.arange(1, bands + 1, dtype=np.uint64)), (n, bands))
    for column in range(rows):
        keys = keys * _ODD + parts[:, :, column]
    return fmix64(keys)
