"""Train an action model (catalog.MODEL_NAMES) on an extracted features folder.

The split is group-aware (a group's clips, one actor and background in UCF50, are never on
both sides of train|test), validation for early stopping comes from training groups, pose
augmentation touches training clips only, and the run directory holds everything inference
needs to rebuild the input (see pose_action.runs). `--cv` trains every fold of a logo or
(stratified)groupkfold split and reports accuracy pooled over every clip of the set
(training.pooled), then mean ± std of the folds.

Memory stays flat as the dataset grows: clips are streamed from disk per batch (ClipBatches,
fed to Keras as a tf.data pipeline by batches.keras_batches), and only parsed landmarks are
cached, up to `--cache-mb`. `--distribute
mirrored` trains on every local GPU with tf.distribute.MirroredStrategy.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from pose_action import runs
from pose_action.catalog import (
    MODEL_INPUTS,
    MODEL_NAMES,
    MOTION_OPTIONAL,
    SECOND_PERSON_MODELS,
    THUMBNAILS_INPUT,
    input_names,
)
from pose_action.errors import InputError
from pose_action.extraction.appearance import read_appearance
from pose_action.features import FeatureConfig
from pose_action.files import read_json, write_json
from pose_action.layout import FeaturesLayout
from pose_action.novelty import OutOfFold, mixed_head_inputs, novelty, novelty_parts, unit
from pose_action.training.augment import AugmentConfig
from pose_action.training.batches import (
    BATCH_SIZE,
    SEQUENCE_CACHE_BYTES,
    ClipBatches,
    SequenceCache,
    check_features,
    keras_batches,
    loader_errors,
)
from pose_action.training.evaluate import (
    cross_fit_folds,
    evaluation_metrics,
    model_outputs,
    predict_answers,
    run_calibration,
    run_novelty,
    summary_line,
    write_evaluation,
    write_pooled_reliability,
)
from pose_action.training.pooled import cv_scores
from pose_action.training.recipes import Recipe, recipe_for
from pose_action.training.reports import plot_curves, write_history_csv
from pose_action.training.splits import FOLDED_KINDS, Clip, Split, fold_count, make_split, parse_kind, read_clips

log = logging.getLogger(__name__)

DISTRIBUTE_CHOICES = ("none", "mirrored")
SCENE_MODELS = ("rgb", "fusion")  # models whose appearance may run on fewer frames (scene_frames)


@dataclass(frozen=True)
class TrainOptions:
    """Everything a training run depends on (saved in config.json as `training`)."""

    model: str = "fusion"
    split: str = "holdout"
    fold: int | None = None
    test_fraction: float = 0.2
    seed: int = 0
    batch_size: int = BATCH_SIZE
    appearance: str = "thumbs"  # thumbs | embeddings (ignored by `keypoints` and `pose`)
    backbone: str | None = None
    # rgb/fusion: appearance on this many of the T frames (0 or >= T: every frame); see FeatureConfig
    scene_frames: int = 8
    # fusion: add the optical-flow stream (needs extract --motion); the `motion` model always reads it
    motion: bool = False
    second_person: bool = False  # pose, fusion: the second most important person in the pose vectors (--max-people 2)
    # None: the model's training recipe decides (training.recipes); a value overrides it
    frames: int | None = None
    pose_features: str | None = None
    locomotion: str | None = None  # pose, fusion: speed and place of the body in the pose vectors (LOCOMOTION_KINDS)
    epochs: int | None = None
    val_fraction: float | None = None
    patience: int | None = None
    average_last: int | None = None
    label_smoothing: float | None = None
    augment: bool | None = None
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)  # its settings, used when augmenting
    params: dict = field(default_factory=dict)
    loader_threads: int = 1  # threads making batches (train --loader-threads)
    distribute: str = "none"  # none | mirrored (tf.distribute.MirroredStrategy over the local GPUs)
    cache_mb: int = SEQUENCE_CACHE_BYTES // 2**20  # parsed landmarks kept for the run (every pass over its clips)


def resolve_recipe(options: TrainOptions) -> Recipe:
    """The model's recipe with every setting the options give overriding it."""
    return recipe_for(options.model).with_overrides(
        frames=options.frames, pose_features=options.pose_features, locomotion=options.locomotion,
        epochs=options.epochs, val_fraction=options.val_fraction, patience=options.patience,
        average_last=options.average_last, label_smoothing=options.label_smoothing, augment=options.augment)


def augmentation(options: TrainOptions, recipe: Recipe) -> AugmentConfig | None:
    """The augmentation training clips get (None: not augmented)."""
    return options.augmentation if recipe.augment else None


