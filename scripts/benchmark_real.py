"""Benchmark models on real footage: extract once, cross-validate every model on the same folds.

    python scripts/benchmark_real.py VIDEO_ROOT --group-pattern REGEX --models pose,lrcn,fusion --out DIR
        [--split logo|groupkfold:K|stratifiedgroupkfold:K] [--epochs N] [--seed S]
        [--pose-model lite|full|heavy|PATH] [--max-folds N] [--features EXISTING] [--conditions CSV]
        [--overwrite]
        [-- TRAIN OPTIONS]

VIDEO_ROOT is extracted once into DIR/features (`pose-action extract`: a rerun skips finished
videos); `--features EXISTING` uses a ready extraction instead. Every model then trains on the
same group-aware folds with `pose-action train --cv` (training.train.train_cv, the model's own
recipe: the train command's defaults, `--epochs` and anything after `--`), one run per fold in
DIR/runs/<model>/fold-K; a rerun keeps finished folds (and refuses to replace one trained with
other options unless --overwrite). Ctrl-C loses at most the fold in flight.

DIR/results.csv has one row per model: `accuracy_all` and `macro_f1_all` pooled over every
clip whose video decoded (manifest status ok or no_pose), a clip the model did not predict
counted wrong (training.pooled, the figure `train --cv` leads with); `clips_predicted` of
`clips_all`; the mean ± std of fold accuracies; `train_seconds` (fitting, summed over folds).
DIR/results.md holds the same table and the command that made it; the table is also printed.

Per head: a model trained with several heads (fusion: `pose_only`, `appearance_only`,
`motion_only` with motion, `fused`) records every head's test answers (metrics.json `heads`);
DIR/results_heads.csv pools each head over the folds like the model itself (`model` is
`fusion:pose_only` and so on), with `fusion:confidence_gate` (what `--param
fusion_gate=confidence` would serve from the pose and fused heads) beside them: what each stream
alone and each way of combining them scores, from the same trained folds.

Accuracy by condition: with `--conditions CSV` (default VIDEO_ROOT/conditions.csv when there is
one, as `pose-action synth` writes it: a `clip` key and 0/1 columns such as far, exit, dark,
crowd), DIR/results_by_condition.csv has, per model and condition, the clips with it and how
many were right (unpredicted ones count wrong); `none` is the clips without any condition and
`no_pose` those in which MediaPipe found nobody (from the manifest). results.md shows it too.
"""

from __future__ import annotations

import argparse
import functools
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pose_action.catalog import MODEL_NAMES
from pose_action.errors import InputError, run_script
from pose_action.extraction.discovery import DEFAULT_GROUP_PATTERN

if TYPE_CHECKING:
    from pose_action.training.train import TrainOptions

log = logging.getLogger("benchmark_real")

PROG = "scripts/benchmark_real.py"
COLUMNS = ("model", "accuracy_all", "macro_f1_all", "accuracy_mean", "accuracy_std", "clips_all", "clips_predicted",
           "train_seconds")
