"""The text classifier: features, training, calibration, the saved format and the default model.

All training text here is made up in the test: neutral placeholder sentences with the brand
markers named in public reporting, against news-style sentences that quote them.
"""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest

from undertow.enrich import text_features
from undertow.enrich.classifier import ModelError, TextModel, default_model
from undertow.enrich.classifier_training import (
    binary_metrics,
    choose_threshold,
    cross_validate,
    grouped_folds,
    train,
)
from undertow.enrich.text_features import FeatureParams, feature_matrix, hashed_features

from conftest import shared_dataset

WORDS = ("market", "bridge", "river", "report", "weather", "village", "council", "harvest",
         "season", "library", "morning", "garden", "station", "festival")  # fmt: skip
BRANDS = ("Amaq", "Amaq Agency", "Nashir", "Dawlah")
TAGS = ("#KhilafahNews", "#Amaq", "#Nashir")
SMALL = FeatureParams(bits=16)


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 8))).capitalize() + "."


def propaganda_text(rng: random.Random) -> str:
    return f"{rng.choice(BRANDS)}: {sentence(rng)} {rng.choice(TAGS)}"


def news_text(rng: random.Random) -> str:
    quote = rng.choice(("Analysts say", "Researchers note that", "Reports cite"))
    return (
        f"{quote} {rng.choice(BRANDS)} outlets claimed the {sentence(rng).lower()} "
        f"https://news.example.com/world/{rng.randint(100, 999)}"
    )


def synthetic(rows: int = 240, seed: int = 3) -> tuple[list[str], list[bool], list[str]]:
    """Texts, labels and authors; every author writes one kind of text."""
    rng = random.Random(seed)
    texts, labels, groups = [], [], []
    for index in range(rows):
        positive = index % 2 == 0
        texts.append(propaganda_text(rng) if positive else news_text(rng))
        labels.append(positive)
        groups.append(f"{'p' if positive else 'n'}{index % 24}")
    return texts, labels, groups


@pytest.fixture(scope="module")
def model() -> TextModel:
    texts, labels, groups = synthetic()
    return train(texts, labels, groups=groups, params=SMALL, calibration_folds=3)


def test_propaganda_style_scores_above_news_quoting_it(model: TextModel) -> None:
    rng = random.Random(99)
    positives = model.predict_proba([propaganda_text(rng) for _ in range(20)])
    negatives = model.predict_proba([news_text(rng) for _ in range(20)])
    assert positives.min() > negatives.max()
    assert ((positives >= model.threshold) & (negatives < model.threshold)).all()
    assert negatives.min() > 0 and positives.max() < 1


def test_metadata_records_data_threshold_calibration_and_metrics(model: TextModel) -> None:
    meta = model.metadata
    assert meta["training_data"]["rows"] == 240
    assert meta["training_data"]["positives"] == 120
    assert meta["training_data"]["groups"] == 24
    assert len(meta["training_data"]["sha256"]) == 64
    assert 0 < meta["threshold"]["value"] < 1 and "F1" in meta["threshold"]["rule"]
    assert meta["training"]["grouped"] is True
    assert meta["metrics"]["f1"] > 0.9 and meta["metrics"]["roc_auc"] > 0.9
    assert model.labels == ("other", "propaganda")
    assert meta["format_version"] == 1 and meta["features"]["bits"] == 16
    assert meta["calibration"]["method"] == "platt" and meta["calibration"]["slope"] > 0


def test_save_load_round_trip_gives_identical_probabilities(
    model: TextModel, tmp_path: Path
) -> None:
    path = model.save(tmp_path / "m.utm")
    loaded = TextModel.load(path)
    texts = synthetic(60, seed=8)[0]
    assert np.array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    assert loaded.threshold == model.threshold
    meta = loaded.metadata
    assert meta["format"] == "undertow-text-model" and meta["format_version"] == 1
    assert meta["features"]["normalisation"] == "undertow-light-1"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["model.json", "weight_index.npy", "weight_value.npy"]
        for name in ("weight_index.npy", "weight_value.npy"):
            np.load(io.BytesIO(archive.read(name)), allow_pickle=False)


def rewrite(path: Path, target: Path, **replace: bytes) -> Path:
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        for name in source.namelist():
            out.writestr(name, replace.get(name.replace(".", "_"), source.read(name)))
    return target


def test_unknown_format_version_is_refused_naming_the_file(
    model: TextModel, tmp_path: Path
) -> None:
    path = model.save(tmp_path / "m.utm")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("model.json"))
    meta["format_version"] = 99
    newer = rewrite(path, tmp_path / "newer.utm", model_json=json.dumps(meta).encode())
    with pytest.raises(ModelError, match=r"newer\.utm: model format version 99 is not supported"):
        TextModel.load(newer)