def feature_config_for(options: TrainOptions, recipe: Recipe, layout: FeaturesLayout) -> FeatureConfig:
    """The model's FeatureConfig: T and pose features from the recipe, thumbnail size from the extraction."""
    appearance = ("none" if not {"appearance", THUMBNAILS_INPUT} & set(MODEL_INPUTS[options.model])
                  else options.appearance)
    if THUMBNAILS_INPUT in MODEL_INPUTS[options.model] and appearance != "thumbs":
        raise InputError(f"model {options.model!r} reads thumbnails; use --appearance thumbs")
    thumb_size = FeatureConfig.thumb_size
    if appearance == "thumbs":
        thumb_size = stored_thumb_size(layout)
    backbone = options.backbone if appearance == "embeddings" else None
    if options.scene_frames < 0:
        raise InputError(f"--scene-frames must be 0 (every frame) or more, got {options.scene_frames}")
    # the tutorial baselines (lrcn, convlstm) keep their CNN on every frame
    scene_frames = options.scene_frames if options.model in SCENE_MODELS and appearance != "none" else 0
    return FeatureConfig(frames=recipe.frames, pose_features=recipe.pose_features, appearance=appearance,
                         thumb_size=thumb_size, backbone=backbone, motion=reads_motion(options),
                         second_person=reads_second_person(options), locomotion=reads_locomotion(options, recipe),
                         scene_frames=scene_frames if 0 < scene_frames < recipe.frames else None)


def reads_motion(options: TrainOptions) -> bool:
    """Whether the model gets the "motion" input; --motion on a model without a motion stream is an error."""
    if "motion" in MODEL_INPUTS[options.model]:
        return True
    if options.motion and options.model not in MOTION_OPTIONAL:
        raise InputError(f"--motion: model {options.model!r} has no motion stream; use --model "
                         f"{' or '.join(MOTION_OPTIONAL)} (or --model motion, motion alone)")
    return options.motion


def reads_second_person(options: TrainOptions) -> bool:
    """Whether the pose vectors carry the second person; --second-person on another model is an error."""
    if options.second_person and options.model not in SECOND_PERSON_MODELS:
        raise InputError(f"--second-person: model {options.model!r} cannot read the second person; use --model "
                         f"{' or '.join(SECOND_PERSON_MODELS)}")
    return options.second_person


def reads_locomotion(options: TrainOptions, recipe: Recipe) -> str:
    """What the pose vectors carry of speed and place (LOCOMOTION_KINDS): the recipe's, on the models with
    body pose vectors only; --locomotion speed or full on a model without them is an error."""
    if options.model in SECOND_PERSON_MODELS and recipe.pose_features != "raw":
        return recipe.locomotion
    if options.locomotion not in (None, "none"):
        raise InputError(f"--locomotion: model {options.model!r} has no body pose vectors to add it to; use --model "
                         f"{' or '.join(SECOND_PERSON_MODELS)} with --pose-features body or normalized")
    return "none"


def check_people_files(layout: FeaturesLayout, clips: list[Clip]) -> None:
    """--second-person needs every clip's people file (extract --max-people 2): one line if they are not there."""
    people = (layout.read_config() or {}).get("people")
    if not isinstance(people, dict) or int(people.get("max_people") or 1) < 2:
        raise InputError(f"{layout.root}: extracted with one person per frame (no people files); --second-person "
                         f"needs every person: re-extract with `pose-action extract VIDEO_ROOT --out NEW_FOLDER "
                         f"--max-people 2`")
    missing = [layout.people(clip.key) for clip in clips if not layout.people(clip.key).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more clips)" if len(missing) > 1 else ""
        raise InputError(f"{missing[0]}: missing people file{more}; --second-person needs every clip's: "
                         f"re-extract {layout.root} with --max-people 2")


def stored_thumb_size(layout: FeaturesLayout) -> int:
    """Side of the stored thumbnails: extract_config.json, else the first thumbnail file."""
    thumbnails = (layout.read_config() or {}).get("thumbnails")
    if isinstance(thumbnails, dict) and isinstance(thumbnails.get("size"), int):
        return int(thumbnails["size"])
    first = next(layout.thumbnails_dir.rglob("*.npz"), None)
    if first is None:
        raise InputError(f"{layout.thumbnails_dir}: no thumbnails (extract them, or train --model pose)")
    return int(read_appearance(first, "thumbs")[1].shape[1])


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """n / (classes * n_c) (scikit-learn's "balanced"): every class weighs the same in the loss, however
    many clips it has; classes without training clips get 0."""
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {index: 0.0 for index in range(num_classes)} | {int(c): float(w) for c, w in zip(present, weights)}


