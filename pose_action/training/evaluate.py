"""Evaluate a trained run on its held-out test clips (or every clip of another features folder).

Reads the clips through the same feature function as training (`features.clip_features`,
via ClipBatches) and writes metrics.json, classification_report.csv and confusion_matrix.png.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from pose_action import runs
from pose_action.errors import InputError
from pose_action.features import FeatureConfig
from pose_action.files import read_json, write_json
from pose_action.inference.backends import load_backend
from pose_action.layout import FeaturesLayout
from pose_action.training.batches import ClipBatches, check_features, keras_batches, loader_errors
from pose_action.training.pooled import cv_scores, fold_spread
from pose_action.training.reports import classification_metrics, plot_confusion, write_report_csv
from pose_action.training.splits import Clip, read_clips

log = logging.getLogger(__name__)


def predict_clips(model: Any, layout: FeaturesLayout, clips: list[Clip], labels: list[str],
                  config: FeatureConfig, input_names: list[str], batch_size: int = 16, workers: int = 1) -> np.ndarray:
    """(clips, classes) probabilities, in the order of `clips` (one pass: nothing is cached)."""
    batches = ClipBatches(layout, clips, labels, config, input_names, batch_size,
                          cache_sequences=False)
    with loader_errors(batches):
        probabilities = model.predict(keras_batches(batches, targets=False, workers=workers), verbose=0)
    return np.asarray(probabilities)


def evaluation_metrics(probabilities: np.ndarray, clips: list[Clip], labels: list[str]) -> dict:
    true = np.array([labels.index(clip.label) for clip in clips], dtype=np.int64)
    predicted = probabilities.argmax(axis=1)
    metrics = classification_metrics(true, predicted, labels)
    metrics["n_test"] = len(clips)
    metrics["test_groups"] = sorted({clip.group for clip in clips})
    metrics["predictions"] = [{"key": clip.key, "label": clip.label, "predicted": labels[int(p)],
                               "confidence": float(probabilities[i, p]), "status": clip.status}
                              for i, (clip, p) in enumerate(zip(clips, predicted))]
    metrics["no_pose"] = no_pose_metrics(true, predicted, clips)
    return metrics


def no_pose_metrics(true: np.ndarray, predicted: np.ndarray, clips: list[Clip]) -> dict:
    """How the clips without any detected person fared (they are in `accuracy` too)."""
    without = np.array([clip.status == "no_pose" for clip in clips], dtype=bool)
    correct = int((true[without] == predicted[without]).sum())
    return {"clips": int(without.sum()), "correct": correct,
            "accuracy": correct / int(without.sum()) if without.any() else None}


def write_evaluation(out: str | Path, metrics: dict, labels: list[str], title: str) -> None:
    """metrics.json, classification_report.csv and confusion_matrix.png into `out`."""
    out = Path(out)
    write_json(out / runs.METRICS_FILE, metrics)
    write_report_csv(out / runs.REPORT_FILE, metrics)
    plot_confusion(out / runs.CONFUSION_FILE, np.array(metrics["confusion_matrix"]), labels, title)


def summary_line(metrics: dict) -> str:
    no_pose = metrics.get("no_pose") or {}
    without = (f"; {no_pose['correct']} of {no_pose['clips']} clips without a person right"
               if no_pose.get("clips") else "")
    return (f"accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f} on {metrics['n_test']} "
            f"test clips (groups {', '.join(metrics['test_groups'])}){without}")


def select_clips(run: runs.Run, layout: FeaturesLayout, which: str) -> tuple[list[Clip], dict[str, int]]:
    """The run's test clips (default) or all clips of the features folder with a known label."""
    clip_set = read_clips(layout)
    known = [clip for clip in clip_set.clips if clip.label in run.labels]
    unknown = len(clip_set.clips) - len(known)
    if unknown:
        log.warning("%s: %d clips have labels this model does not know; skipped", layout.root, unknown)
    if which == "all":
        return known, clip_set.excluded
    split = read_json(run.path / runs.SPLIT_FILE)
    wanted = set(split["test"])
    chosen = [clip for clip in known if clip.key in wanted]
    missing = len(wanted) - len(chosen)
    if missing == len(wanted):
        raise InputError(f"{layout.root}: none of the run's {len(wanted)} test clips are there "
                         "(pass --clips all to evaluate every clip of this folder)")
    if missing:
        log.warning("%d of the run's test clips are missing from %s", missing, layout.root)
    return chosen, clip_set.excluded


