"""Evaluate a trained run on its held-out test clips (or every clip of another features folder).

Reads the clips through the same feature function as training (`features.clip_features`,
via ClipBatches) and writes metrics.json, classification_report.csv, confusion_matrix.png and
reliability.png. Beside accuracy every evaluation reports the expected calibration error (ECE,
10 bins) of the probabilities predict and live show (the run's temperature applied) and of the
model's raw ones, and how many clips the run's `unknown` threshold would reject.

A class named BACKGROUND ("no action": idle people, empty scenes) is a class like any other
in training; the metrics add the accuracy over the real actions alone and how often a
background clip was called an action (a false alarm).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pose_action import runs
from pose_action.calibration import (
    BACKGROUND,
    Calibration,
    apply_temperature,
    calibration_error,
    fit_calibration,
    reliability_bins,
)
from pose_action.errors import InputError
from pose_action.features import FeatureConfig
from pose_action.files import read_json, write_json
from pose_action.inference.backends import load_backend
from pose_action.layout import FeaturesLayout
from pose_action.novelty import (
    NOVELTY_SOURCES,
    Novelty,
    OutOfFold,
    fit_novelty,
    novelty,
    novelty_across_groups,
    unit,
)
from pose_action.training.batches import (
    BATCH_SIZE,
    ClipBatches,
    SequenceCache,
    check_features,
    loader_errors,
    predict_batches,
)
from pose_action.training.pooled import cv_scores, fold_spread
from pose_action.training.reports import classification_metrics, plot_confusion, plot_reliability, write_report_csv
from pose_action.training.splits import Clip, read_clips

log = logging.getLogger(__name__)


def model_outputs(model: Any, layout: FeaturesLayout, clips: list[Clip], labels: list[str],
                  config: FeatureConfig, input_names: list[str], batch_size: int = BATCH_SIZE,
                  loader_threads: int = 1, cache: SequenceCache | None = None) -> Any:
    """What the model answers for each clip, in the order of `clips`, in one pass: an array, or the
    structure of arrays of a model with several outputs. `cache`: the training run's parsed landmarks."""
    batches = ClipBatches(layout, clips, labels, config, input_names, batch_size, cache=cache)
    with loader_errors(batches):
        return predict_batches(model, batches, loader_threads=loader_threads)


def predict_clips(model: Any, layout: FeaturesLayout, clips: list[Clip], labels: list[str],
                  config: FeatureConfig, input_names: list[str], batch_size: int = BATCH_SIZE,
                  loader_threads: int = 1, cache: SequenceCache | None = None) -> np.ndarray:
    """(clips, classes) probabilities, in the order of `clips`."""
    return np.asarray(model_outputs(model, layout, clips, labels, config, input_names, batch_size, loader_threads,
                                    cache))


def evaluation_metrics(probabilities: np.ndarray, clips: list[Clip], labels: list[str],
                       calibration: Calibration | None = None, novelty_config: Novelty | None = None,
                       novelty_values: np.ndarray | None = None) -> dict:
    """Accuracy, F1, calibration and rejection figures of the model's raw (N, C) probabilities on `clips`.

    `confidence` of each prediction is the calibrated one (what predict shows); `raw` keeps the
    model's own probability vector, so a calibration can be fitted on these predictions later
    (cross-validation fits each fold's on the other folds' predictions). With the run's novelty
    and each clip's (`novelty_values`), each prediction has its novelty and `novelty` counts the
    clips it rejects (what predict and live do for such a run; `threshold` counts the confidence's).
    """
    calibration = calibration or Calibration.none()
    raw = np.asarray(probabilities, dtype=np.float32).reshape(len(clips), len(labels))
    calibrated = apply_temperature(raw, calibration.temperature)
    true = np.array([labels.index(clip.label) for clip in clips], dtype=np.int64)
    predicted = raw.argmax(axis=1)
    metrics = classification_metrics(true, predicted, labels)
    metrics["n_test"] = len(clips)
    metrics["test_groups"] = sorted({clip.group for clip in clips})
    metrics["predictions"] = [{"key": clip.key, "label": clip.label, "predicted": labels[int(p)],
                               "confidence": float(calibrated[i, p]), "confidence_raw": float(raw[i, p]),
                               "raw": [round(float(value), 7) for value in raw[i]], "status": clip.status}
                              for i, (clip, p) in enumerate(zip(clips, predicted))]
    metrics["no_pose"] = no_pose_metrics(true, predicted, clips)
    metrics.update(confidence_metrics(metrics["predictions"], calibration))
    if novelty_config is not None and novelty_config.used and novelty_values is not None:
        for item, value in zip(metrics["predictions"], novelty_values):
            item["novelty"] = round(float(value), 6)
        metrics["novelty"] = novelty_metrics(metrics["predictions"], novelty_config)
    if BACKGROUND in labels:
        metrics["background"] = background_metrics(metrics["predictions"])
    return metrics