def training_window(clips: list[Clip]) -> dict:
    """Median length of the training clips: live inference uses windows of the same duration."""
    def median(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return float(np.median(values)) if values else None

    frames = median([clip.frames_processed for clip in clips])
    return {"frames": int(round(frames)) if frames is not None else None,
            "seconds": median([clip.seconds for clip in clips]), "fps": median([clip.fps for clip in clips])}


def _epoch_logger(model_name: str, epochs: int, quiet: bool) -> Any:
    import keras

    class EpochLogger(keras.callbacks.Callback):
        """One line per epoch (logging), so long trainings show progress without a wall of bars."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if quiet:
                return
            logs = logs or {}
            parts = [f"{name} {value:.3f}" for name, value in logs.items() if name.endswith(("loss", "accuracy"))]
            log.info("%s epoch %d/%d: %s (%.1f s)", model_name, epoch + 1, epochs, ", ".join(parts),
                     time.perf_counter() - self.started)

    return EpochLogger()


def _stop_on_nan_loss() -> Any:
    """A callback that ends training with one line at the first batch whose loss is NaN or inf.

    Such a loss never recovers (the weights are NaN from then on); carrying on only burns the
    remaining epochs and fails at the end. The error is raised out of fit, so nothing is saved.
    """
    import math

    import keras

    class StopOnNaNLoss(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self._check((logs or {}).get("loss"), f"batch {batch + 1}: the loss")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self._check((logs or {}).get("val_loss"), "its end: the validation loss")

        def _check(self, loss: Any, where: str) -> None:
            if loss is not None and not math.isfinite(float(loss)):
                self.model.stop_training = True
                raise InputError(f"training stopped in epoch {self.epoch + 1}, {where} is {float(loss)} (extreme "
                                 "feature values, or too high a learning rate); no run was written")

    return StopOnNaNLoss()


def set_seeds(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds: the same seed gives the same split, init and augmentation."""
    import keras

    keras.utils.set_random_seed(seed)


def _weight_averaging(last: int) -> Any:
    import keras

    class WeightAveraging(keras.callbacks.Callback):
        """Keep the mean of the weights at the end of each of the last `last` epochs; load it when done.

        Late epochs of a decaying schedule wander around a good solution; their mean is a
        steadier model than any one of them, chosen without looking at held-out clips.
        """

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.total: list | None = None
            self.count = 0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch + 1 <= self.params["epochs"] - last:
                return
            weights = self.model.get_weights()
            self.total = weights if self.total is None else [a + b for a, b in zip(self.total, weights)]
            self.count += 1

        def on_train_end(self, logs: dict | None = None) -> None:
            if self.count and self.total is not None:  # a count means epochs were summed into total
                self.model.set_weights([total / self.count for total in self.total])

    return WeightAveraging()


def fit(model: Any, train: ClipBatches, val: ClipBatches | None, options: TrainOptions, recipe: Recipe,
        quiet: bool, callbacks: list | None = None) -> tuple[pd.DataFrame, float]:
    """Fit for the recipe's epochs: weights averaged over the last epochs, or early stopping with patience.
    `callbacks`: Keras callbacks to run besides these (scripts/bench_train.py times epochs with one)."""
    import keras

    callbacks = [_epoch_logger(options.model, recipe.epochs, quiet), _stop_on_nan_loss(), *(callbacks or [])]
    if recipe.patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss" if val is not None else "loss",
                                                       patience=recipe.patience, restore_best_weights=True))
    elif recipe.average_last > 1:
        callbacks.append(_weight_averaging(recipe.average_last))
    started = time.perf_counter()
    from pose_action.training.models import output_names

    outputs = output_names(model)
    with loader_errors(train, val):
        threads = options.loader_threads
        batches = keras_batches(train, targets=True, loader_threads=threads, outputs=outputs, endless=True)
        build_training_state(model, batches)
        history = model.fit(batches, steps_per_epoch=len(train),
                            validation_data=(keras_batches(val, targets=True, loader_threads=threads, outputs=outputs)
                                             if val else None),
                            epochs=recipe.epochs, callbacks=callbacks, verbose=0,
                            shuffle=False)  # the loader shuffles, per epoch and seed
    seconds = time.perf_counter() - started
    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", np.arange(1, len(table) + 1))
    return table, seconds


def build_training_state(model: Any, batches: Any) -> None:
    """Create the optimizer's and the losses' variables before `fit` traces the training step.

    Without a distribution strategy Keras 3 creates them inside the first trace, and TensorFlow
    traces a function that creates variables twice: measured, that second trace was 40% of a tiny
    fusion run's fit (16 s -> 9 s) and is the same fixed cost at every size. Keras does this itself
    under a strategy; the answers are the same bit for bit.
    """
    build = getattr(model, "_symbolic_build", None)  # Keras' own step (trainers/trainer.py); absent: trace twice
    if build is not None:
        build(data_batch=batches.element_spec)


def weights_from(history: pd.DataFrame, recipe: Recipe) -> str:
    """Which epochs the saved weights come from, in words (metrics.json)."""
    epochs = len(history)
    if recipe.patience > 0:
        best = int(history["val_loss" if "val_loss" in history else "loss"].idxmin()) + 1
        return f"epoch {best} of {epochs} (early stopping)"
    if recipe.average_last > 1:
        return f"mean of epochs {max(epochs - recipe.average_last, 0) + 1}-{epochs}"
    return f"epoch {epochs}"


