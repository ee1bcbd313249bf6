"""The propaganda text classifier: a linear model over hashed n-gram features, applied with
numpy alone and saved in a pickle-free file; `train` (in `classifier_training`) makes one.

The file format, the features and how to train on your own data are in docs/model.md.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from undertow.enrich.ngram_kernel import weighted_sums
from undertow.enrich.text_features import (
    NORMALISATION,
    FeatureParams,
    FloatArray,
    ModelError,
    family_grams,
    family_scale,
)

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Calibration",
    "ModelError",
    "TextModel",
    "default_model",
]

FORMAT_NAME = "undertow-text-model"
FORMAT_VERSION = 1
DEFAULT_MODEL = "models/default.utm"
_MAX_JSON_BYTES = 4 * 1024 * 1024


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
        self.out_of_fold: FloatArray | None = None
        """On a model just trained: the calibrated out-of-fold probability of each training
        row (what the model says of texts it has not seen); None on a loaded model."""

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
            for text, column in families:
                weighted = weighted_sums(text, column, self._weights, count)
                scores[first : first + count] += weighted * family_scale(text, count)
        return scores

    def score_features(self, matrix: Any) -> FloatArray:
        """`decision_function` of texts already made into a `feature_matrix` (training)."""
        return np.asarray(matrix @ self._weights + self._bias, dtype=np.float64)

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
