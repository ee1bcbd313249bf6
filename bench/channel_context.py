"""The `propaganda` score on real tweets: the classifier weighed in its channel's context.

A tweet alone often says nothing: many of the pro-IS accounts' tweets are chat ("oui",
"follow my comrade", greetings), and the news tweets about attacks use the same words as the
supporters.  In Undertow the message's channel speaks too (`detect/propaganda.py`): the
indicator rules it matches and the classifier's mean over the channel's posts.  The datasets
have no channels, so we make them: consecutive runs of `CHANNEL_POSTS` posts of one group
(an account's tweets, an event's tweets, an article's paragraphs); for GoEmotions comments and
current-events stories, whose groups are single posts, runs of the dataset's posts.  Runs
never cross a test fold, so a channel is either all training or all test rows.

Per outer fold the combiner (logistic regression over `FEATURES`, as
`scripts/fit_propaganda.py` fits it) is fitted on the training rows, with their out-of-fold
classifier probabilities, and its threshold chosen there like the classifier's; the test
fold's rows are scored with the fold's model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from undertow.detect.propaganda import FEATURES, Combiner, features
from undertow.enrich.classifier_training import choose_threshold
from undertow.enrich.rules import default_rules
from undertow.records import ChannelContext, TextItem
from undertow.stages.text_signals import TextAnalyser

CHANNEL_POSTS = 20
SINGLE_POST_GROUPS = ("goemotions", "current-events")


def channel_numbers(
    groups: np.ndarray, subsets: np.ndarray, folds: Sequence[np.ndarray]
) -> np.ndarray:
    """Each row's channel: runs of `CHANNEL_POSTS` rows of one (test fold, group) in data
    order, the group being the dataset where groups are single posts."""
    fold_of = np.zeros(len(groups), dtype=int)
    for number, test in enumerate(folds):
        fold_of[test] = number
    keys = np.where(np.isin(subsets, SINGLE_POST_GROUPS), subsets, groups)
    channel = np.zeros(len(groups), dtype=int)
    seen: dict[tuple[int, str], int] = {}
    numbers: dict[tuple[int, str, int], int] = {}
    for row, (fold, key) in enumerate(zip(fold_of.tolist(), keys.tolist(), strict=True)):
        position = seen.get((fold, key), 0)
        seen[(fold, key)] = position + 1
        run = (fold, key, position // CHANNEL_POSTS)
        channel[row] = numbers.setdefault(run, len(numbers))
    return channel


def enriched_items(texts: Sequence[str], channels: np.ndarray) -> list[TextItem]:
    """Every text enriched as the text stage does it (language, links, rule hits), without
    a classifier: its probability comes per fold."""
    analyser = TextAnalyser(default_rules(), None)
    items = [
        TextItem(f"bench:{channel}", row, text)
        for row, (text, channel) in enumerate(zip(texts, channels.tolist(), strict=True))
    ]
    analyser.enrich(items)
    return items


def fold_features(
    items: Sequence[TextItem], channels: np.ndarray, probabilities: np.ndarray
) -> np.ndarray:
    """The combiner's inputs for every row, channels counted afresh with `probabilities`."""
    contexts: dict[int, ChannelContext] = {}
    for item, channel, probability in zip(
        items, channels.tolist(), probabilities.tolist(), strict=True
    ):
        item.classifier = probability
        item.channel = contexts.setdefault(channel, ChannelContext(f"bench:{channel}"))
    TextAnalyser.count(items)
    return np.array([features(item) for item in items])


def evaluate_fold(
    items: Sequence[TextItem],
    channels: np.ndarray,
    probabilities: np.ndarray,
    y: np.ndarray,
    subsets: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    max_fpr: Mapping[str, float],
) -> tuple[np.ndarray, float, Combiner]:
    """Combined probabilities of the test rows, the threshold and the fitted combiner.
    `probabilities` holds out-of-fold values for the training rows, the fold model's for
    the test rows."""
    x = fold_features(items, channels, probabilities)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x[train], y[train])
    combiner = Combiner(
        tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]), {"fitted_on": "bench"}
    )
    threshold, _ = choose_threshold(combiner.probabilities(x[train]), y[train], subsets[train],
                                    max_fpr)  # fmt: skip
    return combiner.probabilities(x[test]), threshold, combiner


def describe(combiners: Sequence[Combiner]) -> dict[str, Any]:
    weights = np.array([c.weights for c in combiners])
    return {
        "channel_posts": CHANNEL_POSTS,
        "channels_from": "runs of consecutive posts of one account / event / article; "
        f"of the dataset for {', '.join(SINGLE_POST_GROUPS)}; never across test folds",
        "combiner_mean_weights": {
            name: round(float(w), 3) for name, w in zip(FEATURES, weights.mean(axis=0), strict=True)
        },
        "combiner_mean_bias": round(float(np.mean([c.bias for c in combiners])), 3),
    }