def _check_options(options: TrainOptions) -> None:
    if options.model not in MODEL_NAMES:
        raise InputError(f"--model {options.model!r}: choose one of {', '.join(MODEL_NAMES)}")
    for name in ("batch_size", "loader_threads"):
        if getattr(options, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    if options.distribute not in DISTRIBUTE_CHOICES:
        raise InputError(f"--distribute {options.distribute!r}: choose one of {', '.join(DISTRIBUTE_CHOICES)}")
    if options.cache_mb < 0:
        raise InputError("--cache-mb must be >= 0")


def distribution_strategy(name: str) -> tuple[Any, dict]:
    """The tf.distribute strategy to build, compile and fit under, and what was used (for the run).

    `mirrored` copies the model onto every local GPU and splits each batch between them
    (--batch-size stays the global batch). With fewer than 2 GPUs there is nothing to mirror
    onto, so one line says so and the default strategy trains exactly as `none` would.
    """
    import tensorflow as tf

    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if name == "mirrored" and len(gpus) >= 2:
        strategy = mirrored_strategy(tuple(gpus))
        return strategy, {"requested": name, "strategy": "mirrored", "replicas": strategy.num_replicas_in_sync,
                          "devices": gpus}
    if name == "mirrored":
        log.warning("--distribute mirrored: %d GPU(s) visible, need at least 2; using the default strategy",
                    len(gpus))
    strategy = tf.distribute.get_strategy()
    return strategy, {"requested": name, "strategy": "default", "replicas": strategy.num_replicas_in_sync,
                      "devices": gpus[:1] or ["CPU"]}


@functools.cache
def mirrored_strategy(devices: tuple[str, ...]) -> Any:
    """One MirroredStrategy per process and device set, re-used by every run (cross-validation folds).

    A second MirroredStrategy in the same process re-uses the first one's collective instance
    keys, and its first all-reduce then fails with "Shape mismatch in the collective instance
    100" (tensorflow/tensorflow#62790).
    """
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))


@dataclass(frozen=True)
class TrainingData:
    """What one training run reads: the usable clips, the classes, the inputs and the split."""

    layout: FeaturesLayout
    excluded: dict[str, int]
    labels: list[str]
    recipe: Recipe
    config: FeatureConfig
    split: Split
    train: list[Clip]
    val: list[Clip]
    test: list[Clip]
    embedding_dim: int | None
    cache: SequenceCache  # the run's parsed landmarks, up to --cache-mb, for every pass over its clips


def load_training_data(features_root: str | Path, options: TrainOptions) -> TrainingData:
    """Every decoded clip (with a pose or not) and its split; fails early, naming the file, if the
    features do not fit."""
    layout = FeaturesLayout(Path(features_root).resolve())
    clip_set = read_clips(layout)
    labels = sorted({clip.label for clip in clip_set.clips})
    if len(labels) < 2:
        raise InputError(f"{layout.root}: need at least 2 classes, found {labels}")
    recipe = resolve_recipe(options)
    config = feature_config_for(options, recipe, layout)
    split = make_split(clip_set.clips, options.split, fold=options.fold, test_fraction=options.test_fraction,
                       val_fraction=recipe.val_fraction, seed=options.seed)
    by_key = {clip.key: clip for clip in clip_set.clips}
    train, val, test = ([by_key[key] for key in keys] for keys in (split.train, split.val, split.test))
    if not train or not test:
        raise InputError(f"{layout.root}: split {options.split} left no training or no test clips")
    if config.second_person:
        check_people_files(layout, clip_set.clips)
    return TrainingData(layout=layout, excluded=clip_set.excluded, labels=labels, recipe=recipe, config=config,
                        split=split,
                        train=train, val=val, test=test,
                        embedding_dim=check_features(layout, clip_set.clips, config),
                        cache=SequenceCache(options.cache_mb * 2**20))


def build_trainee(options: TrainOptions, data: TrainingData, params: dict, reuse: Any = None) -> Any:
    """The model in its training form (every head an output), compiled with the recipe's schedule
    (call it inside the distribution strategy's scope).

    `reuse`: a trainee of the same model and options, made restartable and fitted: it is set to where
    the new one starts (models.restart_from) and returned in its place, so the steps it has traced
    serve again. The training is the same either way."""
    from pose_action.training import models

    trainee = models.build_model(options.model, data.config, len(data.labels), params,
                                 embedding_dim=data.embedding_dim, training_outputs=True,
                                 unroll=models.UNROLL_TRAINING)
    models.compile_model(trainee, data.recipe, math.ceil(len(data.train) / options.batch_size), params)
    if reuse is None:
        return trainee
    models.restart_from(reuse, trainee)
    return reuse


def training_batches(data: TrainingData, options: TrainOptions, inputs: list[str]) -> ClipBatches:
    """The training clips' batches: shuffled per epoch, augmented and class-weighted as the recipe says."""
    weights = (balanced_class_weights(np.array([data.labels.index(c.label) for c in data.train]), len(data.labels))
               if data.recipe.class_weights else None)
    return ClipBatches(data.layout, data.train, data.labels, data.config, inputs,
                       options.batch_size, shuffle=True, augment=augmentation(options, data.recipe),
                       seed=options.seed, class_weights=weights, cache=data.cache)


