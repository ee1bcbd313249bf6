"""A multilingual propaganda text classifier: hashed character and word n-grams with a linear
model, trained with scikit-learn and applied with numpy alone from a pickle-free file.

The file format, the features and how to train on your own data are in docs/model.md.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
import time
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from undertow.enrich.normalise import _ARABIC_LETTERS, _ARABIC_MARKS, _HOMOGLYPHS, _INVISIBLE

FORMAT_NAME = "undertow-text-model"
FORMAT_VERSION = 1
NORMALISATION = "undertow-light-1"
DEFAULT_MODEL = "models/default.utm"
ALL_NEGATIVES = "*"
"""Key of `max_fpr` that stands for every negative row, whatever its subset."""

FloatArray = npt.NDArray[np.float64]
_MAX_JSON_BYTES = 4 * 1024 * 1024
_MAX_BITS = 24
_U64 = np.uint64
_MOD = 1 << 64
_BASE = 0x100000001B3
_BASE_INVERSE = pow(_BASE, -1, _MOD)
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1, _MIX2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53
_WORD_SALT, _BIGRAM_SALT = 0x51ED270B27D4A3C5, 0x2545F4914F6CDD1D
_CHUNK_CHARS = 1 << 20
_SENTINEL, _SPACE = 0, 32


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


# --- text to features ----------------------------------------------------------------------

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


Grams = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]]
"""(text number, feature column) arrays of one feature family, one pair per n-gram size."""


def family_grams(
    texts: Sequence[str], params: FeatureParams
) -> Iterator[tuple[int, int, Grams, Grams]]:
    """(first text, number of texts, character n-grams, word n-grams), in chunks of about
    `_CHUNK_CHARS` characters so that memory stays bounded whatever the batch."""
    shift = _U64(64 - params.bits)
    first = 0
    while first < len(texts):
        last, chars = first, 0
        while last < len(texts) and (last == first or chars < _CHUNK_CHARS):
            chars += min(len(texts[last]), params.max_chars)
            last += 1
        families: tuple[Grams, Grams] = ([], [])
        points = normalised_code_points(texts[first:last], params.max_chars)
        for text, hashes, family in _ngram_hashes(points, params):
            families[family].append((text, (hashes >> shift).astype(np.intp)))
        yield first, last - first, *families
        first = last


def hashed_features(
    texts: Sequence[str], params: FeatureParams
) -> Iterator[tuple[int, int, npt.NDArray[np.int64], npt.NDArray[np.intp], FloatArray]]:
    """(first text, number of texts, row, column, value) of the feature matrix, in chunks.

    A text's value for a feature is how often the n-gram occurs divided by the square root of
    its number of n-grams of that family (characters or words), so length counts little.
    """
    for first, count, *families in family_grams(texts, params):
        rows, columns, values = [], [], []
        for parts in families:
            if parts:
                row = np.concatenate([text for text, _ in parts])
                rows.append(row)
                columns.append(np.concatenate([column for _, column in parts]))
                values.append(_family_scale(parts, count)[row])
        yield first, count, np.concatenate(rows), np.concatenate(columns), np.concatenate(values)


def _family_scale(parts: Grams, count: int) -> FloatArray:
    totals = sum((np.bincount(text, minlength=count) for text, _ in parts), np.zeros(count))
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


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt scaling: probability = 1 / (1 + exp(-(slope * score + intercept)))."""

    slope: float = 1.0
    intercept: float = 0.0

    def apply(self, scores: FloatArray) -> FloatArray:
        z = np.clip(self.slope * scores + self.intercept, -500.0, 500.0)
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


