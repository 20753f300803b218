"""Training time per epoch of each model on the synthetic set (this machine, its cores).

    python scripts/bench_train.py [FEATURES] [--epochs 3] [--frames 16] [--models ...]

FEATURES defaults to data/compare/features (made by scripts/compare_models.py); when it is
missing, a small synthetic set is rendered and extracted into a temporary folder first.
Prints, per model: parameters, the first epoch (includes graph tracing), the mean of the
following epochs, training clips per second, and prediction latency for one clip.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("keypoints", "pose", "rgb", "fusion", "lrcn", "convlstm")


def make_small_set(folder: Path) -> Path:
    program = [sys.executable, "-m", "pose_action"]
    subprocess.run([*program, "synth", str(folder / "videos"), "--actors", "3", "--clips", "2", "--quiet"],
                   check=True)
    subprocess.run([*program, "extract", str(folder / "videos"), "--out", str(folder / "features"),
                    "--thumb-size", "32", "--quiet"], check=True)
    return folder / "features"


def bench_model(name: str, features: Path, frames: int, epochs: int, batch_size: int) -> dict:
    import keras
    import numpy as np

    from pose_action.catalog import input_names
    from pose_action.layout import FeaturesLayout
    from pose_action.training import models
    from pose_action.training.augment import AugmentConfig
    from pose_action.training.batches import ClipBatches, keras_batches
    from pose_action.training.splits import make_split, read_clips
    from pose_action.training.train import TrainOptions, feature_config_for, resolve_recipe

    layout = FeaturesLayout(features)
    clips = read_clips(layout).clips
    labels = sorted({clip.label for clip in clips})
    options = TrainOptions(model=name, frames=frames, epochs=epochs)
    recipe = resolve_recipe(options)
    config = feature_config_for(options, recipe, layout)
    split = make_split(clips, "holdout", test_fraction=0.25, val_fraction=0.0)
    train = [clip for clip in clips if clip.key in set(split.train)]
    inputs = input_names(name, config.appearance)
    keras.utils.set_random_seed(0)
    model = models.build_model(name, config, len(labels), training_outputs=True)
    models.compile_model(model, recipe, -(-len(train) // batch_size))
    batches = ClipBatches(layout, train, labels, config, inputs, batch_size, shuffle=True, augment=AugmentConfig())
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    model.fit(keras_batches(batches, targets=True, outputs=models.output_names(model)), epochs=epochs,
              callbacks=[Timer()], verbose=0)
    model = models.inference_copy(model, name, config, len(labels))
    one = {key: value[None] for key, value in batches.clip_inputs(0).items()}
    model.predict_on_batch(one)
    started = time.perf_counter()
    for _ in range(10):
        model.predict_on_batch(one)
    latency = (time.perf_counter() - started) / 10
    steady = float(np.mean(times[1:])) if len(times) > 1 else times[0]
    return {"model": name, "parameters": model.count_params(), "first": times[0], "steady": steady,
            "clips_per_second": len(train) / steady, "latency_ms": 1000 * latency, "n_train": len(train)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", type=Path, nargs="?", default=Path("data/compare/features"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    args = parser.parse_args()
    from pose_action.layout import FeaturesLayout

    with tempfile.TemporaryDirectory() as scratch:
        features = args.features
        if not FeaturesLayout(features).manifest.is_file():
            print(f"{features}: no features; rendering and extracting a small synthetic set", file=sys.stderr)
            features = make_small_set(Path(scratch))
        results = [bench_model(name, features, args.frames, args.epochs, args.batch_size) for name in args.models]
    print(f"\n{results[0]['n_train']} training clips, T={args.frames}, batch {args.batch_size}, "
          f"{os.cpu_count()} CPU cores\n")
    print("| model | parameters | first epoch (s) | later epochs (s) | clips/s | predict 1 clip (ms) |")
    print("|---|---|---|---|---|---|")
    for row in results:
        print(f"| {row['model']} | {row['parameters']:,} | {row['first']:.1f} | {row['steady']:.2f} | "
              f"{row['clips_per_second']:.0f} | {row['latency_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
