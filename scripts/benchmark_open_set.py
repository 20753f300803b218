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
- at the run's own stored threshold (config.json calibration.threshold, on the calibrated top
  probability, what predict and live use): the share of unknown clips rejected, the share of
  known clips wrongly rejected, and open-set accuracy (known clips right and not rejected,
  unknown clips rejected, over all clips);
- known-clip accuracy (closed set, over the known classes of each run).

Score functions (higher = more likely known), side by side on the same folds and clips:
  msp             max softmax probability of the raw model (what predict used before calibration)
  msp_calibrated  the same after the run's temperature (the default score of predict and live)
  energy          logsumexp of the logits (Liu et al. 2020), from the output layer's input
  max_logit       the largest logit
  class_mean      minus the cosine distance of the clip's embedding (the output layer's input) to
                  the nearest mean of a known class over the fold's training clips
  nearest_clip    minus the cosine distance of the embedding to the nearest training clip's
The logit and embedding scores read the model's softmax Dense layer: its output layer (pose,
keypoints, rgb, lrcn, convlstm, motion, fusion with --param fusion_gate=none) or, for a fusion
serving a mix of heads, its fused head (the one that reads every stream).
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
SCORES = ("msp", "msp_calibrated", "energy", "max_logit", "class_mean", "nearest_clip")
VIEWS_DIR, RUNS_DIR = "views", "runs"
CSV_NAME, MD_NAME, CLIPS_NAME = "open_set.csv", "open_set.md", "open_set_clips.csv"
# what a view of the features shares with the folder it shows (every other entry is left out)
FUSED_HEAD = "probabilities"  # the fused head's Dense layer in a fusion with a head mix (training.models)
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


def unit(values: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity is then a dot product)."""
    values = np.asarray(values, dtype=np.float64)
    return values / np.maximum(np.linalg.norm(values, axis=-1, keepdims=True), 1e-12)


def class_mean_scores(embeddings: np.ndarray, train_embeddings: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """Minus the cosine distance to the nearest class mean of the training embeddings."""
    means = unit(np.stack([unit(train_embeddings[train_labels == label]).mean(axis=0)
                           for label in np.unique(train_labels)]))
    return (unit(embeddings) @ means.T).max(axis=1) - 1.0


def nearest_clip_scores(embeddings: np.ndarray, train_embeddings: np.ndarray) -> np.ndarray:
    """Minus the cosine distance to the nearest training clip's embedding (a class may have several modes)."""
    return (unit(embeddings) @ unit(train_embeddings).T).max(axis=1) - 1.0


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
    """(embedding model, W, b) of the model's softmax Dense head; None if it has none.

    A model whose output is that layer gives its own; a fusion that serves a mix of heads gives
    its fused head (the Dense layer named FUSED_HEAD), whose logits and embedding read every stream."""
    import keras

    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        last = next((layer for layer in model.layers
                     if layer.name == FUSED_HEAD and isinstance(layer, keras.layers.Dense)), None)
        if last is None:
            return None
    weights, bias = (np.asarray(value) for value in last.get_weights())
    return keras.Model(model.inputs, last.input), weights, bias


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
    from pose_action.training.evaluate import predict_clips
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
    if parts is not None:
        embed, weights, bias = parts
        embeddings = predict_clips(embed, layout, chosen, labels, config, inputs)
        scores.update(logit_scores(embeddings @ weights + bias))
        train_embeddings = predict_clips(embed, layout, train, labels, config, inputs)
        train_labels = np.array([labels.index(clip.label) for clip in train])
        scores["class_mean"] = class_mean_scores(embeddings, train_embeddings, train_labels)
        scores["nearest_clip"] = nearest_clip_scores(embeddings, train_embeddings)
    rows = []
    for index, clip in enumerate(chosen):
        is_known = index < len(known)
        rows.append({"held_out": unknown_label, "fold": fold_dir.name, "key": clip.key,
                     "label": clip.label if is_known else unknown_label, "known": is_known,
                     "predicted": labels[int(raw[index].argmax())],
                     "correct": bool(is_known and labels[int(raw[index].argmax())] == clip.label),
                     "threshold": run.config.calibration.threshold,
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

    tested = {group for fold_dir in fold_dirs for group in read_json(fold_dir / SPLIT_FILE)["test_groups"]}
    orphans = sorted({clip.group for clip in read_clips(FeaturesLayout(features)).clips
                      if clip.label == unknown_label} - tested)
    dealt: list[set[str]] = [set() for _ in fold_dirs]
    for index, group in enumerate(orphans):
        if fold_dirs:
            dealt[index % len(fold_dirs)].add(group)
    return [frozenset(groups) for groups in dealt]


def summarize(table: Any) -> list[dict]:
    """One row per score: pooled over every held-out class and fold; the threshold on msp_calibrated only."""
    rows = []
    known, unknown = table[table["known"]], table[~table["known"]]
    for name in SCORES:
        if name not in table or table[name].isna().all():
            continue
        threshold = (np.r_[known["threshold"].to_numpy(), unknown["threshold"].to_numpy()]
                     if name == "msp_calibrated" else None)
        figures = open_set_figures(known[name].to_numpy(), unknown[name].to_numpy(), known["correct"].to_numpy(),
                                   threshold)
        aurocs = [auroc(known[known["held_out"] == held][name].to_numpy(),
                        unknown[unknown["held_out"] == held][name].to_numpy())
                  for held in sorted(table["held_out"].unique())]
        per_class = [value for value in aurocs if value is not None]
        rows.append({"score": name, **figures,
                     "auroc_mean_per_class": float(np.mean(per_class)) if per_class else None})
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
    lines += ["", "Rejection figures at each run's stored threshold (config.json calibration.threshold) on the "
              "calibrated top probability, the default of predict and live."]
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