class TextModel:
    """A trained classifier: `predict_proba(texts)` gives calibrated probabilities of the
    positive (propaganda) class; `threshold` is the decision threshold chosen in training."""

    def __init__(
        self,
        weights: npt.NDArray[np.float32],
        bias: float,
        params: FeatureParams,
        calibration: Calibration,
        metadata: Mapping[str, Any],
    ) -> None:
        if weights.shape != (1 << params.bits,):
            raise ModelError(f"weights have shape {weights.shape}, expected ({1 << params.bits},)")
        self._weights = weights
        self._bias = float(bias)
        self.params = params
        self.calibration = calibration
        self._metadata = dict(metadata)

    @property
    def metadata(self) -> dict[str, Any]:
        """Everything model.json holds (a copy)."""
        metadata = {
            **self._metadata,
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "features": asdict(self.params) | {"normalisation": NORMALISATION},
            "bias": self._bias,
            "calibration": {"method": "platt", **asdict(self.calibration)},
        }
        return json.loads(json.dumps(metadata))  # type: ignore[no-any-return]

    @property
    def threshold(self) -> float:
        return float(self._metadata["threshold"]["value"])

    @property
    def labels(self) -> tuple[str, str]:
        negative, positive = self._metadata["labels"]
        return str(negative), str(positive)

    def decision_function(self, texts: Sequence[str]) -> FloatArray:
        """The linear score (log-odds before calibration) of each text."""
        scores = np.full(len(texts), self._bias, dtype=np.float64)
        # The same sum as the feature matrix times the weights, without building the matrix.
        for first, count, *families in family_grams(texts, self.params):
            for parts in families:
                if parts:
                    weighted = sum(
                        (np.bincount(t, self._weights[c], minlength=count) for t, c in parts),
                        np.zeros(count),
                    )
                    scores[first : first + count] += weighted * _family_scale(parts, count)
        return scores

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """Calibrated probability that each text belongs to the positive class."""
        return self.calibration.apply(self.decision_function(texts))

    def predict(self, texts: Sequence[str]) -> npt.NDArray[np.bool_]:
        return self.predict_proba(texts) >= self.threshold

    def save(self, path: Path | str) -> Path:
        """Write the model as a zip of model.json and two .npy arrays (docs/model.md)."""
        path = Path(path)
        nonzero = np.flatnonzero(self._weights).astype(np.uint32)
        members = {
            "model.json": (json.dumps(self.metadata, indent=2, sort_keys=True) + "\n").encode(),
            "weight_index.npy": _npy(nonzero),
            "weight_value.npy": _npy(self._weights[nonzero]),
        }
        tmp = path.with_name(path.name + ".tmp")
        try:
            with zipfile.ZipFile(tmp, "w") as archive:
                for name, content in members.items():
                    # A fixed date keeps the bytes reproducible: only "created" varies.
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    archive.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: Path | str) -> TextModel:
        """Read a saved model; `ModelError` naming the file for anything wrong with it."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                metadata = _read_metadata(archive)
                _check_version(metadata)
                params = FeatureParams.from_json(metadata.get("features", {}))
                index = _read_array(archive, "weight_index.npy", np.uint32, params.bits)
                value = _read_array(archive, "weight_value.npy", np.float32, params.bits)
            if index.shape != value.shape or (index.size and int(index.max()) >> params.bits):
                raise ModelError("weight_index.npy does not match weight_value.npy or the bits")
            if not np.isfinite(value).all():
                raise ModelError("weight_value.npy holds values that are not finite")
            weights = np.zeros(1 << params.bits, dtype=np.float32)
            weights[index] = value
            calibration = metadata.get("calibration", {})
            model = cls(
                weights,
                float(metadata["bias"]),
                params,
                Calibration(float(calibration["slope"]), float(calibration["intercept"])),
                metadata,
            )
            numbers = (model._bias, *asdict(model.calibration).values(), model.threshold)
            if not all(math.isfinite(number) for number in numbers):
                raise ModelError("bias, calibration or threshold is not a finite number")
            model.labels  # noqa: B018  (fails early on missing labels)
        except ModelError as exc:
            raise ModelError(f"{path}: {exc}") from exc
        except FileNotFoundError:
            raise ModelError(f"{path}: no such model file") from None
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelError(f"{path}: not a readable Undertow model file: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: model.json is missing or has a bad field: {exc}") from exc
        return model


def _npy(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _read_metadata(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = archive.getinfo("model.json")
    except KeyError:
        raise ModelError("model.json is missing: not an Undertow model file") from None
    if info.file_size > _MAX_JSON_BYTES:
        raise ModelError(f"model.json is {info.file_size} bytes, more than a model file holds")
    try:
        metadata = json.loads(archive.read(info).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model.json is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelError("model.json is not a JSON object")
    return metadata


def _check_version(metadata: Mapping[str, Any]) -> None:
    if metadata.get("format") != FORMAT_NAME:
        raise ModelError(f"format is {metadata.get('format')!r}, not {FORMAT_NAME!r}")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"model format version {version!r} is not supported: this Undertow reads version "
            f"{FORMAT_VERSION} (retrain the model, or upgrade Undertow if it is newer)"
        )
    features = metadata.get("features")
    normalisation = features.get("normalisation") if isinstance(features, dict) else None
    if normalisation != NORMALISATION:
        raise ModelError(f"text normalisation {normalisation!r} is not {NORMALISATION!r}")


def _read_array(
    archive: zipfile.ZipFile, name: str, dtype: type[np.generic], bits: int
) -> npt.NDArray[Any]:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelError(f"{name} is missing") from None
    if info.file_size > 256 + 4 * (1 << bits):
        raise ModelError(f"{name} is larger than {1 << bits} weights can be")
    try:
        array = np.load(io.BytesIO(archive.read(info)), allow_pickle=False)
    except ValueError as exc:
        raise ModelError(f"{name} is not a plain .npy array: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
        raise ModelError(f"{name} must be a one-dimensional {np.dtype(dtype).name} array")
    return array


@cache
def default_model() -> TextModel:
    """The model shipped with Undertow, trained on synthetic simulator text (docs/model.md)."""
    resource = resources.files("undertow").joinpath(DEFAULT_MODEL)
    with resources.as_file(resource) as path:
        return TextModel.load(path)


# --- training ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """Everything `train` can be told besides the data; recorded in the model's metadata."""

    params: FeatureParams = field(default_factory=FeatureParams)
    c: float = 4.0
    """Inverse L2 regularisation strength of the logistic regression."""
    calibration_folds: int = 5
    """Grouped folds whose out-of-fold scores fit the calibration and choose the threshold."""
    subset_weights: Mapping[str, float] = field(default_factory=dict)
    """Extra weight for the rows of named subsets (e.g. hard negatives)."""
    max_fpr: Mapping[str, float] = field(default_factory=dict)
    """Largest false-positive rate per negative subset ("*" = all negatives); empty: the
    threshold maximises F1 instead."""
    label_names: tuple[str, str] = ("other", "propaganda")
    """Names of the negative and positive class."""
    seed: int = 0