def run_config(options: TrainOptions, data: TrainingData, params: dict, inputs: list[str],
               distribution: dict | None = None) -> runs.RunConfig:
    """config.json: everything inference needs to rebuild the input, and where the model came from."""
    split = data.split
    return runs.RunConfig(
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        model=runs.ModelConfig(name=options.model, params=params, inputs=tuple(inputs), num_classes=len(data.labels),
                               embedding_dim=data.embedding_dim),
        features=data.config, labels=tuple(data.labels), extraction=data.layout.read_config() or {},
        window=training_window(data.train),
        split={"kind": split.kind, "fold": split.fold, "folds": split.folds, "test_groups": split.test_groups,
               "leaks_groups": split.leaks_groups, "n_train": len(data.train), "n_val": len(data.val),
               "n_test": len(data.test)},
        seed=options.seed, training={**asdict(options), "params": params, "recipe": data.recipe.to_dict()},
        distribution=distribution,
        augmentation=options.augmentation.to_dict() if data.recipe.augment else None,
        features_root=str(data.layout.root))


def predict_heads(model: Any, layout: FeaturesLayout, clips: list[Clip], labels: list[str], config: FeatureConfig,
                  inputs: list[str], batch_size: int = BATCH_SIZE, loader_threads: int = 1,
                  cache: SequenceCache | None = None) -> dict[str, np.ndarray]:
    """Head name -> (clips, classes) probabilities of a training form with several heads."""
    outputs = model_outputs(model, layout, clips, labels, config, inputs, batch_size, loader_threads, cache)
    return {name: np.asarray(values) for name, values in outputs.items()}


MIX_STEP = 0.1  # grid step of the mix shares (on the simplex)


def fit_mix(heads: dict[str, np.ndarray], truth: np.ndarray) -> list[float]:
    """The shares (summing to 1, on a grid of MIX_STEP) whose mix of the heads' probabilities has the
    lowest log loss on `truth`; among equal losses the one closest to equal shares.

    A grid, not gradient descent: a few dozen out-of-fold clips, 2-4 heads, and the answer must be
    the same on every machine.
    """
    names = list(heads)
    stacked = np.stack([heads[name] for name in names])  # (H, N, C)
    chosen = np.clip(stacked[:, np.arange(len(truth)), truth], 1e-9, 1.0)  # (H, N)
    steps = int(round(1 / MIX_STEP))
    best: tuple[float, float, tuple[int, ...]] | None = None

    def grids(left: int, count: int) -> Any:
        if count == 1:
            yield (left,)
            return
        for first in range(left + 1):
            for rest in grids(left - first, count - 1):
                yield (first, *rest)

    for grid in grids(steps, len(names)):
        shares = np.array(grid, dtype=np.float64) / steps
        loss = float(-np.log(np.clip(shares @ chosen, 1e-9, 1.0)).mean())
        spread = float(np.square(shares - 1 / len(names)).sum())
        key = (round(loss, 9), spread, grid)
        if best is None or key < best:
            best = key
    assert best is not None
    return [count / steps for count in best[2]]