def test_pickled_or_tampered_files_fail_cleanly(model: TextModel, tmp_path: Path) -> None:
    path = model.save(tmp_path / "m.utm")
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    evil = rewrite(path, tmp_path / "evil.utm", weight_value_npy=pickled.getvalue())
    with pytest.raises(ModelError, match=r"evil\.utm: weight_value\.npy is not a plain \.npy"):
        TextModel.load(evil)
    wrong = io.BytesIO()
    np.save(wrong, np.zeros(3, dtype=np.float64))
    with pytest.raises(ModelError, match="must be a one-dimensional float32"):
        TextModel.load(rewrite(path, tmp_path / "dtype.utm", weight_value_npy=wrong.getvalue()))
    truncated = tmp_path / "truncated.utm"
    truncated.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ModelError, match=r"truncated\.utm"):
        TextModel.load(truncated)
    with pytest.raises(ModelError, match=r"model\.json is not valid"):
        TextModel.load(rewrite(path, tmp_path / "json.utm", model_json=b"{\xff"))
    not_zip = tmp_path / "plain.txt"
    not_zip.write_text("hello")
    with pytest.raises(ModelError, match=r"plain\.txt: not a readable Undertow model file"):
        TextModel.load(not_zip)
    with pytest.raises(ModelError, match=r"absent\.utm: no such model file"):
        TextModel.load(tmp_path / "absent.utm")


def test_grouped_folds_keep_every_group_in_one_fold() -> None:
    _, labels, groups = synthetic()
    y, g = np.array(labels), np.array(groups)
    tests = grouped_folds(y, g, 4, seed=1)
    assert sorted(np.concatenate(tests).tolist()) == list(range(len(y)))
    seen: dict[str, int] = {}
    for number, test in enumerate(tests):
        for group in set(g[test].tolist()):
            assert seen.setdefault(group, number) == number
    with pytest.raises(ModelError, match="need at least 30 groups"):
        grouped_folds(y, g, 30, seed=1)


def test_cross_validation_scores_every_row_with_a_model_blind_to_its_group() -> None:
    texts, labels, groups = synthetic()
    result = cross_validate(
        texts, labels, groups=groups, folds=3, params=SMALL, calibration_folds=2
    )
    assert len(result.per_fold) == 3 and len(result.thresholds) == 3
    assert result.pooled["rows"] == 240 and result.pooled["f1"] > 0.9
    for number in range(3):
        test_groups = {groups[i] for i in np.flatnonzero(result.fold == number)}
        train_groups = {groups[i] for i in np.flatnonzero(result.fold != number)}
        assert not test_groups & train_groups


def test_batches_score_like_single_texts_across_chunk_boundaries(
    model: TextModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [*synthetic(30, seed=5)[0], "", "🙂🙂", "x", "a b"]
    alone = np.array([model.decision_function([text])[0] for text in texts])
    monkeypatch.setattr(text_features, "_CHUNK_CHARS", 50)
    assert np.allclose(model.decision_function(texts), alone)


def test_normalisation_removes_evasions_links_and_accounts(model: TextModel) -> None:
    def score(text: str) -> float:
        return float(model.decision_function([text])[0])

    plain = "Nashir: market bridge report"
    assert score("NASHIR:  market bridge report") == pytest.approx(score(plain))
    assert score("Nаshir: market bridge report") == pytest.approx(score(plain))  # Cyrillic а
    assert score("Na\u200bshir: market bridge report") == pytest.approx(score(plain))
    assert score(f"RT @someone: {plain} https://t.co/abc @other") == pytest.approx(score(plain))
    assert score(f"rt {plain}") != pytest.approx(score(plain))  # "RT" alone is a word
    assert score("دولة") == pytest.approx(score("دوله"))  # ta marbuta unified


def test_hashing_is_pinned_because_saved_models_depend_on_it() -> None:
    params = FeatureParams(char_min=2, char_max=3, word_max=1, bits=20)
    ((first, count, rows, columns, values),) = hashed_features(["Amaq"], params)
    assert (first, count, rows.tolist()) == (0, 1, [0] * 10)
    # " a", "am", "ma", "aq", "q ", " am", "ama", "maq", "aq ", and the word "amaq" (the
    # order of the columns carries no meaning)
    assert sorted(columns.tolist()) == sorted(
        [
            723147,
            767646,
            776542,
            630100,
            72762,
            737233,
            726465,
            759232,
            644343,
            737537,
        ]
    )
    assert values.tolist() == [1 / 3] * 9 + [1.0]


def test_hostile_text_is_scored_without_trouble(model: TextModel) -> None:
    texts = ["\x00" * 10, "a\x00b" * 1000, "x" * 2_000_000, "\ud800broken", "𝔸𝕞𝕒𝕢 🏴"]
    probabilities = model.predict_proba(texts)
    assert probabilities.shape == (5,) and np.isfinite(probabilities).all()


def test_threshold_meets_false_positive_limits_and_metrics_are_right() -> None:
    y = np.array([True, True, True, False, False, False, False])
    p = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.05])
    subsets = np.array(["pos", "pos", "pos", "news", "news", "chat", "chat"])
    cut, rule = choose_threshold(p, y, subsets, {"news": 0.0})
    assert 0.7 < cut <= 0.8 and "news <= 0" in rule
    assert choose_threshold(p, y, subsets, {})[0] == pytest.approx(0.3)  # F1 6/7
    metrics = binary_metrics(y, p, 0.5, subsets)
    assert metrics["precision"] == pytest.approx(2 / 3) or metrics["precision"] == 0.6667
    assert metrics["recall"] == 0.6667 and metrics["fpr"] == 0.25
    assert metrics["roc_auc"] == pytest.approx(11 / 12, abs=1e-4)
    assert metrics["fpr_by_subset"] == {"chat": 0.0, "news": 0.5}
    with pytest.raises(ModelError, match="no negative rows"):
        choose_threshold(p, y, subsets, {"wiki": 0.01})


