"""Open-set benchmark: how well a model says "unknown" to an action it was never trained on.

    python scripts/benchmark_open_set.py --features FEATURES --out DIR [--model pose] [--split logo]
        [--epochs N] [--seed S] [--max-folds N] [--classes A,B] [--overwrite] [-- TRAIN OPTIONS]

Leave one class out, inside the group folds: for each class U in turn, the model trains on the
other classes with `pose-action train --cv` (the same group-aware folds as
scripts/benchmark_real.py, on a view of FEATURES without U: DIR/views/without-U), and each fold
scores its known test clips and the clips of U from the same test groups (people and places it
never saw, doing something it never learned). Nothing is extracted again.

Per unknown score function, pooled over every held-out class and fold (DIR/open_set.csv, .md):
- AUROC of known (positive) vs unknown clips; 0.5 is chance, 1 separates them perfectly;
- at the run's own stored thresholds: the share of unknown clips rejected, the share of known
  clips wrongly rejected, and open-set accuracy (known clips right and not rejected, unknown
  clips rejected, over all clips). msp_calibrated at config.json calibration.threshold;
  nearest_clip at the novelty threshold training stores (pose_action.novelty), and at the threshold each source
  of NOVELTY_SOURCES would give (rows nearest_clip@SOURCE, to choose between them); `served`
  is what predict and live do (the novelty where the run measures it, else the confidence);
  `either` rejects where either threshold does;
- known-clip accuracy (closed set, over the known classes of each run).

Score functions (higher = more likely known), side by side on the same folds and clips:
  msp             max softmax probability of the raw model (what predict used before calibration)
  msp_calibrated  the same after the run's temperature (predict and live read it)
  energy          logsumexp of the logits (Liu et al. 2020), from the output layer's input
  max_logit       the largest logit
  class_mean      minus the cosine distance of the clip's embedding (the output layer's input) to
                  the nearest mean of a known class over the fold's training clips
  nearest_clip    minus the novelty: the cosine distance of the head input to the nearest training
                  clip's (pose_action.novelty; predict and live read it; for a fusion serving a
                  head mix, the mixed heads' inputs weighted by their shares)
  nearest_clip_HEAD  the same in one head's input, for each head of a fusion serving a head mix
                  (pose_only, appearance_only, motion_only, fused): which stream tells unknown clips apart
  whitened_clip   minus the Euclidean distance to the nearest training clip in the head input nearest_clip
                  reads, whitened by the training clips' covariance (Ledoit-Wolf shrinkage): every
                  direction counts by how much the known clips vary along it, not by its size
  mahalanobis     minus the Mahalanobis distance of that head input to the nearest class mean, with the
                  classes' shared (within-class, shrunk) covariance (Lee et al. 2018)
  pose_input      minus the distance of the clip's pose vectors, before any learning (their mean and
                  spread over the window's frames with a pose, and the share of frames with one, each
                  standardised on the fold's training clips), to the nearest training clip's: what the
                  learned novelty has to beat
The logit and embedding scores read the model's head layer (training.models.HEAD_LAYER): its
output layer (pose, keypoints, rgb, lrcn, convlstm, motion, fusion with --param fusion_gate=none)
or, for a fusion serving a mix or gate of heads, its fused head (the one that reads every stream).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pose_action.errors import InputError, run_script

log = logging.getLogger("benchmark_open_set")

PROG = "scripts/benchmark_open_set.py"
SCORES = ("msp", "msp_calibrated", "energy", "max_logit", "class_mean", "nearest_clip", "whitened_clip",
          "mahalanobis", "pose_input")
HEAD_SCORE = "nearest_clip_{}"  # nearest_clip in one head of a fusion's HeadMix (its heads: training.models.MIX_HEADS)
SERVED = "served"  # the rule predict and live apply (UnknownRule.of_run): the novelty where the run measures it
EITHER = "either"  # the confidence threshold or the novelty's rejects (--threshold given beside the novelty)
VIEWS_DIR, RUNS_DIR = "views", "runs"
CSV_NAME, MD_NAME, CLIPS_NAME = "open_set.csv", "open_set.md", "open_set_clips.csv"
# what a view of the features shares with the folder it shows (every other entry is left out)
SHARED_ENTRIES = ("landmarks", "frames", "embeddings", "motion", "people", "extract_config.json")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, train_options = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     epilog="Options after `--` go to `pose-action train`, e.g. -- --frames 16.")
    parser.add_argument("--features", type=Path, required=True, help="an extracted features folder")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="views, runs and results go here")
    parser.add_argument("--model", default="pose", help="the model to train (default pose)")
    parser.add_argument("--split", default="logo", help="logo (default), groupkfold:K or stratifiedgroupkfold:K")
    parser.add_argument("--epochs", type=int, default=None, help="override the model's epochs (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-folds", type=int, default=None, metavar="N", help="only the first N folds per class")
    parser.add_argument("--classes", default=None, help="comma-separated classes to hold out (default: each in turn)")
    parser.add_argument("--overwrite", action="store_true", help="retrain folds trained with other options")
    return parser.parse_args(own), train_options


# ----------------------------------------------------------------------------- scores and figures


def auroc(known: np.ndarray, unknown: np.ndarray) -> float | None:
    """P(score of a random known clip > score of a random unknown clip), ties half: the ROC AUC."""
    known, unknown = np.asarray(known, dtype=np.float64), np.asarray(unknown, dtype=np.float64)
    if not len(known) or not len(unknown):
        return None
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.ones(len(known)), np.zeros(len(unknown))]
    return float(roc_auc_score(truth, np.r_[known, unknown]))


def logit_scores(logits: np.ndarray) -> dict[str, np.ndarray]:
    """energy (logsumexp) and max_logit of (N, C) logits."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=1)
    return {"energy": top + np.log(np.exp(logits - top[:, None]).sum(axis=1)), "max_logit": top}


