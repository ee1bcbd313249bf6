"""Training and evaluating the text classifier: a logistic regression on hashed n-gram features,
Platt calibration and a threshold chosen on grouped out-of-fold predictions (docs/model.md).
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from undertow.enrich.classifier import Calibration, ModelError, TextModel
from undertow.enrich.text_features import FeatureParams, FloatArray, feature_matrix

ALL_NEGATIVES = "*"
"""Key of `max_fpr` that stands for every negative row, whatever its subset."""


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
    training_data = {
        "rows": len(y),
        "positives": int(y.sum()),
        "negatives": int((~y).sum()),
        "groups": None if groups is None else len(set(groups)),
        "sha256": data_digest(texts, y),
        **(dict(source) if source else {}),
    }
    g, s = _array(groups, len(y)), _array(subsets, len(y))
    return fit_matrix(matrix, y, g, s, opts, training_data=training_data)


def fit_matrix(
    matrix: Any,
    y: npt.NDArray[np.bool_],
    groups: npt.NDArray[np.str_] | None,
    subsets: npt.NDArray[np.str_] | None,
    opts: TrainOptions,
    *,
    training_data: Mapping[str, Any] | None = None,
) -> TextModel:
    """`train` on an already computed feature matrix (cross-validation reuses one matrix);
    `training_data` describes the rows in the model's metadata."""
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
    if training_data is not None:
        metadata["training_data"] = dict(training_data)
    model = TextModel(coef.astype(np.float32), bias, opts.params, calibration, metadata)
    model.out_of_fold = probabilities
    return model


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
        probabilities[test] = model.calibration.apply(model.score_features(matrix[test]))
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
