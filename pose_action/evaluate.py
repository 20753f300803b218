"""Evaluate a trained run on its held-out test clips (or every clip of another features folder).

Reads the clips through the same feature function as training (`sequences.clip_features`,
via ClipBatches), writes metrics.json, classification_report.csv and confusion_matrix.png,
and prints accuracy and macro F1. A cross-validation run (`train --cv`) evaluates every fold
and prints mean ± std.
"""

from __future__ import annotations

import argparse
import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from pose_action import runs
from pose_action.errors import InputError
from pose_action.landmarks import LandmarkSequence
from pose_action.reports import classification_metrics, mean_std, plot_confusion, write_report_csv
from pose_action.sequences import FeatureConfig, appearance_path, clip_features, load_clip_sequence
from pose_action.splits import Clip, read_clips

log = logging.getLogger(__name__)

# Parsed landmark sequences (~1 KB per frame) kept in memory across epochs, at most this many
# bytes: the first clips read fill it and later ones are parsed from their CSV every epoch.
# A fixed cap, not a share of the dataset, so training memory does not grow with the number
# of clips (UCF50's landmarks, over 1 GB, would otherwise all be held). Thumbnails and
# embeddings are never cached: they are read from disk per batch.
SEQUENCE_CACHE_BYTES = 256 * 1024**2


def augment_thumbnails(frames: np.ndarray, rng: np.random.Generator, shift: float = 0.1) -> np.ndarray:
    """Training-only: flip a clip's thumbnails horizontally (p = 0.5) and shift them (edge-padded).

    The same flip and shift for every frame of the clip, so the motion seen in the frames stays
    intact. Done here in NumPy, not with Keras random layers, so the saved model has no
    training-only layers and inference is deterministic.
    """
    frames = frames[:, :, ::-1] if rng.random() < 0.5 else frames
    size = frames.shape[1]
    limit = int(round(size * shift))
    if limit < 1:
        return np.ascontiguousarray(frames)
    dy, dx = rng.integers(-limit, limit + 1, size=2)
    padded = np.pad(frames, ((0, 0), (limit, limit), (limit, limit), (0, 0)), mode="edge")
    return np.ascontiguousarray(padded[:, limit + dy:limit + dy + size, limit + dx:limit + dx + size])