def class_mean_scores(embeddings: np.ndarray, train_embeddings: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """Minus the cosine distance to the nearest class mean of the training embeddings."""
    from pose_action.novelty import novelty, unit

    means = unit(np.stack([unit(train_embeddings[train_labels == label]).mean(axis=0)
                           for label in np.unique(train_labels)]))
    return -novelty(embeddings, means).astype(np.float64)


def nearest_distance(chosen: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(N,) the Euclidean distance of each chosen row to the nearest known row."""
    return np.sqrt(((chosen[:, None, :] - known[None, :, :]) ** 2).sum(axis=2)).min(axis=1)


def whitening(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, W): x -> (x - centre) @ W makes the rows' covariance, shrunk toward a multiple of the
    identity (Ledoit-Wolf: a few dozen clips cannot estimate every direction), the identity."""
    from sklearn.covariance import LedoitWolf

    rows = np.asarray(rows, dtype=np.float64)
    centre = rows.mean(axis=0)
    values, vectors = np.linalg.eigh(LedoitWolf(assume_centered=True).fit(rows - centre).covariance_)
    return centre, vectors / np.sqrt(np.maximum(values, 1e-12))


def whitened_clip_scores(known: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Minus the Euclidean distance of each chosen row to the nearest known row, both whitened on the known."""
    centre, weights = whitening(known)
    known, chosen = ((np.asarray(rows, np.float64) - centre) @ weights for rows in (known, chosen))
    return -nearest_distance(chosen, known)


def mahalanobis_scores(known: np.ndarray, known_labels: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Minus the Mahalanobis distance of each chosen row to the nearest class mean of the known rows, with
    the covariance of the known rows around their own class's mean (shared by the classes, shrunk)."""
    known, chosen = np.asarray(known, np.float64), np.asarray(chosen, np.float64)
    classes, codes = np.unique(known_labels, return_inverse=True)
    means = np.stack([known[codes == code].mean(axis=0) for code in range(len(classes))])
    _, weights = whitening(known - means[codes])
    chosen, means = chosen @ weights, means @ weights
    return -nearest_distance(chosen, means)


def open_set_figures(known_scores: np.ndarray, unknown_scores: np.ndarray, known_correct: np.ndarray,
                     threshold: np.ndarray | float | None = None) -> dict:
    """AUROC and, with a threshold (one per clip or one for all), the rejection shares and open-set accuracy."""
    known_scores, unknown_scores = np.asarray(known_scores, float), np.asarray(unknown_scores, float)
    known_correct = np.asarray(known_correct, bool)
    figures: dict[str, Any] = {"auroc": auroc(known_scores, unknown_scores), "known_clips": len(known_scores),
                               "unknown_clips": len(unknown_scores),
                               "known_accuracy": float(known_correct.mean()) if len(known_correct) else None}
    if threshold is None:
        return figures
    thresholds = np.broadcast_to(np.asarray(threshold, float), (len(known_scores) + len(unknown_scores),))
    known_rejected = known_scores < thresholds[:len(known_scores)]
    unknown_rejected = unknown_scores < thresholds[len(known_scores):]
    total = len(known_scores) + len(unknown_scores)
    figures.update({
        "unknown_rejected": float(unknown_rejected.mean()) if len(unknown_scores) else None,
        "known_rejected": float(known_rejected.mean()) if len(known_scores) else None,
        "open_set_accuracy": float(((known_correct & ~known_rejected).sum() + unknown_rejected.sum()) / total)
        if total else None})
    return figures


# ----------------------------------------------------------------------------- the work


def make_view(features: Path, view: Path, without: str) -> Path:
    """A features folder showing FEATURES without class `without`: its manifest filtered, the rest linked."""
    import pandas as pd

    from pose_action.files import write_text_atomic

    view.mkdir(parents=True, exist_ok=True)
    for name in SHARED_ENTRIES:
        source, link = (features / name).resolve(), view / name
        if source.exists() and not link.exists():
            link.symlink_to(source)
    manifest = pd.read_csv(features / "manifest.csv", dtype=str, keep_default_na=False)
    write_text_atomic(view / "manifest.csv", manifest[manifest["label"] != without].to_csv(index=False))
    return view


def head_parts(model: Any) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """(embedding model, W, b) of the model's head layer (training.models.head_layer); None if it has none."""
    import keras

    from pose_action.training.models import head_layer

    layer = head_layer(model)
    if layer is None:
        return None
    weights, bias = (np.asarray(value) for value in layer.get_weights())
    return keras.Model(model.input, layer.input), weights, bias


def source_thresholds(model: Any, run: Any, layout: Any, split: dict, clips: dict, known: np.ndarray,
                      train: list, train_correct: np.ndarray) -> dict[str, float]:
    """The novelty threshold each of NOVELTY_SOURCES would give this fold's run (NaN: too few right answers)."""
    from pose_action.novelty import NOVELTY_SOURCES, novelty, novelty_across_groups, novelty_threshold
    from pose_action.training.evaluate import predict_answers

    labels, config, inputs = run.labels, run.feature_config, run.input_names
    thresholds = {}
    for source in NOVELTY_SOURCES:
        threshold = None
        if source == "validation" and split["val"] and not split.get("val_shares_groups"):
            val = [clips[key] for key in split["val"]]
            probabilities, head_inputs = predict_answers(model, layout, val, labels, config, inputs)
            correct = probabilities.argmax(axis=1) == np.array([labels.index(clip.label) for clip in val])
            threshold, _ = novelty_threshold(novelty(head_inputs, known), correct)
        elif source == "out-of-fold" and run.config.novelty.fitted_on == source:
            threshold = run.config.novelty.threshold  # the inner models that measured it are not kept
        elif source == "training groups":
            threshold, _ = novelty_threshold(novelty_across_groups(known, [clip.group for clip in train]),
                                             train_correct)
        thresholds[source] = np.nan if threshold is None else threshold
    return thresholds


def head_novelties(model: Any, layout: Any, chosen: list, train: list, labels: list[str], config: Any,
                   inputs: list[str]) -> dict[str, np.ndarray]:
    """nearest_clip_HEAD of each head a fusion's HeadMix mixes ({} for any other model), every head in one pass."""
    import keras

    from pose_action.novelty import novelty, unit
    from pose_action.training.evaluate import model_outputs
    from pose_action.training.models import HeadMix, head_layer_name

    mix = next((layer for layer in model.layers if isinstance(layer, HeadMix)), None)
    if mix is None:
        return {}
    reader = keras.Model(model.input, {head: model.get_layer(head_layer_name(head)).input for head in mix.heads})
    known = model_outputs(reader, layout, train, labels, config, inputs)
    seen = model_outputs(reader, layout, chosen, labels, config, inputs)
    return {HEAD_SCORE.format(head): -novelty(np.asarray(seen[head]), unit(np.asarray(known[head]))).astype(np.float64)
            for head in mix.heads}


def pose_description(pose: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, 2D+1) of (N, T, D) window pose vectors and their (N, T) mask: the mean and spread over the
    frames with a pose, and the share of frames with one (frames without a pose say nothing else)."""
    pose, seen = np.asarray(pose, np.float64), np.asarray(mask, np.float64)[..., None]
    count = np.maximum(seen.sum(axis=1), 1.0)
    mean = (pose * seen).sum(axis=1) / count
    spread = np.sqrt(((pose - mean[:, None]) ** 2 * seen).sum(axis=1) / count)
    return np.concatenate([mean, spread, seen.mean(axis=1)], axis=1)


def pose_input_score(known: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Minus the Euclidean distance of each chosen description to the nearest known one, every column
    standardised on the known (training) clips."""
    centre, scale = known.mean(axis=0), known.std(axis=0) + 1e-3
    known, chosen = (known - centre) / scale, (chosen - centre) / scale
    return -nearest_distance(chosen, known)


def pose_input_scores(model: Any, layout: Any, chosen: list, train: list, labels: list[str], config: Any,
                      inputs: list[str]) -> dict[str, np.ndarray]:
    """pose_input of the chosen clips ({} for a model that reads no pose vectors)."""
    import keras

    from pose_action.training.evaluate import model_outputs

    if not isinstance(model.input, dict) or "pose" not in model.input:
        return {}
    reader = keras.Model(model.input, {name: keras.layers.Identity()(model.input[name]) for name in ("pose", "mask")})

    def described(clips: list) -> np.ndarray:
        values = model_outputs(reader, layout, clips, labels, config, inputs)
        return pose_description(values["pose"], values["mask"])

    return {"pose_input": pose_input_score(described(train), described(chosen))}


def fold_scores(fold_dir: Path, features: Path, unknown_label: str,
                extra_groups: frozenset[str] = frozenset()) -> list[dict]:
    """Every score of the fold's known test clips and of the held-out class's clips in its test groups.

    extra_groups: groups of the held-out class that no fold tests (a group filmed for that class
    alone leaves the view with it); this fold scores their clips too, each group in one fold only.
    """
    from pose_action import runs
    from pose_action.calibration import apply_temperature
    from pose_action.files import read_json
    from pose_action.inference.backends import KerasBackend, load_backend
    from pose_action.layout import FeaturesLayout
    from pose_action.novelty import novelty, unit
    from pose_action.training.evaluate import predict_answers, predict_clips
    from pose_action.training.splits import read_clips

    run = runs.load_run(fold_dir)
    labels, config, inputs = run.labels, run.feature_config, run.input_names
    split = read_json(fold_dir / runs.SPLIT_FILE)
    layout = FeaturesLayout(features)
    clips = {clip.key: clip for clip in read_clips(layout).clips}
    test_groups = set(split["test_groups"]) | extra_groups
    known = [clips[key] for key in split["test"]]
    unknown = [replace(clip, label=labels[0]) for clip in clips.values()  # any known label: targets are not read
               if clip.label == unknown_label and clip.group in test_groups]
    train = [clips[key] for key in split["train"]]
    backend = load_backend(run, "keras")
    assert isinstance(backend, KerasBackend)
    model = backend.model
    chosen = known + unknown
    raw = predict_clips(model, layout, chosen, labels, config, inputs)
    calibrated = apply_temperature(raw, run.config.calibration.temperature)
    scores: dict[str, np.ndarray] = {"msp": raw.max(axis=1), "msp_calibrated": calibrated.max(axis=1)}
    parts = head_parts(model)
    thresholds: dict[str, float] = {}
    if parts is not None:
        embed, weights, bias = parts
        embeddings = predict_clips(embed, layout, chosen, labels, config, inputs)
        scores.update(logit_scores(embeddings @ weights + bias))
        train_embeddings = predict_clips(embed, layout, train, labels, config, inputs)
        train_labels = np.array([labels.index(clip.label) for clip in train])
        scores["class_mean"] = class_mean_scores(embeddings, train_embeddings, train_labels)
        # novelty as predict and live measure it (training.models.with_head_input), the known clips as
        # training stores them (float16), computed here so that runs trained before a change score alike
        _, head_inputs = predict_answers(model, layout, chosen, labels, config, inputs)
        train_probabilities, train_inputs = predict_answers(model, layout, train, labels, config, inputs)
        known_clips = unit(train_inputs).astype(np.float16).astype(np.float32)
        scores["nearest_clip"] = -novelty(head_inputs, known_clips).astype(np.float64)
        scores["whitened_clip"] = whitened_clip_scores(train_inputs, head_inputs)
        scores["mahalanobis"] = mahalanobis_scores(train_inputs, train_labels, head_inputs)
        train_correct = train_probabilities.argmax(axis=1) == train_labels
        thresholds = source_thresholds(model, run, layout, split, clips, known_clips, train, train_correct)
        scores.update(head_novelties(model, layout, chosen, train, labels, config, inputs))
    scores.update(pose_input_scores(model, layout, chosen, train, labels, config, inputs))
    # what training stores: the first source with a threshold (training.evaluate.run_novelty)
    novelty_threshold = next((value for value in thresholds.values() if np.isfinite(value)), None)
    rows = []
    for index, clip in enumerate(chosen):
        is_known = index < len(known)
        rows.append({"held_out": unknown_label, "fold": fold_dir.name, "key": clip.key,
                     "label": clip.label if is_known else unknown_label, "known": is_known,
                     "predicted": labels[int(raw[index].argmax())],
                     "correct": bool(is_known and labels[int(raw[index].argmax())] == clip.label),
                     "threshold": run.config.calibration.threshold,
                     "novelty_threshold": np.nan if novelty_threshold is None else novelty_threshold,
                     **{f"novelty_threshold@{source}": value for source, value in thresholds.items()},
                     **{name: float(values[index]) for name, values in scores.items()}})
    return rows


def orphan_groups(features: Path, unknown_label: str, fold_dirs: list[Path]) -> list[frozenset[str]]:
    """Per fold, the held-out class's groups that no fold tests, dealt round-robin so each is scored once.

    Without this a set whose groups each hold one class (workouts: one source, one exercise) would
    score no unknown clip at all: the class's groups leave the view with it. Any fold may score
    them, since no fold trained on that class or on those groups.
    """
    from pose_action.files import read_json
    from pose_action.layout import FeaturesLayout
    from pose_action.runs import SPLIT_FILE
    from pose_action.training.splits import read_clips

    splits = [read_json(fold_dir / SPLIT_FILE) for fold_dir in fold_dirs]
    # tested by a fold, or trained on by one (--max-folds: a group the folds left out is in the others' training)
    seen = {group for split in splits for side in ("test_groups", "train_groups", "val_groups")
            for group in split.get(side, [])}
    orphans = sorted({clip.group for clip in read_clips(FeaturesLayout(features)).clips
                      if clip.label == unknown_label} - seen)
    dealt: list[set[str]] = [set() for _ in fold_dirs]
    for index, group in enumerate(orphans):
        if fold_dirs:
            dealt[index % len(fold_dirs)].add(group)
    return [frozenset(groups) for groups in dealt]


def summarize(table: Any) -> list[dict]:
    """One row per score, pooled over every held-out class and fold, with the rejection figures at the
    stored thresholds (msp_calibrated, nearest_clip), at each novelty source's (nearest_clip@SOURCE) and
    of the served rule (either rejects; its AUROC is not one score's, so none)."""
    rows = []
    known, unknown = table[table["known"]], table[~table["known"]]

    def both(column: str, sign: float = 1.0) -> np.ndarray:
        return sign * np.r_[known[column].to_numpy(float), unknown[column].to_numpy(float)]

    def add(name: str, score: str, threshold: np.ndarray | None, **extra: Any) -> None:
        figures = open_set_figures(known[score].to_numpy(), unknown[score].to_numpy(), known["correct"].to_numpy(),
                                   threshold)
        aurocs = [auroc(known[known["held_out"] == held][score].to_numpy(),
                        unknown[unknown["held_out"] == held][score].to_numpy())
                  for held in sorted(table["held_out"].unique())]
        per_class = [value for value in aurocs if value is not None]
        rows.append({"score": name, **figures, "auroc_mean_per_class": float(np.mean(per_class)) if per_class else None,
                     **extra})

    heads = [column for column in table.columns if column.startswith(HEAD_SCORE.format(""))]
    learned = SCORES.index("nearest_clip") + 1
    for name in [*SCORES[:learned], *heads, *SCORES[learned:]]:
        if name not in table or table[name].isna().all():
            continue
        threshold = {"msp_calibrated": both("threshold"),
                     "nearest_clip": both("novelty_threshold", -1.0) if "novelty_threshold" in table else None}
        add(name, name, threshold.get(name))
    for column in [column for column in table.columns if column.startswith("novelty_threshold@")]:
        add(f"nearest_clip@{column.split('@', 1)[1]}", "nearest_clip", both(column, -1.0))
    if "nearest_clip" in table:  # margins below 0 where the rule rejects
        confidence_margin = table["msp_calibrated"] - table["threshold"]
        novelty_margin = table["novelty_threshold"] + table["nearest_clip"]
        rules = table.assign(**{
            SERVED: novelty_margin.fillna(confidence_margin),  # UnknownRule.of_run: the novelty where measured
            EITHER: np.minimum(confidence_margin, novelty_margin.fillna(np.inf))})
        known, unknown = rules[rules["known"]], rules[~rules["known"]]
        for name in (SERVED, EITHER):
            add(name, name, np.zeros(len(rules)))
            rows[-1].update(auroc=None, auroc_mean_per_class=None)
    return rows


def markdown(rows: list[dict], command: str, features: Path) -> str:
    def cell(value: Any) -> str:
        return "–" if value is None or value != value else f"{value:.3f}"

    lines = [f"Open set on {features} (leave one class out inside the group folds)", "", f"    {command}", "",
             "| score | AUROC | AUROC mean per class | unknown rejected | known rejected | open-set accuracy | "
             "known accuracy | known clips | unknown clips |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['score']} | {cell(row['auroc'])} | {cell(row['auroc_mean_per_class'])} | "
                     f"{cell(row.get('unknown_rejected'))} | {cell(row.get('known_rejected'))} | "
                     f"{cell(row.get('open_set_accuracy'))} | {cell(row['known_accuracy'])} | {row['known_clips']} | "
                     f"{row['unknown_clips']} |")
    lines += ["", "Rejection figures at each run's stored thresholds: msp_calibrated at calibration.threshold, "
              "nearest_clip at novelty.threshold, nearest_clip@SOURCE at the threshold that source would give, "
              f"{SERVED}: what predict and live do (the novelty where the run measures it, else the confidence), "
              f"{EITHER}: either threshold rejects."]
    return "\n".join(lines) + "\n"


def benchmark(args: argparse.Namespace, train_options: list[str], command: str) -> str:
    import pandas as pd

    from pose_action.cli import command_parser
    from pose_action.commands.train import options_from_args
    from pose_action.files import write_text_atomic
    from pose_action.layout import FeaturesLayout
    from pose_action.training.evaluate import cv_summary_line
    from pose_action.training.splits import read_clips
    from pose_action.training.train import train_cv

    features = args.features.resolve()
    labels = sorted({clip.label for clip in read_clips(FeaturesLayout(features)).clips})
    held_out = labels if args.classes is None else [name.strip() for name in args.classes.split(",") if name.strip()]
    unknown = sorted(set(held_out) - set(labels))
    if unknown:
        raise InputError(f"--classes: {', '.join(unknown)} not in {features} (classes: {', '.join(labels)})")
    if len(labels) < 3:
        raise InputError(f"{features}: need at least 3 classes (2 known ones to train on, 1 to hold out)")
    rows: list[dict] = []
    for label in held_out:
        view = make_view(features, args.out / VIEWS_DIR / f"without-{label}", label)
        run_dir = args.out / RUNS_DIR / f"without-{label}"
        argv = [str(view), "--out", str(run_dir), "--model", args.model, "--split", args.split, "--seed",
                str(args.seed), *(["--epochs", str(args.epochs)] if args.epochs is not None else []), *train_options]
        options = options_from_args(command_parser("train").parse_args(argv))
        summary = train_cv(view, run_dir, options, overwrite=args.overwrite, quiet=True, max_folds=args.max_folds)
        log.info("without %s: %s", label, cv_summary_line(summary))
        extra = orphan_groups(features, label, [run_dir / fold["run"] for fold in summary["folds"]])
        for fold, groups in zip(summary["folds"], extra):
            rows += fold_scores(run_dir / fold["run"], features, label, groups)
    table = pd.DataFrame(rows)
    write_text_atomic(args.out / CLIPS_NAME, table.to_csv(index=False, float_format="%.6g"))
    results = summarize(table)
    write_text_atomic(args.out / CSV_NAME, pd.DataFrame(results).to_csv(index=False, float_format="%.4f"))
    text = markdown(results, command, features)
    write_text_atomic(args.out / MD_NAME, text)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, train_options = parse_args(argv)
    command = shlex.join(["python", PROG, *argv])
    return run_script(PROG, lambda: benchmark(args, train_options, command),
                      "interrupted; finished folds are kept and a rerun resumes")


if __name__ == "__main__":
    sys.exit(main())