def learn_head_mix(data: TrainingData, options: TrainOptions, params: dict, inputs: list[str],
                   quiet: bool) -> tuple[dict, Any, OutOfFold | None]:
    """The HeadMix shares of a fusion_gate "learned" run, from out-of-fold answers on the training groups,
    the last inner trainee (None without inner models), for the final model to reuse (build_trainee),
    and the out-of-fold clips' novelty (against the inner model's own training clips, in the mixed
    heads' inputs) and whether the mix answered them right: what the run's novelty threshold is chosen on.

    The training groups are split into `mix_folds` group folds; for each, the model trains (its
    training form, `mix_epochs` of the recipe's epochs) on the others and answers the held-out
    ones, so every training clip gets each head's answer from a model that never saw its person
    or place. fit_mix picks the shares on those answers. With fewer than 2 training groups (or
    mix_folds 0) there is nothing held out: equal shares.
    """
    from pose_action.training import models

    names = models.mix_heads(data.config)
    groups = sorted({clip.group for clip in data.train})
    folds = min(int(params["mix_folds"]), len(groups))
    report: dict = {"heads": names, "folds": folds}
    if folds < 2:
        return {**report, "weights": [1.0 / len(names)] * len(names), "oof_clips": 0,
                "note": "fewer than 2 training groups (or mix_folds < 2): equal shares"}, None, None
    epochs = max(1, int(round(data.recipe.epochs * float(params["mix_epochs"]))))
    recipe = replace(data.recipe, epochs=epochs, average_last=min(data.recipe.average_last, epochs))
    started = time.perf_counter()
    answers: dict[str, list[np.ndarray]] = {name: [] for name in names}
    truth: list[int] = []
    by_key = {clip.key: clip for clip in data.train}
    trainee = None
    head_inputs: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []  # per fold: (held, inner train)
    position = {clip.key: index for index, clip in enumerate(data.train)}
    for fold in range(folds):
        split = make_split(data.train, f"groupkfold:{folds}", fold=fold, val_fraction=0.0, seed=options.seed)
        inner_train, held = [by_key[key] for key in split.train], [by_key[key] for key in split.test]
        # the inner model trains as the final one does, on its share of the clips with the shorter recipe
        inner = replace(data, train=inner_train, val=[], test=held, recipe=recipe)
        set_seeds(options.seed + 1000 + fold)
        # one trainee for every fold and the final model: its step is traced once
        trainee = models.restartable(build_trainee(options, inner, params, reuse=trainee))
        batches = training_batches(inner, replace(options, seed=options.seed + fold), inputs)
        fit(trainee, batches, None, options, recipe, quiet=True)
        # every training clip in one pass: the held-out ones' answers, and what the heads read of both
        read = predict_heads(models.heads_reader(trainee), data.layout, data.train, data.labels, data.config, inputs,
                             options.batch_size, options.loader_threads, data.cache)
        held_rows, known_rows = ([position[clip.key] for clip in clips] for clips in (held, inner_train))
        for name in names:
            answers[name].append(read[name][held_rows])
        truth += [data.labels.index(clip.label) for clip in held]
        held_inputs, known_inputs = ({name: read[models.HEAD_INPUT_KEY.format(name)][rows] for name in names}
                                     for rows in (held_rows, known_rows))
        head_inputs.append((held_inputs, known_inputs))
    oof = {name: np.concatenate(values) for name, values in answers.items()}
    target = np.array(truth)
    shares = fit_mix(oof, target)
    mixed = sum(share * oof[name] for share, name in zip(shares, names))

    parts = novelty_parts(names, shares, params["novelty_reads"])  # params: resolved by train_run

    def mixed_inputs(values: dict[str, np.ndarray]) -> np.ndarray:
        return mixed_head_inputs([(share, values[name]) for share, name in parts])

    distances = np.concatenate([novelty(mixed_inputs(held_inputs), unit(mixed_inputs(known_inputs)))
                                for held_inputs, known_inputs in head_inputs])
    out_of_fold = OutOfFold(distances, np.asarray(mixed).argmax(1) == target)
    accuracy = {name: float((oof[name].argmax(1) == target).mean()) for name in names}
    accuracy["mix"] = float((np.asarray(mixed).argmax(1) == target).mean())
    seconds = time.perf_counter() - started
    log.info("head mix from %d out-of-fold clips (%d inner folds, %d epochs each, %.0f s): %s; accuracy %s",
             len(target), folds, epochs, seconds, dict(zip(names, shares)),
             {name: round(value, 3) for name, value in accuracy.items()})
    return {**report, "weights": shares, "oof_clips": len(target), "oof_accuracy": accuracy, "epochs": epochs,
            "seconds": round(seconds, 2)}, trainee, out_of_fold


def head_report(heads: dict[str, np.ndarray], clips: list[Clip], labels: list[str]) -> dict:
    """Each head's test accuracy and probabilities (metrics.json `heads`): what every head alone would answer."""
    truth = np.array([labels.index(clip.label) for clip in clips])
    return {"accuracy": {name: float((values.argmax(1) == truth).mean()) for name, values in heads.items()},
            "probabilities": {name: np.round(values, 5).tolist() for name, values in heads.items()}}


def tensorboard_callback(log_dir: str | Path) -> Any:
    """Keras' TensorBoard callback: per-epoch loss, accuracy and learning rate in LOG_DIR/train and
    LOG_DIR/validation (with a validation set)."""
    import keras

    return keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0)


def log_confusion(log_dir: str | Path, probabilities: np.ndarray | None, data: TrainingData, options: TrainOptions,
                  step: int) -> bool:
    """The validation clips' confusion matrix (from the model's `probabilities` of them) as an image
    (TensorBoard's Images tab) in LOG_DIR/validation; False, and nothing written, without a validation set."""
    if not data.val or probabilities is None:
        return False
    import tensorflow as tf
    from sklearn.metrics import confusion_matrix

    from pose_action.training.reports import confusion_png

    truth = [data.labels.index(clip.label) for clip in data.val]
    matrix = confusion_matrix(truth, probabilities.argmax(axis=1), labels=list(range(len(data.labels))))
    image = tf.image.decode_png(confusion_png(matrix, data.labels, f"{options.model}: validation clips"), channels=3)
    writer = tf.summary.create_file_writer(str(Path(log_dir) / "validation"))
    with writer.as_default():
        tf.summary.image("confusion_matrix", image[None], step=step)
    writer.close()
    return True


