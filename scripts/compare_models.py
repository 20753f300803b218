"""Compare every model (pose_action.catalog.MODEL_NAMES) on a synthetic dataset with held-out actors; print a table.

    python scripts/compare_models.py [--work data/compare] [--actors 8] [--clips 3] ...

Renders `pose-action synth` videos (every drawn action; TennisSwing/BaseballSwing share their motion
and differ only by scene and prop), extracts them with the real pose model (with --motion when the
`motion` model is among --models), trains every model
on the same group-aware split (test actors never seen in training) and prints a markdown
table with the commands that made it. Steps whose outputs exist are reused (extraction
resumes), so a rerun only retrains. Sized for ~15 min on 2 CPU cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from pose_action.catalog import MODEL_NAMES
from pose_action.synth.motions import ACTIONS, SCENE_PAIRS

SCENE_PAIR_CLASSES = tuple(name for pair in SCENE_PAIRS for name in pair)


def run_step(command: list[str], log_lines: list[str]) -> float:
    """Run one pose-action command (echoed), fail loudly; return its wall time."""
    text = " ".join(shlex.quote(part) for part in command)
    log_lines.append(text)
    print(f"$ {text}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    completed = subprocess.run(command, check=False, stdout=sys.stderr)  # stdout: the table only
    if completed.returncode != 0:
        sys.exit(f"step failed with exit code {completed.returncode}: {text}")
    return time.perf_counter() - started


def subset_accuracy(predictions: list[dict], classes: set[str], inside: bool) -> float | None:
    chosen = [p for p in predictions if (p["label"] in classes) == inside]
    if not chosen:
        return None
    return sum(p["label"] == p["predicted"] for p in chosen) / len(chosen)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("data/compare"), help="videos, features and runs go here")
    parser.add_argument("--actors", type=int, default=12)
    parser.add_argument("--clips", type=int, default=2, help="clips per actor and class")
    parser.add_argument("--thumb-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=16, help="T")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=12)
    parser.add_argument("--test-fraction", type=float, default=0.25, help="share of actors held out for test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    args = parser.parse_args()

    program = [sys.executable, "-m", "pose_action"]
    commands: list[str] = []
    videos, features, runs = args.work / "videos", args.work / "features", args.work / "runs"
    timings = {}
    if not (videos / "Wave").is_dir():
        timings["synth"] = run_step([*program, "synth", str(videos), "--actors", str(args.actors),
                                     "--clips", str(args.clips), "--seed", str(args.seed), "--quiet"], commands)
    motion = ["--motion"] if "motion" in args.models else []
    timings["extract"] = run_step([*program, "extract", str(videos), "--out", str(features),
                                   "--thumb-size", str(args.thumb_size), *motion, "--quiet"], commands)
    rows = []
    for model in args.models:
        out = runs / model
        seconds = run_step([*program, "train", str(features), "--out", str(out), "--model", model,
                            "--frames", str(args.frames), "--epochs", str(args.epochs),
                            "--patience", str(args.patience), "--test-fraction", str(args.test_fraction),
                            "--seed", str(args.seed),
                            "--overwrite", "--quiet"], commands)
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        predictions = metrics["predictions"]
        rows.append({"model": model, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                     "pair": subset_accuracy(predictions, set(SCENE_PAIR_CLASSES), inside=True),
                     "motion": subset_accuracy(predictions, set(SCENE_PAIR_CLASSES), inside=False),
                     "epochs": metrics["epochs_trained"], "per_epoch": metrics["seconds_per_epoch"],
                     "parameters": metrics.get("parameters"), "wall": seconds, "n_train": metrics["n_train"],
                     "n_test": metrics["n_test"], "test_groups": metrics["test_groups"]})

    first = rows[0]
    print(f"\nSynthetic set: {args.actors} actors x {args.clips} clips x {len(ACTIONS)} classes; test actors "
          f"{', '.join(first['test_groups'])} ({first['n_test']} clips) never seen in training "
          f"({first['n_train']} training clips); T={args.frames}, {args.thumb_size}px thumbnails.\n")
    print(f"| model | accuracy | macro F1 | {'/'.join(SCENE_PAIR_CLASSES)} (same motion) "
          f"| other {len(ACTIONS) - len(SCENE_PAIR_CLASSES)} classes (same scene) "
          "| parameters | epochs | s/epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        parameters = f"{row['parameters']:,}" if row["parameters"] else "–"
        print(f"| {row['model']} | {percent(row['accuracy'])} | {row['macro_f1']:.2f} | {percent(row['pair'])} "
              f"| {percent(row['motion'])} | {parameters} | {row['epochs']} | {row['per_epoch']:.2f} |")
    total = sum(timings.values()) + sum(row["wall"] for row in rows)
    print(f"\nMade with (total {total / 60:.1f} min on this machine; "
          + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()) + "):\n")
    print("```bash")
    print(f"python scripts/compare_models.py --work {args.work} --actors {args.actors} --clips {args.clips} "
          f"--thumb-size {args.thumb_size} --frames {args.frames} --epochs {args.epochs} --patience {args.patience} "
          f"--test-fraction {args.test_fraction} --seed {args.seed} --models {' '.join(args.models)}")
    print("# which runs:")
    for command in commands:
        print("#   " + command.replace(sys.executable + " -m pose_action", "pose-action"))
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