def confidence_metrics(predictions: list[dict], calibration: Calibration) -> dict:
    """ECE of the calibrated and the raw confidences, the reliability bins and the threshold's rejections."""
    confidence = np.array([item["confidence"] for item in predictions], dtype=np.float64)
    raw = np.array([item.get("confidence_raw", item["confidence"]) for item in predictions], dtype=np.float64)
    correct = np.array([item["predicted"] == item["label"] for item in predictions], dtype=bool)
    rejected = confidence < calibration.threshold
    return {"ece": calibration_error(confidence, correct), "ece_raw": calibration_error(raw, correct),
            "mean_confidence": float(confidence.mean()) if len(confidence) else None,
            "calibration": calibration.to_dict(), "reliability": reliability_bins(confidence, correct),
            "threshold": {"value": calibration.threshold, "rejected": int(rejected.sum()),
                          "correct_rejected": int((rejected & correct).sum()), "correct": int(correct.sum()),
                          "accepted_accuracy": float(correct[~rejected].mean()) if (~rejected).any() else None}}


def novelty_metrics(predictions: list[dict], novelty_config: Novelty) -> dict:
    """The clips the novelty threshold rejects: those predict and live would call unknown."""
    assert novelty_config.threshold is not None
    values = np.array([item["novelty"] for item in predictions], dtype=np.float64)
    correct = np.array([item["predicted"] == item["label"] for item in predictions], dtype=bool)
    rejected = values > novelty_config.threshold
    return {"value": novelty_config.threshold, "rejected": int(rejected.sum()),
            "correct_rejected": int((rejected & correct).sum()), "correct": int(correct.sum()),
            "mean": float(values.mean()) if len(values) else None}


def background_metrics(predictions: list[dict]) -> dict:
    """Accuracy over the real actions alone, and the background clips: called "no action" or an action."""
    actions = [item for item in predictions if item["label"] != BACKGROUND]
    background = [item for item in predictions if item["label"] == BACKGROUND]
    right = sum(item["predicted"] == item["label"] for item in actions)
    quiet = sum(item["predicted"] == BACKGROUND for item in background)
    return {"action_clips": len(actions), "action_accuracy": right / len(actions) if actions else None,
            "action_clips_called_background": sum(item["predicted"] == BACKGROUND for item in actions),
            "background_clips": len(background),
            "background_recall": quiet / len(background) if background else None,
            "false_alarm_rate": (len(background) - quiet) / len(background) if background else None}


def recalibrate(metrics: dict, calibration: Calibration) -> dict:
    """`metrics` (an evaluation's, with each prediction's `raw` vector) under another calibration."""
    labels = list(metrics["per_class"])
    predictions = []
    for item in metrics["predictions"]:
        raw = np.asarray(item["raw"], dtype=np.float32)[None]
        calibrated = apply_temperature(raw, calibration.temperature)[0]
        predictions.append({**item, "confidence": float(calibrated[labels.index(item["predicted"])])})
    return {**metrics, "predictions": predictions, **confidence_metrics(predictions, calibration)}


