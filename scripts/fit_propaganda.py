"""Fit the `propaganda` detector's combiner weights (src/undertow/data/propaganda.json).

The weights are fitted by logistic regression on a simulated world (the only labelled data
the project may redistribute: synthetic text, see docs/simulator.md) and checked on a second
world with another seed.  The features come from the real text stage, so the weights fit what
the stage computes.  Run it again after changing the features, rules or the default model:

    .venv/bin/python scripts/fit_propaganda.py [--seed 101] [--scale 4] [--check-seed 202]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from undertow.detect.propaganda import COMBINER_FORMAT, FEATURES, features
from undertow.ingest import ingest_paths
from undertow.records import Signal, TextItem
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.text_signals import TextAnalyser, analyse_text
from undertow.store import open_store

OUT = Path(__file__).resolve().parents[1] / "src" / "undertow" / "data" / "propaganda.json"


class _Recorder(TextAnalyser):
    """The stage's analyser, keeping every message's features."""

    rows: list[tuple[str, int, list[float]]]

    def detect(self, items: Sequence[TextItem]) -> tuple[list[float], list[Signal]]:
        self.rows.extend((i.channel_id, i.message_id, features(i)) for i in items)
        return super().detect(items)


def world_features(seed: int, scale: int, work: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = work / f"world-{seed}"
    simulate_world(folder, seed=seed, scale=scale)
    settings = load_settings(sqlite_url(work / f"w{seed}.db"), work / f"data-{seed}")
    store = open_store(settings.db_url)
    try:
        ingest_paths(store, settings, [folder / "exports"])
        base = TextAnalyser.from_settings(settings)
        recorder = _Recorder(base.rules, base.model)
        recorder.rows = []
        analyse_text(store, settings, analyser=recorder)
    finally:
        store.close()
    truth: dict[tuple[str, int], bool] = {}
    with (folder / "truth_messages.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            truth[(row["channel_id"], row["message_id"])] = bool(row["propaganda"])
    x = np.array([values for _, _, values in recorder.rows])
    y = np.array([truth[(c, m)] for c, m, _ in recorder.rows])
    return x, y


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    return {
        "messages": len(y),
        "positives": int(y.sum()),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "log_loss": round(float(log_loss(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "recall_at_0.5": round(float((p[y] >= 0.5).mean()), 4),
        "false_positive_rate_at_0.5": round(float((p[~y] >= 0.5).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--check-seed", type=int, default=202)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        x, y = world_features(args.seed, args.scale, work)
        x_check, y_check = world_features(args.check_seed, args.scale, work)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    fitted = model.predict_proba(x)[:, 1]
    checked = model.predict_proba(x_check)[:, 1]
    data = {
        "format": COMBINER_FORMAT,
        "version": 1,
        "features": list(FEATURES),
        "weights": [round(float(w), 5) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 5),
        "fitted_at": time.strftime("%Y-%m-%d"),
        "trained_on": {
            "data": "simulated world (synthetic text, docs/simulator.md)",
            "seed": args.seed,
            "scale": args.scale,
            "model": "logistic regression, C=1.0",
        },
        "metrics": {
            "training": metrics(y, fitted),
            f"world seed {args.check_seed}": metrics(y_check, checked),
        },
    }
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