def train(
    texts: Sequence[str],
    labels: Sequence[bool] | npt.NDArray[np.bool_],
    *,
    groups: Sequence[str] | None = None,
    subsets: Sequence[str] | None = None,
    source: Mapping[str, Any] | None = None,
    **options: Any,
) -> TextModel:
    """Train a model. `groups` (author, event, article, ...) keep related rows in one fold;
    `subsets` name each row's sub-population (for `subset_weights`, `max_fpr` and per-subset
    false-positive rates); `options` are `TrainOptions` fields; `source` describes the data."""
    opts = _options(options)
    y = _check_labels(texts, labels, groups, subsets)
    matrix = feature_matrix(texts, opts.params)
    model = fit_matrix(matrix, y, _array(groups, len(y)), _array(subsets, len(y)), opts)
    metadata = model._metadata
    metadata["training_data"] = {
        "rows": len(y),
        "positives": int(y.sum()),
        "negatives": int((~y).sum()),
        "groups": None if groups is None else len(set(groups)),
        "sha256": data_digest(texts, y),
        **(dict(source) if source else {}),
    }
    return model


def fit_matrix(
    matrix: Any,
    y: npt.NDArray[np.bool_],
    groups: npt.NDArray[np.str_] | None,
    subsets: npt.NDArray[np.str_] | None,
    opts: TrainOptions,
) -> TextModel:
    """`train` on an already computed feature matrix (cross-validation reuses one matrix)."""
    started = time.perf_counter()
    weights = _sample_weights(y, subsets, opts.subset_weights)
    out_of_fold = np.zeros(len(y))
    for test in grouped_folds(y, groups, opts.calibration_folds, opts.seed):
        train_rows = np.setdiff1d(np.arange(len(y)), test)
        coef, bias, _ = _fit_linear(matrix[train_rows], y[train_rows], weights[train_rows], opts)
        out_of_fold[test] = matrix[test] @ coef + bias
    calibration = _fit_platt(out_of_fold, y)
    probabilities = calibration.apply(out_of_fold)
    threshold, rule = choose_threshold(probabilities, y, subsets, opts.max_fpr)
    coef, bias, converged = _fit_linear(matrix, y, weights, opts)
    metadata: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "labels": list(opts.label_names),
        "threshold": {"value": threshold, "rule": rule},
        "training": {
            "algorithm": "logistic regression, L2 (scikit-learn liblinear)",
            "c": opts.c,
            "class_weight": "balanced",
            "subset_weights": dict(opts.subset_weights),
            "folds": opts.calibration_folds,
            "grouped": groups is not None,
            "seed": opts.seed,
            "converged": converged,
            "seconds": round(time.perf_counter() - started, 2),
        },
        "metrics": {
            "estimated_on": f"{opts.calibration_folds}-fold grouped out-of-fold predictions",
            **binary_metrics(y, probabilities, threshold, subsets),
        },
    }
    return TextModel(coef.astype(np.float32), bias, opts.params, calibration, metadata)