def held_out_calibration(probabilities: np.ndarray, clips: list[Clip], labels: list[str],
                         fitted_on: str) -> Calibration:
    """Temperature and `unknown` threshold fitted on held-out clips' raw probabilities."""
    true = np.array([labels.index(clip.label) for clip in clips], dtype=np.int64)
    return fit_calibration(np.asarray(probabilities).reshape(len(clips), len(labels)), true, fitted_on)


def run_calibration(val: list[Clip], val_probabilities: np.ndarray | None, test: list[Clip],
                    test_probabilities: np.ndarray, labels: list[str]) -> Calibration:
    """A new run's calibration: fitted on its validation clips, else on its test clips (said so in
    `fitted_on`: the run's calibrated test figures are then in-sample; `train --cv` refits such folds
    on the other folds' predictions)."""
    if val and val_probabilities is not None:
        calibration = held_out_calibration(val_probabilities, val, labels, "validation")
    else:
        calibration = held_out_calibration(test_probabilities, test, labels, "test")
    log.info("calibration from %d %s clips: temperature %.2f, unknown below %.2f (ECE %.3f -> %.3f)",
             calibration.clips, calibration.fitted_on, calibration.temperature, calibration.threshold,
             calibration.ece_before or 0.0, calibration.ece_after or 0.0)
    return calibration