FEATURES_DIR, RUNS_DIR, RESULTS_CSV, RESULTS_MD = "features", "runs", "results.csv", "results.md"
BY_CONDITION_CSV, CONDITIONS_NAME = "results_by_condition.csv", "conditions.csv"
HEADS_CSV = "results_heads.csv"
# --models names that are not Keras models: scored on the same folds by classical_cv
CLASSICAL = {"hist": "colour, layout and texture histograms of the thumbnails, logistic regression (scikit-learn)"}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The script's own options, and the `pose-action train` options after `--` (for every model)."""
    own, train_options = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     epilog="Options after `--` go to `pose-action train` for every model, "
                                            "e.g. -- --frames 16 --param lstm_units=32.")
    parser.add_argument("video_root", metavar="VIDEO_ROOT", type=Path, nargs="?",
                        help="folder of <Class>/<clip> videos (or a CSV list); not needed with --features")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="features, runs and results go here")
    parser.add_argument("--models", required=True, help="comma-separated model names, e.g. pose,lrcn,fusion")
    parser.add_argument("--group-pattern", default=DEFAULT_GROUP_PATTERN, metavar="REGEX",
                        help="regex whose first group is a file's group (person, source); default UCF50's")
    parser.add_argument("--split", default="logo", help="logo (default), groupkfold:K or stratifiedgroupkfold:K")
    parser.add_argument("--epochs", type=int, default=None, help="override every model's epochs (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pose-model", default="lite", metavar="lite|full|heavy|PATH")
    parser.add_argument("--max-folds", type=int, default=None, metavar="N",
                        help="train only the first N folds (trials: clips of the other folds count as not predicted)")
    parser.add_argument("--features", type=Path, default=None, metavar="EXISTING",
                        help="a ready features folder: no extraction")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="extraction processes (default: all cores)")
    parser.add_argument("--conditions", type=Path, default=None, metavar="CSV",
                        help="per-clip 0/1 conditions (clip,far,exit,...) for accuracy by condition; "
                             "default VIDEO_ROOT/conditions.csv when present")
    parser.add_argument("--overwrite", action="store_true",
                        help="retrain every fold of every model (finished folds trained with other options are "
                             "otherwise refused); the extraction is kept")
    return parser.parse_args(own), train_options


def model_names(text: str) -> list[str]:
    """The --models list, each name checked against pose_action.catalog (order kept, repeats dropped)."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in MODEL_NAMES and name not in CLASSICAL]
    if unknown:
        raise InputError(f"--models: unknown model {unknown[0]!r} (choose from "
                         f"{', '.join([*MODEL_NAMES, *CLASSICAL])})")
    if not names:
        raise InputError(f"--models {text!r}: name at least one of {', '.join(MODEL_NAMES)}")
    return names


def model_options(model: str, run_dir: Path, features: Path, args: argparse.Namespace,
                  train_options: list[str]) -> TrainOptions:
    """The model's TrainOptions exactly as `pose-action train FEATURES --model M --split S --cv ...` makes them."""
    from pose_action.cli import command_parser
    from pose_action.commands.train import options_from_args

    argv = [str(features), "--out", str(run_dir), "--model", model, "--split", args.split, "--seed", str(args.seed),
            *(["--epochs", str(args.epochs)] if args.epochs is not None else []), *train_options]
    return options_from_args(command_parser("train").parse_args(argv))