def train_run(features_root: str | Path, out: str | Path, options: TrainOptions, *, overwrite: bool = False,
              quiet: bool = False, tensorboard: str | Path | None = None) -> dict:
    """Train one model on one split; write a complete run directory at `out`. Returns its metrics.

    `tensorboard`: a folder for TensorBoard logs of this training (tensorboard_callback, log_confusion)."""
    _check_options(options)
    runs.check_new_output(out, overwrite=overwrite, inputs=(features_root,))
    data = load_training_data(features_root, options)
    log.info("%s", data.split.describe())

    set_seeds(options.seed)
    from pose_action.training import models

    params = models.resolve_params(options.params)
    inputs = input_names(options.model, data.config.appearance, data.config.motion)
    strategy, distribution = distribution_strategy(options.distribute)
    mix = inner = out_of_fold = None
    if options.model == "fusion" and params["fusion_gate"] == "learned":
        with strategy.scope():
            mix, inner, out_of_fold = learn_head_mix(data, options, params, inputs, quiet)
        set_seeds(options.seed)  # the final model starts as it would without the inner ones
    with strategy.scope():  # variables (model and optimizer) are created where the strategy places them
        trainee = build_trainee(options, data, params, reuse=inner)
    train_batches = training_batches(data, options, inputs)
    val_batches = (ClipBatches(data.layout, data.val, data.labels, data.config, inputs, options.batch_size,
                               cache=data.cache)
                   if data.val else None)
    history, seconds = fit(trainee, train_batches, val_batches, options, data.recipe, quiet,
                           callbacks=[tensorboard_callback(tensorboard)] if tensorboard is not None else None)
    with strategy.scope():  # the one-output form that is saved and served, with the trained weights
        model = models.inference_copy(trainee, options.model, data.config, len(data.labels), params,
                                      embedding_dim=data.embedding_dim, mix=mix["weights"] if mix else None)

    probabilities, test_inputs = predict_answers(model, data.layout, data.test, data.labels, data.config, inputs,
                                                 options.batch_size, options.loader_threads, data.cache)
    val_answers = (predict_answers(model, data.layout, data.val, data.labels, data.config, inputs,
                                   options.batch_size, options.loader_threads, data.cache) if data.val else None)
    if tensorboard is not None:
        log_confusion(tensorboard, val_answers[0] if val_answers else None, data, options, step=len(history))
    calibration = run_calibration(data.val, val_answers[0] if val_answers else None, data.test, probabilities,
                                  data.labels)
    novelty_config, known_clips = run_novelty(model, data.layout, data.train, data.val, val_answers,
                                              not data.split.val_shares_groups, data.labels, data.config, inputs,
                                              options.batch_size, options.loader_threads, out_of_fold=out_of_fold,
                                              cache=data.cache)
    test_novelty = novelty(test_inputs, known_clips) if test_inputs is not None and known_clips is not None else None
    metrics = evaluation_metrics(probabilities, data.test, data.labels, calibration, novelty_config, test_novelty)
    metrics.update({
        "model": options.model, "split": data.split.kind, "fold": data.split.fold, "n_train": len(data.train),
        "n_val": len(data.val), "train_groups": data.split.train_groups, "val_groups": data.split.val_groups,
        "excluded": data.excluded, "epochs_trained": len(history),
        "weights_from": weights_from(history, data.recipe),
        "train_seconds": round(seconds, 2), "seconds_per_epoch": round(seconds / max(len(history), 1), 3),
        "seed": options.seed, "features_root": str(data.layout.root), "clips": "test",
        "parameters": int(model.count_params()), "distribution": distribution,
    })
    if models.output_names(trainee) is not None:  # every head's own answers, beside the served one
        read = predict_heads(models.heads_reader(trainee), data.layout, data.test, data.labels, data.config,
                             inputs, options.batch_size, options.loader_threads, data.cache)
        metrics["heads"] = head_report({name: read[name] for name in trainee.output}, data.test, data.labels)
    if mix is not None:
        metrics["head_mix"] = mix
        metrics["train_seconds"] = round(seconds + mix.get("seconds", 0.0), 2)  # the inner models are training too
    fold = f" fold {data.split.fold}" if data.split.fold is not None else ""
    title = f"{options.model} — {data.split.kind}{fold}"
    with runs.staged_directory(out, overwrite=overwrite) as staging:
        runs.save_model(model, staging / runs.MODEL_FILE)
        if known_clips is not None:
            runs.save_known_clips(known_clips, staging / runs.KNOWN_CLIPS_FILE)
        write_json(staging / runs.LABELS_FILE, data.labels)
        write_json(staging / runs.SPLIT_FILE, data.split.to_dict())
        write_history_csv(staging / runs.HISTORY_FILE, history)
        plot_curves(staging / runs.CURVES_FILE, history, title)
        write_evaluation(staging, metrics, data.labels, title)
        write_json(staging / runs.CONFIG_FILE,
                   replace(run_config(options, data, params, inputs, distribution),
                           calibration=calibration, novelty=novelty_config).to_dict())  # last: complete
    return metrics