class ClipBatches:
    """Batches of model inputs read clip by clip (wrapped as a keras PyDataset by `keras_batches`).

    Streaming: a batch reads only its own clips' thumbnail/embedding files, so memory holds a
    few batches (the loader's queue), not the dataset. Landmark sequences are cached up to
    `cache_bytes` (see SEQUENCE_CACHE_BYTES). Augmented batches draw their randomness from
    (seed, epoch, clip), so a run is reproducible whatever the order in which loader threads
    ask for batches.
    """

    def __init__(self, features_root: str | Path, clips: list[Clip], labels: list[str], config: FeatureConfig,
                 input_names: list[str], batch_size: int, *, shuffle: bool = False, augment: bool = False,
                 seed: int = 0, class_weights: dict[int, float] | None = None,
                 cache_sequences: bool = True, cache_bytes: int = SEQUENCE_CACHE_BYTES) -> None:
        if batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {batch_size}")
        self.features_root = Path(features_root)
        self.clips = list(clips)
        self.index_of = {label: index for index, label in enumerate(labels)}
        self.config = config
        self.input_names = list(input_names)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.class_weights = class_weights
        self.epoch = 0
        self.order = self._order()
        self.cache_bytes = max(0, int(cache_bytes)) if cache_sequences else 0
        self.cache: dict[str, LandmarkSequence] = {}
        self.cached_bytes = 0
        self._cache_lock = threading.Lock()  # loader threads fill the cache concurrently

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.clips))
        return np.random.default_rng([self.seed, self.epoch, 7]).permutation(len(self.clips))

    def __len__(self) -> int:
        return math.ceil(len(self.clips) / self.batch_size)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()

    def clip_inputs(self, position: int) -> dict[str, np.ndarray]:
        """The model inputs of one clip (by its position in `clips`)."""
        clip = self.clips[position]
        sequence = self.sequence(clip)
        rng = np.random.default_rng([self.seed, self.epoch, position]) if self.augment else None
        features = clip_features(self.features_root, clip.key, self.config, width=clip.width, height=clip.height,
                                 augment=self.augment, rng=rng, sequence=sequence)
        if self.augment and "frames" in features:
            features["frames"] = augment_thumbnails(features["frames"], rng)
        return {name: features[name] for name in self.input_names}

    def sequence(self, clip: Clip) -> LandmarkSequence:
        """A clip's landmarks: from the cache, else parsed (and kept while the cache has room)."""
        cached = self.cache.get(clip.key)
        if cached is not None:
            return cached
        sequence = load_clip_sequence(self.features_root, clip.key, width=clip.width, height=clip.height)
        size = sequence.data.nbytes + sequence.frame.nbytes + sequence.timestamp_ms.nbytes
        with self._cache_lock:
            if clip.key not in self.cache and self.cached_bytes + size <= self.cache_bytes:
                self.cache[clip.key] = sequence
                self.cached_bytes += size
        return sequence

    def batch(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(inputs, class indices, sample weights) of batch `index`."""
        positions = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        per_clip = [self.clip_inputs(int(position)) for position in positions]
        inputs = {name: np.stack([clip[name] for clip in per_clip]) for name in self.input_names}
        targets = np.array([self.index_of[self.clips[int(p)].label] for p in positions], dtype=np.int64)
        if self.class_weights:
            weights = np.array([self.class_weights[int(t)] for t in targets], dtype=np.float32)
        else:
            weights = np.ones(len(targets), dtype=np.float32)
        return inputs, targets, weights


def keras_batches(batches: ClipBatches, *, targets: bool, workers: int = 1) -> Any:
    """A keras.utils.PyDataset over ClipBatches (loader threads overlap reading with training)."""
    import keras

    class _PyDataset(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)

        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, index: int):
            inputs, classes, weights = batches.batch(index)
            return (inputs, classes, weights) if targets else (inputs,)

        def on_epoch_end(self) -> None:
            batches.on_epoch_end()

    return _PyDataset()


def check_features(features_root: str | Path, clips: list[Clip], config: FeatureConfig) -> None:
    """Fail early, naming the file, when the stored appearance does not fit the feature config."""
    if config.appearance == "none" or not clips:
        return
    path = appearance_path(features_root, clips[0].key, config)
    if path is None or not path.is_file():
        how = f"--embed {config.backbone}" if config.appearance == "embeddings" else "the same options"
        raise InputError(f"{path}: missing {config.appearance} file (extract with {how})")
    with np.load(path) as stored:
        if config.appearance == "thumbs":
            size = stored["thumbs"].shape[1]
            if size != config.thumb_size:
                raise InputError(f"{path}: thumbnails are {size}px but the model expects {config.thumb_size}px")


def predict_clips(model: Any, features_root: str | Path, clips: list[Clip], labels: list[str],
                  config: FeatureConfig, input_names: list[str], batch_size: int = 16, workers: int = 1) -> np.ndarray:
    """(clips, classes) probabilities, in the order of `clips` (one pass: nothing is cached)."""
    batches = ClipBatches(features_root, clips, labels, config, input_names, batch_size,
                          cache_sequences=False)
    probabilities = model.predict(keras_batches(batches, targets=False, workers=workers), verbose=0)
    return np.asarray(probabilities)


def evaluation_metrics(probabilities: np.ndarray, clips: list[Clip], labels: list[str]) -> dict:
    true = np.array([labels.index(clip.label) for clip in clips], dtype=np.int64)
    predicted = probabilities.argmax(axis=1)
    metrics = classification_metrics(true, predicted, labels)
    metrics["n_test"] = len(clips)
    metrics["test_groups"] = sorted({clip.group for clip in clips})
    metrics["predictions"] = [{"key": clip.key, "label": clip.label, "predicted": labels[int(p)],
                               "confidence": float(probabilities[i, p])}
                              for i, (clip, p) in enumerate(zip(clips, predicted))]
    return metrics


def write_evaluation(out: str | Path, metrics: dict, labels: list[str], title: str) -> None:
    """metrics.json, classification_report.csv and confusion_matrix.png into `out`."""
    out = Path(out)
    runs.write_json(out / "metrics.json", metrics)
    write_report_csv(out / "classification_report.csv", metrics)
    plot_confusion(out / "confusion_matrix.png", np.array(metrics["confusion_matrix"]), labels, title)


def summary_line(metrics: dict) -> str:
    return (f"accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f} on {metrics['n_test']} "
            f"test clips (groups {', '.join(metrics['test_groups'])})")


def select_clips(run: runs.Run, features_root: Path, which: str) -> tuple[list[Clip], dict[str, int]]:
    """The run's test clips (default) or all clips of `features_root` with a known label."""
    clip_set = read_clips(features_root)
    known = [clip for clip in clip_set.clips if clip.label in run.labels]
    unknown = len(clip_set.clips) - len(known)
    if unknown:
        log.warning("%s: %d clips have labels this model does not know; skipped", features_root, unknown)
    if which == "all":
        return known, clip_set.excluded
    split = runs.read_json(run.path / runs.SPLIT_NAME)
    wanted = set(split["test"])
    chosen = [clip for clip in known if clip.key in wanted]
    missing = len(wanted) - len(chosen)
    if missing == len(wanted):
        raise InputError(f"{features_root}: none of the run's {len(wanted)} test clips are there "
                         "(pass --clips all to evaluate every clip of this folder)")
    if missing:
        log.warning("%d of the run's test clips are missing from %s", missing, features_root)
    return chosen, clip_set.excluded


def evaluate_run(run_path: str | Path, *, features_root: str | Path | None = None, out: str | Path | None = None,
                 which: str = "test", batch_size: int = 16) -> dict:
    """Re-evaluate one run; write its reports into `out`.

    Default `out`: the run itself for its own test split, else RUN/evaluations/<features folder>.
    """
    run = runs.load_run(run_path)
    root = Path(features_root) if features_root else Path(run.config["features_root"])
    clips, excluded = select_clips(run, root, which)
    config = run.feature_config
    check_features(root, clips, config)
    probabilities = predict_clips(run.model, root, clips, run.labels, config, run.input_names, batch_size)
    own_test = which == "test" and root.resolve() == Path(run.config["features_root"]).resolve()
    if out is None:  # the run's own test metrics are replaced; other evaluations go beside them
        out = run.path if own_test else run.path / "evaluations" / root.resolve().name
    out = Path(out)
    previous = {"model": run.model_name, "run": str(run.path)}
    if own_test and (run.path / "metrics.json").is_file():  # keep the training facts (n_train, epochs...)
        previous = runs.read_json(run.path / "metrics.json")
    metrics = {**previous, **evaluation_metrics(probabilities, clips, run.labels),
               "features_root": str(root), "clips": which, "excluded": excluded}
    write_evaluation(out, metrics, run.labels, f"{run.model_name} — {run.config['split']['kind']}")
    return metrics


def evaluate_cv(run_path: Path, **options: Any) -> dict:
    """Every fold of a cross-validation run, and mean ± std (folds write into their own folders)."""
    summary = runs.read_json(run_path / runs.CV_NAME)
    folds = []
    for fold in summary["folds"]:
        metrics = evaluate_run(run_path / fold["run"], **options)
        print(f"fold {fold['fold']}: {summary_line(metrics)}")
        folds.append(metrics)
    accuracy = mean_std([m["accuracy"] for m in folds])
    macro_f1 = mean_std([m["macro_f1"] for m in folds])
    return {"accuracy_mean": accuracy[0], "accuracy_std": accuracy[1],
            "macro_f1_mean": macro_f1[0], "macro_f1_std": macro_f1[1], "folds": len(folds)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a run directory written by `pose-action train` (or its --cv folder)")
    parser.add_argument("--features", type=Path, default=None,
                        help="features folder (default: the one the run was trained on)")
    parser.add_argument("--clips", choices=("test", "all"), default="test",
                        help="the run's held-out test clips (default) or every clip of --features")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the reports (default: the run for its own test split, "
                             "else RUN/evaluations/<features folder name>)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    options = {"features_root": args.features, "which": args.clips, "batch_size": args.batch_size}
    if (args.run / runs.CV_NAME).is_file():
        if args.out:
            raise InputError("--out is not supported for a cross-validation run (each fold writes its own reports)")
        summary = evaluate_cv(args.run, **options)
        print(f"{summary['folds']} folds: accuracy {summary['accuracy_mean']:.3f} ± {summary['accuracy_std']:.3f}, "
              f"macro F1 {summary['macro_f1_mean']:.3f} ± {summary['macro_f1_std']:.3f}")
        return 0
    metrics = evaluate_run(args.run, out=args.out, **options)
    print(summary_line(metrics))
    return 0