def _options(options: Mapping[str, Any]) -> TrainOptions:
    try:
        opts = TrainOptions(**options)
    except TypeError as exc:
        raise ModelError(f"unknown training option: {exc}") from exc
    if not opts.c > 0 or opts.calibration_folds < 2:
        raise ModelError("c must be positive and calibration_folds at least 2")
    for name, rate in opts.max_fpr.items():
        if not 0 <= rate < 1:
            raise ModelError(f"max_fpr for {name!r} must be in [0, 1), not {rate}")
    return opts


def _array(values: Sequence[str] | None, length: int) -> npt.NDArray[np.str_] | None:
    return None if values is None else np.asarray(values, dtype=str).reshape(length)


def _check_labels(
    texts: Sequence[str],
    labels: Sequence[bool] | npt.NDArray[np.bool_],
    groups: Sequence[str] | None,
    subsets: Sequence[str] | None,
) -> npt.NDArray[np.bool_]:
    raw = np.asarray(labels)
    if raw.dtype.kind not in "biu" or not np.isin(raw, (0, 1)).all():
        raise ModelError("labels must be booleans or 0/1")
    y = raw.astype(bool)
    for name, values in (("labels", y), ("groups", groups), ("subsets", subsets)):
        if values is not None and len(values) != len(texts):
            raise ModelError(f"{len(texts)} texts but {len(values)} {name}")
    if y.all() or not y.any():
        raise ModelError("training data needs both positive and negative examples")
    return y