def _fold_is_done(fold_dir: Path, features_root: Path, options: TrainOptions) -> dict | None:
    """The metrics of an already complete fold trained with the same options (a rerun resumes)."""
    try:
        config = runs.load_run(fold_dir).config
    except InputError:
        return None
    if config.features_root != str(features_root):
        return None
    # params are compared below; how the work is spread (loader threads, devices, cache) is not
    ignored = ("params", "loader_threads", "distribute", "cache_mb", "recipe")
    expected = {key: value for key, value in json.loads(json.dumps(asdict(options))).items() if key not in ignored}
    saved = {key: value for key, value in config.training.items() if key not in ignored}  # migrated on load
    expected_params = json.loads(json.dumps(options.params))
    if expected != saved or config.training.get("recipe") != resolve_recipe(options).to_dict():
        return None
    if any(config.training.get("params", {}).get(k) != v for k, v in expected_params.items()):
        return None
    return read_json(fold_dir / runs.METRICS_FILE)


def _fold_summary(fold: int, fold_dir: Path, metrics: dict) -> dict:
    return {"fold": fold, "run": fold_dir.name, "test_groups": metrics["test_groups"], "n_test": metrics["n_test"],
            "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "train_seconds": metrics.get("train_seconds")}


def train_cv(features_root: str | Path, out: str | Path, options: TrainOptions, *, overwrite: bool = False,
             quiet: bool = False, max_folds: int | None = None, tensorboard: str | Path | None = None) -> dict:
    """Every fold of a logo or (stratified)groupkfold split into OUT/fold-K/, then OUT/cv.json.

    cv.json leads with the pooled score (accuracy_all over every decoded clip of the set, a clip
    no fold predicted counted wrong), then mean ± std of the folds. Each fold is a complete run
    on its own; rerunning the same command skips finished folds (a rerun of a finished one just
    writes cv.json again). Without `overwrite`, a fold listed in cv.json is never replaced by
    one trained with other options. `max_folds` trains only the first folds (quick trials: the
    clips of the folds left out count as not predicted). `tensorboard`: each fold trained logs into
    its TENSORBOARD/fold-K.
    """
    out = Path(out)
    kind, count = parse_kind(options.split)
    if kind not in FOLDED_KINDS:
        raise InputError(f"--cv needs --split logo, groupkfold:K or stratifiedgroupkfold:K, not {options.split}")
    if options.fold is not None:
        raise InputError("--cv trains every fold; drop --fold")
    if max_folds is not None and max_folds < 1:
        raise InputError("--max-folds must be at least 1")
    if (out / runs.CONFIG_FILE).is_file():
        raise InputError(f"{out}: holds a single run; choose another --out for cross-validation")
    runs.check_cv_output(out, (features_root,))  # apart from the features; adds only to a cross-validation
    root = Path(features_root).resolve()
    total = fold_count(read_clips(FeaturesLayout(root)).clips, kind, count)
    planned = range(min(total, max_folds or total))
    done = {fold: None if overwrite else _fold_is_done(out / f"fold-{fold}", root, replace(options, fold=fold))
            for fold in planned}
    if (out / runs.CV_FILE).is_file() and not overwrite:
        listed = [fold["fold"] for fold in read_json(out / runs.CV_FILE).get("folds", [])]
        replaced = [fold for fold in listed if fold in done and done[fold] is None]
        if replaced:
            raise InputError(f"{out}: a finished cross-validation is already there and its fold {replaced[0]} "
                             "was trained with other options or is missing (pass --overwrite to redo it, or "
                             "choose another --out)")
    fold_metrics, results = [], []
    for fold in planned:
        fold_dir = out / f"fold-{fold}"
        metrics = done[fold]
        if metrics is not None:
            log.info("%s fold %d (%d of %d): already trained, kept (%s)", options.model, fold, fold + 1, total,
                     summary_line(metrics))
        else:
            log.info("%s fold %d (%d of %d)", options.model, fold, fold + 1, total)
            metrics = train_run(features_root, fold_dir, replace(options, fold=fold), overwrite=True, quiet=quiet,
                                tensorboard=None if tensorboard is None else Path(tensorboard) / fold_dir.name)
            log.info("%s fold %d (%d of %d): %s in %.0f s", options.model, fold, fold + 1, total,
                     summary_line(metrics), metrics["train_seconds"])
        fold_metrics.append(metrics)
        results.append(_fold_summary(fold, fold_dir, metrics))
    # folds calibrated on their own test clips: refitted on the other folds' predictions
    fold_metrics = cross_fit_folds([out / f"fold-{fold}" for fold in planned], fold_metrics)
    summary = {"model": options.model, "split": options.split,
               **cv_scores(root, fold_metrics),
               "folds_total": total, "train_seconds": round(sum(r["train_seconds"] or 0.0 for r in results), 2),
               "folds": results, "seed": options.seed, "features_root": str(root)}
    write_pooled_reliability(out, summary, f"{options.model} {options.split} (pooled out-of-fold)")
    write_json(out / runs.CV_FILE, summary)
    return summary