def classical_cv(features: Path, out: Path, split: str, seed: int, max_folds: int | None = None) -> dict:
    """`hist` on the folds train --cv makes (training.splits.make_split, no validation clips): a
    train_cv-like summary, and OUT/fold-K/metrics.json with the predictions (for conditions).

    The descriptor is extraction.appearance.thumbnail_descriptor of each clip's stored
    thumbnails; standardized, then multinomial logistic regression with balanced class weights.
    """
    import time

    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pose_action.extraction.appearance import read_appearance, thumbnail_descriptor
    from pose_action.files import write_json
    from pose_action.layout import FeaturesLayout
    from pose_action.training.evaluate import evaluation_metrics
    from pose_action.training.pooled import cv_scores
    from pose_action.training.splits import fold_count, make_split, parse_kind, read_clips

    layout = FeaturesLayout(features)
    clips = read_clips(layout).clips
    labels = sorted({clip.label for clip in clips})
    vectors = np.stack([thumbnail_descriptor(read_appearance(layout.thumbnails(clip.key), "thumbs")[1])
                        for clip in clips])
    targets = np.array([labels.index(clip.label) for clip in clips])
    kind, count = parse_kind(split)
    total = fold_count(clips, kind, count)
    fold_metrics, results, seconds = [], [], 0.0
    for fold in range(min(total, max_folds or total)):
        chosen = make_split(clips, split, fold=fold, val_fraction=0.0, seed=seed)
        train = np.array([clip.key in set(chosen.train) for clip in clips])
        test = np.array([clip.key in set(chosen.test) for clip in clips])
        started = time.perf_counter()
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced"))
        model.fit(vectors[train], targets[train])
        seconds += time.perf_counter() - started
        probabilities = np.zeros((int(test.sum()), len(labels)))
        probabilities[:, model.classes_] = model.predict_proba(vectors[test])
        metrics = evaluation_metrics(probabilities, [clip for clip, held in zip(clips, test) if held], labels)
        write_json(out / f"fold-{fold}" / "metrics.json", metrics)
        fold_metrics.append(metrics)
        results.append({"fold": fold, "test_groups": metrics["test_groups"], "n_test": metrics["n_test"],
                        "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]})
    summary = {"model": "hist", "split": split, **cv_scores(features, fold_metrics), "folds_total": total,
               "train_seconds": round(seconds, 2), "folds": results, "seed": seed, "features_root": str(features)}
    write_json(out / "cv.json", summary)
    return summary


def extract_features(args: argparse.Namespace) -> Path:
    """DIR/features from VIDEO_ROOT (resumable), or --features as it is."""
    if args.features is not None:
        if args.video_root is not None:
            log.info("--features %s: using it as it is; %s is not extracted", args.features, args.video_root)
        return args.features
    if args.video_root is None:
        raise InputError("give VIDEO_ROOT to extract, or --features EXISTING")
    from pose_action.extraction.pool import default_workers
    from pose_action.extraction.run import extract_videos
    from pose_action.extraction.settings import make_settings

    features = args.out / FEATURES_DIR
    report = extract_videos(args.video_root, features, functools.partial(make_settings, args.pose_model),
                            workers=args.workers or default_workers(), group_pattern=args.group_pattern)
    failed = report.count("failed")
    log.info("extracted %s -> %s: %d videos done now, %d already done%s", args.video_root, features,
             len(report.rows), report.skipped,
             f", {failed} failed to decode (left out of every score)" if failed else "")
    return features


def result_row(model: str, summary: dict) -> dict:
    """One results.csv row from a train_cv summary."""
    return {"model": model, **{column: summary[column] for column in COLUMNS[1:]}}


def markdown(rows: list[dict], command: str, summary: dict) -> str:
    """results.md: the table and the command that made it."""
    folds, total = len(summary["folds"]), summary["folds_total"]
    folds_text = f"{folds} folds" if folds == total else f"the first {folds} of {total} folds"
    lines = [f"`{summary['split']}` cross-validation, {folds_text}, seed {summary['seed']}; features "
             f"`{summary['features_root']}`. Accuracy and macro F1 pooled over all {rows[0]['clips_all']} clips whose "
             "video decoded (a clip a model did not predict counts wrong); fold mean ± std is secondary.", "",
             "| model | accuracy (all clips) | macro F1 (all clips) | fold accuracy mean ± std | clips predicted "
             "| train s |", "|---|---|---|---|---|---|"]
    lines += [f"| {row['model']} | {row['accuracy_all']:.3f} | {row['macro_f1_all']:.3f} | "
              f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f} | {row['clips_predicted']} / {row['clips_all']} "
              f"| {row['train_seconds']:.0f} |" for row in rows]
    return "\n".join([*lines, "", "```bash", command, "```", ""])


def confidence_gate(pose_only, fused, power: float = 1.0):
    """training.models.ConfidenceGate in NumPy: the pose-only answer weighs by its confidence above chance."""
    import numpy as np

    chance = 1.0 / pose_only.shape[1]
    weight = np.clip((pose_only.max(axis=1, keepdims=True) - chance) / (1.0 - chance), 0.0, 1.0) ** power
    return weight * pose_only + (1.0 - weight) * fused


def head_rows(model: str, run_dir: Path, features: Path) -> list[dict]:
    """results_heads.csv rows: each recorded head of a model's folds (and their confidence gate), pooled."""
    import numpy as np

    from pose_action.files import read_json
    from pose_action.layout import FeaturesLayout
    from pose_action.training.pooled import decoded_clips, pool_predictions

    folds = [read_json(path) for path in sorted(run_dir.glob("fold-*/metrics.json"))]
    if not folds or not all("heads" in metrics for metrics in folds):
        return []
    labels_of = [read_json(path.parent / "labels.json") for path in sorted(run_dir.glob("fold-*/metrics.json"))]
    answers: dict[str, list[dict]] = {}
    for metrics, labels in zip(folds, labels_of):
        heads = {name: np.asarray(values) for name, values in metrics["heads"]["probabilities"].items()}
        if {"pose_only", "fused"} <= set(heads):
            heads["confidence_gate"] = confidence_gate(heads["pose_only"], heads["fused"])
        for name, probabilities in heads.items():
            answers.setdefault(name, []).extend(
                {"key": item["key"], "label": item["label"], "predicted": labels[int(row.argmax())]}
                for item, row in zip(metrics["predictions"], probabilities))
    truth = decoded_clips(FeaturesLayout(features))
    rows = []
    for name, predictions in answers.items():
        score = pool_predictions(truth, predictions)
        rows.append({"model": f"{model}:{name}", "accuracy_all": score.accuracy, "macro_f1_all": score.macro_f1,
                     "clips_all": score.clips_all, "clips_predicted": score.clips_predicted})
    return rows


def heads_markdown(rows: list[dict]) -> str:
    """The per-head table of results.md."""
    lines = ["Each head of the same trained folds, pooled the same way (`confidence_gate`: the confidence gate's "
             "mix of `pose_only` and `fused`):", "", "| model:head | accuracy (all clips) | macro F1 (all clips) |",
             "|---|---|---|"]
    lines += [f"| {row['model']} | {row['accuracy_all']:.3f} | {row['macro_f1_all']:.3f} |" for row in rows]
    return "\n".join(lines) + "\n"


def read_conditions(path: Path) -> dict[str, set[str]]:
    """condition -> the clip keys that have it, from a conditions.csv (`clip` plus 0/1 columns)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype={"clip": str})
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot be read as a conditions CSV ({error})") from None
    flags = [column for column in table.columns if column != "clip"]
    if "clip" not in table.columns or not flags:
        raise InputError(f"{path}: a conditions CSV needs a `clip` column and at least one 0/1 column")
    try:
        marks = table[flags].fillna(0).astype(float) > 0
    except ValueError:
        raise InputError(f"{path}: condition columns must hold 0 or 1") from None
    return {flag: set(table.loc[marks[flag], "clip"]) for flag in flags}


def condition_rows(model: str, run_dir: Path, features: Path, conditions: dict[str, set[str]]) -> list[dict]:
    """Per condition (and `none`, `no_pose`): clips, correct and accuracy of one model's test predictions."""
    from pose_action.extraction.manifest import read_table
    from pose_action.files import read_json
    from pose_action.layout import FeaturesLayout
    from pose_action.training.pooled import decoded_clips

    layout = FeaturesLayout(features)
    truth = decoded_clips(layout)
    predicted = {str(item["key"]): str(item["predicted"])
                 for path in sorted(run_dir.glob("fold-*/metrics.json")) for item in read_json(path)["predictions"]}
    table = read_table(layout.manifest, required=("status",))
    groups = dict(conditions)
    groups["none"] = set(truth) - set().union(*conditions.values())
    groups["no_pose"] = set(table.loc[table["status"].astype(str) == "no_pose", "key"].astype(str))
    rows = []
    for name, keys in groups.items():
        keys = sorted(keys & set(truth))
        correct = sum(predicted.get(key) == truth[key] for key in keys)
        rows.append({"model": model, "condition": name, "clips": len(keys), "correct": correct,
                     "accuracy": correct / len(keys) if keys else float("nan")})
    return rows


def condition_markdown(rows: list[dict]) -> str:
    """Accuracy by condition: a row per model, a column per condition (accuracy and clip count)."""
    names = list(dict.fromkeys(row["condition"] for row in rows))
    models = list(dict.fromkeys(row["model"] for row in rows))
    cell = {(row["model"], row["condition"]): row for row in rows}
    counts = {name: next(row["clips"] for row in rows if row["condition"] == name) for name in names}
    lines = ["Accuracy by condition (clips with it; a clip may have several):", "",
             "| model | " + " | ".join(f"{name} ({counts[name]})" for name in names) + " |",
             "|---|" + "---|" * len(names)]
    for model in models:
        values = [cell[(model, name)]["accuracy"] for name in names]
        lines.append(f"| {model} | " + " | ".join("–" if value != value else f"{value:.2f}" for value in values) + " |")
    return "\n".join(lines) + "\n"


def write_results(out: Path, rows: list[dict], command: str, summary: dict,
                  by_condition: list[dict] | None = None, heads: list[dict] | None = None) -> str:
    """results.csv and results.md (atomically: a reader never sees half a table); returns the markdown."""
    import pandas as pd

    from pose_action.files import write_text_atomic

    table = markdown(rows, command, summary)
    if heads:
        table += "\n" + heads_markdown(heads)
        write_text_atomic(out / HEADS_CSV, pd.DataFrame(heads).to_csv(index=False, float_format="%.4f"))
    if by_condition:
        table += "\n" + condition_markdown(by_condition)
        write_text_atomic(out / BY_CONDITION_CSV, pd.DataFrame(by_condition).to_csv(index=False, float_format="%.4f"))
    write_text_atomic(out / RESULTS_CSV, pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(index=False,
                                                                                         float_format="%.4f"))
    write_text_atomic(out / RESULTS_MD, table)
    return table


def benchmark(args: argparse.Namespace, train_options: list[str], command: str) -> str:
    """Extract, cross-validate every model on the same folds, write the results; returns the markdown table."""
    from pose_action.training.evaluate import cv_summary_line
    from pose_action.training.splits import FOLDED_KINDS, parse_kind
    from pose_action.training.train import train_cv

    models = model_names(args.models)
    if parse_kind(args.split)[0] not in FOLDED_KINDS:
        raise InputError(f"--split {args.split!r}: the benchmark cross-validates; use logo, groupkfold:K or "
                         "stratifiedgroupkfold:K")
    runs = args.out / RUNS_DIR
    features = args.features if args.features is not None else args.out / FEATURES_DIR
    options = {model: model_options(model, runs / model, features, args, train_options)
               for model in models if model not in CLASSICAL}
    conditions_path = args.conditions
    if conditions_path is None and args.video_root is not None and (args.video_root / CONDITIONS_NAME).is_file():
        conditions_path = args.video_root / CONDITIONS_NAME
    conditions = read_conditions(conditions_path) if conditions_path is not None else None  # before any work
    features = extract_features(args)
    rows, by_condition, heads, table = [], [], [], ""
    for model in models:
        summary = (classical_cv(features, runs / model, args.split, args.seed, args.max_folds) if model in CLASSICAL
                   else train_cv(features, runs / model, options[model], overwrite=args.overwrite, quiet=True,
                                 max_folds=args.max_folds))
        log.info("%s: %s", model, cv_summary_line(summary))
        rows.append(result_row(model, summary))
        heads += head_rows(model, runs / model, features)
        if conditions is not None:
            by_condition += condition_rows(model, runs / model, features, conditions)
        # after every model: a stop keeps the rest
        table = write_results(args.out, rows, command, summary, by_condition, heads)
    return table


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, train_options = parse_args(argv)
    command = shlex.join(["python", PROG, *argv])
    return run_script(PROG, lambda: benchmark(args, train_options, command),
                      "interrupted; extracted videos and finished folds are kept and a rerun resumes")


if __name__ == "__main__":
    sys.exit(main())
