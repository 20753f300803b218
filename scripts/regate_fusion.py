"""How a fusion cross-validation scores with other confidence gates, without retraining.

    python scripts/regate_fusion.py RUNS_DIR FEATURES [--powers 0.5,1,2,4]

RUNS_DIR is a fusion model's cross-validation (`train --cv` or scripts/benchmark_real.py's
DIR/runs/fusion): its fold-K runs. ConfidenceGate has no weights and training never uses it
(the training form has both heads as outputs), so a fold's pose-only and fused probabilities
are what any `--param gate_power` would have trained too; this prints the pooled accuracy over
the folds' test clips of the pose-only head, the fused head, their mean and each gate power.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def gate(pose_only: np.ndarray, fused: np.ndarray, power: float) -> np.ndarray:
    """What the served fusion model answers with `gate_power` = power: its own ConfidenceGate layer."""
    from pose_action.training.models import ConfidenceGate

    return np.asarray(ConfidenceGate(power)(pose_only, fused))


def head_outputs(runs_dir: Path, features: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pose-only probabilities, fused probabilities, true class) of every fold's test clips."""
    import keras

    import pose_action.training.models  # noqa: F401  (registers the custom layers)
    from pose_action.files import read_json
    from pose_action.layout import FeaturesLayout
    from pose_action.runs import load_run
    from pose_action.training.batches import ClipBatches, keras_batches
    from pose_action.training.splits import read_clips

    layout = FeaturesLayout(features)
    clips = read_clips(layout).clips
    pose_only, fused, truth = [], [], []
    for fold in sorted(runs_dir.glob("fold-*"), key=lambda path: int(path.name.split("-")[1])):
        run = load_run(fold)
        model = keras.saving.load_model(run.model_path, compile=False)
        heads = keras.Model(model.inputs, list(model.get_layer("confidence_gate").input))
        test = set(read_json(fold / "split.json")["test"])
        fold_clips = [clip for clip in clips if clip.key in test]
        labels = list(run.labels)
        batches = ClipBatches(layout, fold_clips, labels, run.config.features, [t.name for t in model.inputs], 16,
                              cache_sequences=False)
        p, f = heads.predict(keras_batches(batches, targets=False), verbose=0)
        pose_only.append(p)
        fused.append(f)
        truth += [labels.index(clip.label) for clip in fold_clips]
    if not truth:
        raise SystemExit(f"{runs_dir}: no fold-K fusion runs with test clips")
    return np.concatenate(pose_only), np.concatenate(fused), np.array(truth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs_dir", type=Path, help="a fusion cross-validation folder (fold-K runs)")
    parser.add_argument("features", type=Path, help="the features folder it was trained on")
    parser.add_argument("--powers", default="0.5,1,2,4", help="gate powers to score (comma-separated)")
    args = parser.parse_args(argv)
    pose_only, fused, truth = head_outputs(args.runs_dir, args.features)
    print(f"{len(truth)} test clips; pooled accuracy")
    for name, probabilities in (("pose-only head", pose_only), ("fused head", fused),
                                ("mean of the two", (pose_only + fused) / 2)):
        print(f"  {name:<16} {(probabilities.argmax(axis=1) == truth).mean():.3f}")
    for power in (float(text) for text in args.powers.split(",")):
        print(f"  gate power {power:<5g} {(gate(pose_only, fused, power).argmax(axis=1) == truth).mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