def data_digest(texts: Sequence[str], labels: npt.NDArray[np.bool_]) -> str:
    """SHA-256 of the (label, text) rows in order: the same data gives the same digest
    whatever file format it came in."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(b"1\t" if label else b"0\t")
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _sample_weights(
    y: npt.NDArray[np.bool_], subsets: npt.NDArray[np.str_] | None, extra: Mapping[str, float]
) -> FloatArray:
    """Balanced classes, then the rows of weighted subsets multiplied by their weight."""
    weights: FloatArray = np.where(y, len(y) / (2.0 * y.sum()), len(y) / (2.0 * (~y).sum()))
    if extra and subsets is None:
        raise ModelError("subset weights need a subset for every row")
    for name, factor in extra.items():
        if not factor > 0:
            raise ModelError(f"weight of subset {name!r} must be positive, not {factor}")
        weights[subsets == name] *= factor
    return weights


def _fit_linear(
    matrix: Any, y: npt.NDArray[np.bool_], weights: FloatArray, opts: TrainOptions
) -> tuple[FloatArray, float, bool]:
    from scipy import sparse
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    # liblinear's trust-region Newton method takes a handful of iterations on these features;
    # fitting only the columns that occur saves it from sweeping 2^bits mostly empty ones.
    used = np.flatnonzero(np.bincount(matrix.indices, minlength=matrix.shape[1]))
    position = np.zeros(matrix.shape[1], dtype=np.int64)
    position[used] = np.arange(len(used))
    compact = sparse.csr_matrix(
        (matrix.data, position[matrix.indices], matrix.indptr), shape=(matrix.shape[0], len(used))
    )
    model = LogisticRegression(C=opts.c, solver="liblinear", max_iter=200, random_state=opts.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(compact, y, sample_weight=weights)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    coef = np.zeros(matrix.shape[1])
    coef[used] = model.coef_[0]
    return coef, float(model.intercept_[0]), converged


def _fit_platt(scores: FloatArray, y: npt.NDArray[np.bool_]) -> Calibration:
    """Platt scaling on out-of-fold scores, with Platt's smoothed targets against overfitting."""
    from scipy.optimize import minimize

    positives, negatives = int(y.sum()), int((~y).sum())
    target = np.where(y, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(ab: FloatArray) -> tuple[float, FloatArray]:
        z = ab[0] * scores + ab[1]
        p = 1 / (1 + np.exp(-np.clip(z, -500, 500)))
        value = np.sum(np.logaddexp(0, z) - target * z)
        gradient = p - target
        return float(value), np.array([gradient @ scores, gradient.sum()])

    result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return Calibration(float(result.x[0]), float(result.x[1]))


def grouped_folds(
    y: npt.NDArray[np.bool_], groups: npt.NDArray[np.str_] | None, folds: int, seed: int
) -> list[npt.NDArray[np.int64]]:
    """Test rows of each fold: no group in two folds, classes spread evenly where possible."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        if min(y.sum(), (~y).sum()) < folds:
            raise ModelError(f"{folds} folds need at least {folds} rows of each class")
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        return [test for _, test in splitter.split(np.zeros(len(y)), y)]
    distinct = len(np.unique(groups))
    if distinct < folds:
        raise ModelError(f"{folds} folds need at least {folds} groups, the data has {distinct}")
    splitter_g = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    tests = [test for _, test in splitter_g.split(np.zeros(len(y)), y, groups)]
    for test in tests:
        if y[test].all() or not y[test].any():
            raise ModelError(
                "a fold holds only one class: use fewer folds or more groups of each class"
            )
    return tests


def choose_threshold(
    probabilities: FloatArray,
    y: npt.NDArray[np.bool_],
    subsets: npt.NDArray[np.str_] | None,
    max_fpr: Mapping[str, float],
) -> tuple[float, str]:
    """The lowest threshold meeting every false-positive-rate limit, or the F1-best one."""
    if not max_fpr:
        order = np.argsort(-probabilities, kind="stable")
        hits = np.cumsum(y[order])
        f1 = 2 * hits / (np.arange(1, len(y) + 1) + y.sum())
        best = int(np.argmax(f1))
        return float(probabilities[order[best]]), "maximum F1 on out-of-fold predictions"
    threshold = 0.0
    for name, rate in max_fpr.items():
        if name == ALL_NEGATIVES:
            scores = probabilities[~y]
        elif subsets is None or not (chosen := (subsets == name) & ~y).any():
            raise ModelError(f"max_fpr names subset {name!r}, which has no negative rows")
        else:
            scores = probabilities[chosen]
        allowed = math.floor(rate * len(scores))
        if allowed < len(scores):
            highest = np.sort(scores)[::-1][allowed]
            threshold = max(threshold, float(np.nextafter(highest, np.inf)))
    limits = ", ".join(f"{name} <= {rate:g}" for name, rate in max_fpr.items())
    return threshold, f"lowest threshold with out-of-fold false-positive rate {limits}"


def binary_metrics(
    y: npt.NDArray[np.bool_],
    probabilities: FloatArray,
    threshold: float | FloatArray,
    subsets: npt.NDArray[np.str_] | None = None,
) -> dict[str, Any]:
    """Precision, recall, F1, ROC AUC, false-positive rate, and the FPR of each subset."""
    predicted = probabilities >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    negatives = int((~y).sum())
    metrics: dict[str, Any] = {
        "rows": len(y),
        "positives": int(y.sum()),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "roc_auc": _roc_auc(y, probabilities),
        "fpr": round(fp / negatives, 4) if negatives else None,
    }
    if subsets is not None:
        rates = {}
        for name in sorted(set(subsets[~y].tolist())):
            chosen = (subsets == name) & ~y
            rates[name] = round(float(predicted[chosen].mean()), 4)
        metrics["fpr_by_subset"] = rates
    return metrics


def _roc_auc(y: npt.NDArray[np.bool_], scores: FloatArray) -> float | None:
    """Mann-Whitney U statistic over average ranks (ties count half)."""
    from scipy.stats import rankdata

    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return None
    ranks = rankdata(scores)
    u = ranks[y].sum() - positives * (positives + 1) / 2
    return round(float(u / (positives * negatives)), 4)


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Out-of-fold results: each row was scored by a model trained without its group."""

    probabilities: FloatArray
    fold: npt.NDArray[np.int64]
    thresholds: list[float]
    per_fold: list[dict[str, Any]]
    pooled: dict[str, Any]


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[bool] | npt.NDArray[np.bool_],
    *,
    groups: Sequence[str] | None = None,
    subsets: Sequence[str] | None = None,
    folds: int = 5,
    on_fold: Callable[[int], None] | None = None,
    **options: Any,
) -> CrossValidation:
    """Grouped cross-validation of `train`: each fold's model chooses its threshold on its own
    training rows (inner folds) and never sees the test fold's groups."""
    opts = _options(options)
    y = _check_labels(texts, labels, groups, subsets)
    g, s = _array(groups, len(y)), _array(subsets, len(y))
    matrix = feature_matrix(texts, opts.params)
    probabilities = np.zeros(len(y))
    fold_of = np.zeros(len(y), dtype=np.int64)
    thresholds: list[float] = []
    per_fold: list[dict[str, Any]] = []
    for number, test in enumerate(grouped_folds(y, g, folds, opts.seed)):
        rows = np.setdiff1d(np.arange(len(y)), test)
        model = fit_matrix(
            matrix[rows],
            y[rows],
            None if g is None else g[rows],
            None if s is None else s[rows],
            opts,
        )
        probabilities[test] = model.calibration.apply(matrix[test] @ model._weights + model._bias)
        fold_of[test] = number
        thresholds.append(model.threshold)
        per_fold.append(
            binary_metrics(
                y[test], probabilities[test], model.threshold, None if s is None else s[test]
            )
            | {"threshold": round(model.threshold, 6)}
        )
        if on_fold is not None:
            on_fold(number)
    pooled = binary_metrics(y, probabilities, np.asarray(thresholds)[fold_of], s)
    return CrossValidation(probabilities, fold_of, thresholds, per_fold, pooled)