def predict_answers(model: Any, layout: FeaturesLayout, clips: list[Clip], labels: list[str],
                    config: FeatureConfig, input_names: list[str], batch_size: int = BATCH_SIZE,
                    loader_threads: int = 1,
                    cache: SequenceCache | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(clips, classes) probabilities and (clips, D) what the model's head layer reads (None: it has
    none), in the order of `clips`, in one pass."""
    from pose_action.training.models import with_head_input

    answering = with_head_input(model)
    if answering is None:
        return (predict_clips(model, layout, clips, labels, config, input_names, batch_size, loader_threads, cache),
                None)
    probabilities, head_inputs = model_outputs(answering, layout, clips, labels, config, input_names, batch_size,
                                               loader_threads, cache)
    return np.asarray(probabilities), np.asarray(head_inputs)


def run_novelty(model: Any, layout: FeaturesLayout, train: list[Clip], val: list[Clip],
                val_answers: tuple[np.ndarray, np.ndarray | None] | None, val_apart: bool,
                labels: list[str], config: FeatureConfig, input_names: list[str], batch_size: int = BATCH_SIZE,
                loader_threads: int = 1, out_of_fold: OutOfFold | None = None,
                cache: SequenceCache | None = None) -> tuple[Novelty, np.ndarray | None]:
    """A new run's novelty and known clips (its training clips' unit head inputs, for known_clips.npy).
    `val_answers`: predict_answers of `model` on the validation clips (training has them already).

    The threshold comes from the first source of NOVELTY_SOURCES with enough right answers:
    "validation", the validation clips' novelty against the training clips (only when their
    groups are apart from training's: a clip of a training person lies nearer than a new person's);
    "out-of-fold", the clips a learned head mix's inner models answered without having seen their
    groups (`out_of_fold`); or "training groups", each training clip's against the other groups'
    (novelty_across_groups: the model learned from those clips, so they lie nearer than a new
    person's would, and the threshold rejects more than it aims to)."""
    if not train:
        return Novelty.none(), None
    train_probabilities, known = predict_answers(model, layout, train, labels, config, input_names, batch_size,
                                                 loader_threads, cache)
    if known is None:
        return Novelty.none(), None
    known = unit(known).astype(np.float16).astype(np.float32)  # as known_clips.npy stores them

    def right(probabilities: np.ndarray, clips: list[Clip]) -> np.ndarray:
        true = np.array([labels.index(clip.label) for clip in clips], dtype=np.int64)
        return np.asarray(probabilities).reshape(len(clips), len(labels)).argmax(axis=1) == true

    result = Novelty.none()
    for source in NOVELTY_SOURCES:
        if source == "validation" and val and val_apart:
            assert val_answers is not None
            val_probabilities, val_inputs = val_answers
            assert val_inputs is not None  # the same model as the known clips'
            distances, correct = novelty(val_inputs, known), right(val_probabilities, val)
        elif source == "out-of-fold" and out_of_fold is not None:
            distances, correct = out_of_fold
        elif source == "training groups":
            distances = novelty_across_groups(known, [clip.group for clip in train])
            correct = right(train_probabilities, train)
        else:
            continue
        result = fit_novelty(distances, correct, source, len(known))
        if result.used:
            break
    log.info("novelty from %d clips (%s): unknown above %s (%s)", result.clips, result.fitted_on,
             "-" if result.threshold is None else f"{result.threshold:.3f}", result.rule)
    return result, known if result.used else None


def out_of_fold_calibration(fold_metrics: list[dict], fold: int) -> Calibration | None:
    """A cross-validation fold's calibration from every other fold's test predictions (None: too few)."""
    others = [item for number, metrics in enumerate(fold_metrics) if number != fold
              for item in metrics.get("predictions", []) if "raw" in item]
    if not others:
        return None
    labels = list(fold_metrics[fold]["per_class"])
    probabilities = np.array([item["raw"] for item in others], dtype=np.float64)
    if probabilities.shape[1] != len(labels):
        return None
    true = np.array([labels.index(item["label"]) for item in others], dtype=np.int64)
    return fit_calibration(probabilities, true, "out-of-fold")


def no_pose_metrics(true: np.ndarray, predicted: np.ndarray, clips: list[Clip]) -> dict:
    """How the clips without any detected person fared (they are in `accuracy` too)."""
    without = np.array([clip.status == "no_pose" for clip in clips], dtype=bool)
    correct = int((true[without] == predicted[without]).sum())
    return {"clips": int(without.sum()), "correct": correct,
            "accuracy": correct / int(without.sum()) if without.any() else None}


def cross_fit_folds(fold_dirs: list[Path], fold_metrics: list[dict]) -> list[dict]:
    """Refit every fold calibrated on its own test clips on the other folds' test predictions.

    Each such fold's config.json `calibration` ("out-of-fold") and its reports are rewritten, so
    its calibrated test figures, and the pooled ones, come from clips the calibration never saw.
    Folds calibrated on their validation clips keep theirs. Returns the folds' metrics.
    """
    updated = []
    for index, (fold_dir, metrics) in enumerate(zip(fold_dirs, fold_metrics)):
        fitted_on = (metrics.get("calibration") or {}).get("fitted_on")
        own = metrics.get("predictions", [])
        calibration = (out_of_fold_calibration(fold_metrics, index)
                       if fitted_on in ("test", "out-of-fold") and own and all("raw" in item for item in own)
                       else None)
        if calibration is None:
            updated.append(metrics)
            continue
        run = runs.load_run(fold_dir)
        recalibrated = recalibrate(metrics, calibration)
        title = f"{run.model_name} — {run.config.split.get('kind', '')} fold {run.config.split.get('fold')}"
        write_evaluation(fold_dir, recalibrated, run.labels, title)
        write_json(fold_dir / runs.CONFIG_FILE, replace(run.config, calibration=calibration).to_dict())
        updated.append(recalibrated)
    return updated


def write_evaluation(out: str | Path, metrics: dict, labels: list[str], title: str) -> None:
    """metrics.json, classification_report.csv, confusion_matrix.png and reliability.png into `out`."""
    out = Path(out)
    write_json(out / runs.METRICS_FILE, metrics)
    write_report_csv(out / runs.REPORT_FILE, metrics)
    plot_confusion(out / runs.CONFUSION_FILE, np.array(metrics["confusion_matrix"]), labels, title)
    plot_reliability(out / runs.RELIABILITY_FILE, metrics["reliability"], metrics["ece"], title,
                     raw_ece=metrics.get("ece_raw"))


def summary_line(metrics: dict) -> str:
    no_pose = metrics.get("no_pose") or {}
    without = (f"; {no_pose['correct']} of {no_pose['clips']} clips without a person right"
               if no_pose.get("clips") else "")
    calibration = ""
    if metrics.get("ece") is not None:
        temperature = (metrics.get("calibration") or {}).get("temperature", 1.0)
        calibration = f", ECE {metrics['ece']:.3f} (raw {metrics['ece_raw']:.3f}, T {temperature:.2f})"
    background = metrics.get("background") or {}
    actions = (f"; actions alone {background['action_accuracy']:.3f}, background clips called an action "
               f"{background['false_alarm_rate']:.0%}"
               if background.get("action_accuracy") is not None and background.get("false_alarm_rate") is not None
               else "")
    return (f"accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}{calibration} on "
            f"{metrics['n_test']} test clips (groups {', '.join(metrics['test_groups'])}){without}{actions}")


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
                 which: str = "test", batch_size: int = BATCH_SIZE) -> dict:
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
    known = run.known_clips()
    probabilities, head_inputs = (predict_answers(model, layout, clips, run.labels, config, run.input_names, batch_size)
                                  if known is not None else
                                  (predict_clips(model, layout, clips, run.labels, config, run.input_names, batch_size),
                                   None))
    novelty_values = novelty(head_inputs, known) if head_inputs is not None and known is not None else None
    own_test = which == "test" and bool(trained_on) and layout.root.resolve() == Path(trained_on).resolve()
    if out is None:  # the run's own test metrics are replaced; other evaluations go beside them
        out = run.path if own_test else run.path / runs.EVALUATIONS_DIR / layout.root.resolve().name
    out = Path(out)
    previous = {"model": run.model_name, "run": str(run.path)}
    if own_test and (run.path / runs.METRICS_FILE).is_file():  # keep the training facts (n_train, epochs...)
        previous = read_json(run.path / runs.METRICS_FILE)
    metrics = {**previous, **evaluation_metrics(probabilities, clips, run.labels, run.config.calibration,
                                                run.config.novelty, novelty_values),
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
    if options.get("which", "test") == "test" and not options.get("features_root"):  # its own clips only
        write_pooled_reliability(run_path, scores, "cross-validation (pooled out-of-fold)")
    return {**scores, "folds_total": summary.get("folds_total", len(folds)), "folds": folds}


def write_pooled_reliability(out: Path, scores: dict, title: str) -> None:
    """reliability.png of a cross-validation's pooled out-of-fold predictions, beside cv.json."""
    if scores.get("reliability"):
        plot_reliability(Path(out) / runs.RELIABILITY_FILE, scores["reliability"], scores["ece_all"], title,
                         raw_ece=scores.get("ece_raw_all"))


def cv_summary_line(summary: dict) -> str:
    """The pooled score first, then mean ± std of the folds (train --cv, evaluate of a --cv run)."""
    folds, total = len(summary["folds"]), summary.get("folds_total", len(summary["folds"]))
    counted = f"{folds} folds" if folds == total else f"{folds} of {total} folds"
    spread = (f"fold mean accuracy {summary['accuracy_mean']:.3f} ± {summary['accuracy_std']:.3f}, "
              f"macro F1 {summary['macro_f1_mean']:.3f} ± {summary['macro_f1_std']:.3f}")
    if summary.get("accuracy_all") is None:
        return f"{counted}: {spread}"
    calibration = (f", ECE {summary['ece_all']:.3f} (raw {summary['ece_raw_all']:.3f})"
                   if summary.get("ece_all") is not None else "")
    if summary.get("action_accuracy_all") is not None and summary.get("background_false_alarm_all") is not None:
        calibration += (f", actions alone {summary['action_accuracy_all']:.3f}, background clips called an action "
                        f"{summary['background_false_alarm_all']:.0%}")
    return (f"{counted}: accuracy {summary['accuracy_all']:.3f}, macro F1 {summary['macro_f1_all']:.3f}{calibration} "
            f"over all {summary['clips_all']} clips ({summary['clips_predicted']} predicted); {spread}")
