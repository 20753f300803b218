"""The pooled score of a cross-validation: every clip of the set once, a clip nobody predicted counted wrong.

The mean of fold accuracies weighs a fold of 3 clips like a fold of 30, and a fold's accuracy
only covers the clips it could score: on real footage a 0.79 fold mean was 0.67 over the
clips scored and 0.55 over every clip. So the headline figure of `train --cv`, `evaluate` on
a cross-validation and scripts/benchmark_real.py is pooled here, in one place: the true and
predicted labels of every test clip of every fold, against every clip whose video decoded
(manifest status `ok` or `no_pose`; only `failed` videos are left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose_action.calibration import BACKGROUND, calibration_error, reliability_bins
from pose_action.extraction.manifest import read_table
from pose_action.layout import FeaturesLayout
from pose_action.training.reports import classification_metrics, mean_std

NOT_DECODED = "failed"  # the one manifest status whose clips are not scored
UNPREDICTED = "(not predicted)"  # the predicted label of a clip no fold predicted: never right


@dataclass(frozen=True)
class PooledScore:
    """Accuracy and macro F1 over `clips_all` clips, of which `clips_predicted` got a prediction."""

    accuracy: float
    macro_f1: float
    clips_all: int
    clips_predicted: int

    def to_dict(self) -> dict:
        """The summary keys (cv.json, results.csv)."""
        return {"accuracy_all": self.accuracy, "macro_f1_all": self.macro_f1, "clips_all": self.clips_all,
                "clips_predicted": self.clips_predicted}


def decoded_clips(layout: FeaturesLayout) -> dict[str, str]:
    """key -> label of every clip of a features folder whose video decoded (all but `failed`).

    Read from the manifest, not from the training clips, so clips a model left out (say
    `no_pose` ones) stay in the denominator.
    """
    table = read_table(layout.manifest, required=("label", "status"))
    decoded = table[table["status"].astype(str) != NOT_DECODED]
    return dict(zip(decoded["key"].astype(str), decoded["label"].astype(str)))


def pool_predictions(truth: Mapping[str, str], predictions: Iterable[Mapping]) -> PooledScore:
    """Score `predictions` (dicts with `key`, `label`, `predicted`: metrics.json's list) against `truth`.

    `truth` (key -> label) lists every clip that should have been predicted once; one without a
    prediction counts as wrong. A prediction of a clip outside `truth` is scored too. Macro F1
    comes from reports.classification_metrics (the classes present among the true labels) with
    UNPREDICTED as an extra class nobody holds, so a missing prediction costs recall.
    Raises ValueError when a clip is predicted twice (folds that overlap are not a partition).
    """
    true_labels = dict(truth)
    predicted: dict[str, str] = {}
    for item in predictions:
        key = str(item["key"])
        if key in predicted:
            raise ValueError(f"clip {key} is predicted more than once: the folds overlap")
        predicted[key] = str(item["predicted"])
        true_labels.setdefault(key, str(item["label"]))
    if not true_labels:
        return PooledScore(accuracy=0.0, macro_f1=0.0, clips_all=0, clips_predicted=0)
    keys = sorted(true_labels)
    labels = sorted({*true_labels.values(), *predicted.values()}) + [UNPREDICTED]
    index = {label: number for number, label in enumerate(labels)}
    true = np.array([index[true_labels[key]] for key in keys])
    guessed = np.array([index[predicted.get(key, UNPREDICTED)] for key in keys])
    metrics = classification_metrics(true, guessed, labels)
    return PooledScore(accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"], clips_all=len(keys),
                       clips_predicted=len(predicted))


def pooled_folds(features_root: str | Path, fold_metrics: Iterable[Mapping]) -> PooledScore:
    """The pooled score of cross-validation folds (each fold's metrics.json) over a features folder."""
    truth = decoded_clips(FeaturesLayout(features_root))
    return pool_predictions(truth, (item for metrics in fold_metrics for item in metrics["predictions"]))


def fold_spread(fold_metrics: Iterable[Mapping]) -> dict:
    """Mean ± std (sample) of the folds' accuracy and macro F1: the secondary cross-validation figure."""
    fold_metrics = list(fold_metrics)
    accuracy = mean_std([metrics["accuracy"] for metrics in fold_metrics])
    macro_f1 = mean_std([metrics["macro_f1"] for metrics in fold_metrics])
    return {"accuracy_mean": accuracy[0], "accuracy_std": accuracy[1],
            "macro_f1_mean": macro_f1[0], "macro_f1_std": macro_f1[1]}


def pooled_calibration(fold_metrics: Iterable[Mapping]) -> dict:
    """ECE (10 bins) of every predicted clip's calibrated confidence (what predict shows) and of the raw
    one, with the pooled reliability bins; empty when the folds' metrics predate calibration."""
    items = [item for metrics in fold_metrics for item in metrics.get("predictions", [])]
    if not items or any("confidence_raw" not in item for item in items):
        return {}
    confidence = np.array([item["confidence"] for item in items], dtype=np.float64)
    raw = np.array([item["confidence_raw"] for item in items], dtype=np.float64)
    correct = np.array([item["predicted"] == item["label"] for item in items], dtype=bool)
    return {"ece_all": calibration_error(confidence, correct), "ece_raw_all": calibration_error(raw, correct),
            "reliability": reliability_bins(confidence, correct)}


def pooled_background(fold_metrics: Iterable[Mapping]) -> dict:
    """With a background class: accuracy over the real actions' clips alone and the share of background
    clips called an action, over every predicted clip (empty without a background class)."""
    items = [item for metrics in fold_metrics for item in metrics.get("predictions", [])]
    actions = [item for item in items if item["label"] != BACKGROUND]
    background = [item for item in items if item["label"] == BACKGROUND]
    if not background and not any(item["predicted"] == BACKGROUND for item in items):
        return {}
    return {"action_accuracy_all": sum(item["predicted"] == item["label"] for item in actions) / len(actions)
            if actions else None,
            "background_false_alarm_all": sum(item["predicted"] != BACKGROUND for item in background) / len(background)
            if background else None}


def cv_scores(features_root: str | Path, fold_metrics: Sequence[Mapping]) -> dict:
    """A cross-validation's scores, pooled first (accuracy_all, macro_f1_all, clips_all, clips_predicted,
    ece_all, ece_raw_all), then mean ± std of the folds (train --cv, evaluate and
    scripts/benchmark_real.py all use this)."""
    return {**pooled_folds(features_root, fold_metrics).to_dict(), **pooled_calibration(fold_metrics),
            **pooled_background(fold_metrics), **fold_spread(fold_metrics)}