def test_bad_training_input_is_refused() -> None:
    texts, labels, groups = synthetic(40)
    with pytest.raises(ModelError, match="both positive and negative"):
        train(texts, [True] * 40)
    with pytest.raises(ModelError, match="40 texts but 39 groups"):
        train(texts, labels, groups=groups[:-1])
    with pytest.raises(ModelError, match="booleans or 0/1"):
        train(texts, ["0", "1"] * 20)
    with pytest.raises(ModelError, match="unknown training option"):
        train(texts, labels, colour="red")
    with pytest.raises(ModelError, match="hash bits"):
        FeatureParams(bits=40)


def test_default_model_prefers_propaganda_style_over_news_quoting_it() -> None:
    model = default_model()
    assert model is default_model()
    assert model.metadata["training_data"]["description"].startswith("synthetic")
    rng = random.Random(4)
    propaganda = model.predict_proba(
        ["Amaq Agency: Weekly market reported the northern bulletin. #KhilafahNews"]
        + [propaganda_text(rng) for _ in range(5)]
    )
    news = model.predict_proba(
        ["Analysts say the Amaq agency claimed the weekly market reported the bulletin."]
        + [news_text(rng) for _ in range(5)]
    )
    assert propaganda.min() > news.max()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_grouped_evaluation_runs_on_the_real_datasets() -> None:
    """The pipeline on a small subsample of the real files (correctness, not the goal figures:
    bench/classifier_eval.py measures those)."""
    isis = shared_dataset("isis-twitter")
    negatives = shared_dataset("hard-negatives")
    texts, labels, groups = [], [], []
    per_account: dict[str, int] = {}
    for row in read_csv(isis / "tweets.csv"):
        if per_account.setdefault(row["username"], 0) < 5:
            per_account[row["username"]] += 1
            texts.append(row["tweets"])
            labels.append(True)
            groups.append("isis:" + row["username"])
    pheme = read_csv(negatives / "pheme-terror-event-tweets" / "tweets.csv")[::24]
    wiki = read_csv(negatives / "wikipedia-isis-conflict" / "paragraphs.csv")[::32]
    for rows, text, group in ((pheme, "text", "event"), (wiki, "text", "article_id")):
        for row in rows:
            texts.append(row[text])
            labels.append(False)
            groups.append(f"{group}:{row[group]}")
    result = cross_validate(
        texts, labels, groups=groups, folds=3, params=SMALL, calibration_folds=2
    )
    assert result.pooled["rows"] == len(texts) > 900
    assert result.pooled["roc_auc"] > 0.8
    for number in range(3):
        inside = {groups[i] for i in np.flatnonzero(result.fold == number)}
        outside = {groups[i] for i in np.flatnonzero(result.fold != number)}
        assert not inside & outside


def test_prediction_scores_texts_as_the_training_matrix_does(model: TextModel) -> None:
    # Training scores the feature matrix; prediction sums weights without building it.
    texts, _, _ = synthetic()
    texts = [*texts[:300], "", "🔴", "ن ا ش ر", "x" * 5000]
    direct = model.decision_function(texts)
    through_matrix = model.score_features(feature_matrix(texts, model.params))
    assert direct == pytest.approx(through_matrix, rel=1e-6, abs=1e-9)
    assert len(set(np.round(direct, 6).tolist())) > 100
