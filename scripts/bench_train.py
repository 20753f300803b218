"""Where a model's training time goes: clips/s for training, the loader alone and the model alone.

    python scripts/bench_train.py [FEATURES] [--epochs 3] [--models fusion pose ...]
    python scripts/bench_train.py FEATURES --models fusion fusion:scene_frames=0 fusion:cnn=conv

Measures at the real defaults of `pose-action train` (its split, T, thumbnail size as extracted,
batch size, the model's recipe with its augmentation and class weights), through the package's own
data loading, model building, batches and fit, unless a model spec overrides them:
`MODEL[:NAME=VALUE,...]`, where NAME is a TrainOptions field (scene_frames, frames,
batch_size, ...) or a model param (cnn, cnn_filters, ...; values parsed as JSON).
FEATURES defaults to data/compare/features; when it is missing, a small synthetic set is
rendered and extracted into a temporary folder first.

Per model it prints: parameters; training clips/s (model.fit fed by the loader, as `train`
runs it); the loader alone (features, augmentation and batching, no model); the model alone
(fit on batches already in memory); and prediction latency for one clip. The smaller of the
last two is the bottleneck. Epoch times leave out the first epoch (graph tracing); each
epoch's seconds go to stderr. `--repeat K` lists the training clips K times per epoch: a
71-clip epoch is 5 steps, and UCF50's is hundreds, so this shows the steady rate a large set
trains at.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pose_action.catalog import MODEL_NAMES as MODELS


def make_small_set(folder: Path) -> Path:
    program = [sys.executable, "-m", "pose_action"]
    subprocess.run([*program, "synth", str(folder / "videos"), "--actors", "3", "--clips", "2", "--quiet"],
                   check=True)
    subprocess.run([*program, "extract", str(folder / "videos"), "--out", str(folder / "features"), "--quiet"],
                   check=True)
    return folder / "features"


def parse_spec(spec: str) -> tuple[str, dict, dict]:
    """`fusion:scene_frames=0,cnn=conv` -> ("fusion", TrainOptions overrides, model params)."""
    from pose_action.training.train import TrainOptions

    name, _, rest = spec.partition(":")
    if name not in MODELS:
        raise SystemExit(f"{spec}: unknown model {name!r} (choose from {', '.join(MODELS)})")
    fields = {field.name for field in dataclasses.fields(TrainOptions)}
    options: dict = {}
    params: dict = {}
    for item in filter(None, re.split(r",(?=\w+=)", rest)):  # values may hold commas: [8,16]
        key, _, value = item.partition("=")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        (options if key in fields else params)[key] = parsed
    return name, options, params


def steady_seconds(times: list[float], what: str = "") -> float:
    """Mean epoch time after the first (graph tracing); every epoch's time goes to stderr, so a
    slow one (another job on the cores) is visible."""
    print(f"  {what} epoch seconds: {', '.join(f'{t:.3f}' for t in times)}", file=sys.stderr)
    import numpy as np

    return float(np.mean(times[1:])) if len(times) > 1 else times[0]


def bench_model(spec: str, features: Path, epochs: int, repeat: int = 1) -> dict:
    import keras

    from pose_action.catalog import input_names
    from pose_action.training import models
    from pose_action.training.train import (
        TrainOptions,
        build_trainee,
        fit,
        load_training_data,
        set_seeds,
        training_batches,
    )

    name, overrides, params = parse_spec(spec)
    options = TrainOptions(model=name, params=params, **{"test_fraction": 0.25, **overrides})
    data = load_training_data(features, options)  # the split, recipe and feature config `train` uses
    data = dataclasses.replace(data, train=data.train * repeat,
                               recipe=dataclasses.replace(data.recipe, epochs=epochs))
    params = models.resolve_params(options.params)
    config, labels = data.config, data.labels
    inputs = input_names(name, config.appearance, config.motion)
    set_seeds(options.seed)

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    # the loader alone: every batch of `epochs` epochs, as a training epoch asks for them
    loader = training_batches(data, options, inputs)
    loader_times = []
    for _ in range(epochs):
        started = time.perf_counter()
        held = [loader.batch(index) for index in range(len(loader))]
        loader.on_epoch_end()
        loader_times.append(time.perf_counter() - started)

    # the model alone: fit on one epoch's batches held in memory
    model = build_trainee(options, data, params)
    outputs = models.output_names(model)

    def in_memory():  # the same tf.data feeding as training, minus the work of making batches
        while True:  # endless, one iterator for the run, as `train` feeds fit
            for batch_inputs, targets, weights in held:
                if outputs:
                    yield batch_inputs, {o: targets for o in outputs}, {o: weights for o in outputs}
                else:
                    yield batch_inputs, targets, weights

    import tensorflow as tf

    signature = tf.nest.map_structure(lambda v: tf.TensorSpec((None, *v.shape[1:]), tf.as_dtype(v.dtype)),
                                      next(in_memory()))
    memory_data = tf.data.Dataset.from_generator(in_memory, output_signature=signature).prefetch(2)

    model.fit(memory_data, epochs=epochs, steps_per_epoch=len(held), callbacks=[Timer()], verbose=0, shuffle=False)
    model_times, times[:] = list(times), []

    # training as `pose-action train` runs it: its fit, fed by its loader
    model = build_trainee(options, data, params)
    fit(model, training_batches(data, options, inputs), None, options, data.recipe, quiet=True, callbacks=[Timer()])
    served = models.inference_copy(model, name, config, len(labels), params, embedding_dim=data.embedding_dim)
    one = {key: value[None] for key, value in training_batches(data, options, inputs).clip_inputs(0).items()}
    served.predict_on_batch(one)
    started = time.perf_counter()
    for _ in range(10):
        served.predict_on_batch(one)
    latency = (time.perf_counter() - started) / 10
    return {"model": spec, "parameters": served.count_params(), "n_train": len(data.train), "frames": config.frames,
            "scene": config.scene_steps if config.appearance != "none" else 0,
            "thumb": config.thumb_size if config.appearance == "thumbs" else 0, "batch": options.batch_size,
            "train": len(data.train) / steady_seconds(times, "training"),
            "loader": len(data.train) / steady_seconds(loader_times, "loader alone"),
            "alone": len(data.train) / steady_seconds(model_times, "model alone"), "latency_ms": 1000 * latency}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("features", type=Path, nargs="?", default=Path("data/compare/features"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement (the first is left out)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), metavar="MODEL[:NAME=VALUE,...]")
    parser.add_argument("--repeat", type=int, default=1,
                        help="list the training clips this many times per epoch: a small set's epoch is "
                             "then long enough that per-epoch start-up does not dominate, as on UCF50")
    args = parser.parse_args()
    from pose_action.layout import FeaturesLayout

    for spec in args.models:
        parse_spec(spec)  # a typo fails before minutes of measuring
    with tempfile.TemporaryDirectory() as scratch:
        features = args.features
        if not FeaturesLayout(features).manifest.is_file():
            print(f"{features}: no features; rendering and extracting a small synthetic set", file=sys.stderr)
            features = make_small_set(Path(scratch))
        results = []
        for spec in args.models:
            results.append(bench_model(spec, features, args.epochs, args.repeat))
            print(f"{spec}: {results[-1]['train']:.1f} clips/s", file=sys.stderr, flush=True)
    print(f"\n{features}: {results[0]['n_train']} training clips, {os.cpu_count()} CPU cores, "
          f"{args.epochs} epochs per measurement, "
          f"the training clips listed {args.repeat}x per epoch\n")
    print("| model | T | scene frames | thumb px | batch | parameters | train clips/s | loader alone | "
          "model alone | predict 1 clip (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in results:
        print(f"| {row['model']} | {row['frames']} | {row['scene'] or '-'} | {row['thumb'] or '-'} | {row['batch']} | "
              f"{row['parameters']:,} | {row['train']:.1f} | {row['loader']:.1f} | {row['alone']:.1f} | "
              f"{row['latency_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