def evaluate_run(run_path: str | Path, *, features_root: str | Path | None = None, out: str | Path | None = None,
                 which: str = "test", batch_size: int = 16) -> dict:
    """Re-evaluate one run; write its reports into `out`.

    Default `out`: the run itself for its own test split, else RUN/evaluations/<features folder>.
    The model is opened through the one run loader and checked against config.json first, so a
    run whose config disagrees with its model stops with one line before any clip is read.
    """
    run = runs.load_run(run_path)
    trained_on = run.config.features_root
    if not features_root and not trained_on:
        raise InputError(f"{run.path / runs.CONFIG_FILE}: does not say which features the run was trained on; "
                         "pass --features")
    layout = FeaturesLayout(features_root or trained_on)
    clips, excluded = select_clips(run, layout, which)
    config = run.feature_config
    check_features(layout, clips, config)
    model = load_backend(run, "keras").model
    probabilities = predict_clips(model, layout, clips, run.labels, config, run.input_names, batch_size)
    own_test = which == "test" and bool(trained_on) and layout.root.resolve() == Path(trained_on).resolve()
    if out is None:  # the run's own test metrics are replaced; other evaluations go beside them
        out = run.path if own_test else run.path / runs.EVALUATIONS_DIR / layout.root.resolve().name
    out = Path(out)
    previous = {"model": run.model_name, "run": str(run.path)}
    if own_test and (run.path / runs.METRICS_FILE).is_file():  # keep the training facts (n_train, epochs...)
        previous = read_json(run.path / runs.METRICS_FILE)
    metrics = {**previous, **evaluation_metrics(probabilities, clips, run.labels),
               "features_root": str(layout.root), "clips": which, "excluded": excluded}
    write_evaluation(out, metrics, run.labels, f"{run.model_name} — {run.config.split.get('kind', '')}")
    return metrics


def evaluate_cv(run_path: Path, **options: Any) -> dict:
    """Every fold of a cross-validation run; the pooled score over every clip, then mean ± std of the folds.

    Folds write into their own folders; `folds` holds each fold's metrics, in the order of
    cv.json. With `which="all"` every fold scores every clip, so the folds do not partition
    the set and only their mean ± std is reported.
    """
    summary = read_json(run_path / runs.CV_FILE)
    folds = [{"fold": fold["fold"], **evaluate_run(run_path / fold["run"], **options)} for fold in summary["folds"]]
    features_root = options.get("features_root") or summary["features_root"]
    scores = (cv_scores(features_root, folds) if options.get("which", "test") == "test"
              else fold_spread(folds))
    return {**scores, "folds_total": summary.get("folds_total", len(folds)), "folds": folds}


def cv_summary_line(summary: dict) -> str:
    """The pooled score first, then mean ± std of the folds (train --cv, evaluate of a --cv run)."""
    folds, total = len(summary["folds"]), summary.get("folds_total", len(summary["folds"]))
    counted = f"{folds} folds" if folds == total else f"{folds} of {total} folds"
    spread = (f"fold mean accuracy {summary['accuracy_mean']:.3f} ± {summary['accuracy_std']:.3f}, "
              f"macro F1 {summary['macro_f1_mean']:.3f} ± {summary['macro_f1_std']:.3f}")
    if summary.get("accuracy_all") is None:
        return f"{counted}: {spread}"
    return (f"{counted}: accuracy {summary['accuracy_all']:.3f}, macro F1 {summary['macro_f1_all']:.3f} over all "
            f"{summary['clips_all']} clips ({summary['clips_predicted']} predicted); {spread}")
