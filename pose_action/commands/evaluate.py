"""Evaluate a trained run on its held-out test clips (or every clip of another features folder).

Reads the clips through the same feature function as training, writes metrics.json,
classification_report.csv and confusion_matrix.png, and prints accuracy and macro F1.
A cross-validation run (`train --cv`) evaluates every fold and prints the accuracy pooled over
every clip of the set, then mean ± std of the folds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pose_action import runs
from pose_action.errors import InputError
from pose_action.files import check_apart, check_writable
from pose_action.training.batches import BATCH_SIZE
from pose_action.training.evaluate import cv_summary_line, evaluate_cv, evaluate_run, summary_line

# What Ctrl-C leaves (cli.py prints it after the command's name).
INTERRUPTED = "interrupted; no report was written"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a run directory written by `pose-action train` (or its --cv folder)")
    parser.add_argument("--features", type=Path, default=None,
                        help="features folder (default: the one the run was trained on)")
    parser.add_argument("--clips", choices=("test", "all"), default="test",
                        help="the run's held-out test clips (default) or every clip of --features")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the reports (default: the run for its own test split, "
                             "else RUN/evaluations/<features folder name>)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _trained_on(run: Path) -> str | None:
    """The features folder a run was trained on (its config.json), or None when it does not say."""
    try:
        return runs.load_run(run).config.features_root or None
    except InputError:
        return None


def run(args: argparse.Namespace) -> int:
    if args.out:  # reports written over the run being read, or into a features folder, would replace its files
        check_apart(args.out, (args.run, args.features, _trained_on(args.run)), containing=False)
    if args.out or args.run.is_dir():  # the reports go there: a read-only location fails now, not after predicting
        check_writable(args.out or args.run)
    options = {"features_root": args.features, "which": args.clips, "batch_size": args.batch_size}
    if (args.run / runs.CV_FILE).is_file():
        if args.out:
            raise InputError("--out is not supported for a cross-validation run (each fold writes its own reports)")
        summary = evaluate_cv(args.run, **options)
        for metrics in summary["folds"]:
            print(f"fold {metrics['fold']}: {summary_line(metrics)}")
        print(cv_summary_line(summary))
        return 0
    metrics = evaluate_run(args.run, out=args.out, **options)
    print(summary_line(metrics))
    return 0
