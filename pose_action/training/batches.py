"""Training and evaluation batches streamed clip by clip from a FEATURES folder.

A batch reads only its own clips' files, so memory holds a few batches, not the dataset;
parsed landmarks are kept up to a fixed cap. Every clip goes through `features.clip_features`,
the same feature function inference uses.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import math
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from pose_action.catalog import THUMBNAILS_INPUT
from pose_action.errors import InputError
from pose_action.extraction.appearance import stored_shapes
from pose_action.extraction.motion import mirror_motion
from pose_action.features import FeatureConfig, clip_features, load_clip_sequence
from pose_action.landmarks import LandmarkSequence, check_complete
from pose_action.layout import FeaturesLayout
from pose_action.people import check_people_frames, people_frames
from pose_action.training.augment import AugmentConfig, augment_points, augment_thumbnails, clip_mirrored
from pose_action.training.splits import Clip

# Parsed landmark sequences (~1 KB per frame) kept in memory across epochs, at most this many
# bytes: the first clips read fill it and later ones are parsed from their CSV every epoch.
# A fixed cap, not a share of the dataset, so training memory does not grow with the number
# of clips (UCF50's landmarks, over 1 GB, would otherwise all be held). Thumbnails and
# embeddings are never cached: they are read from disk per batch.
SEQUENCE_CACHE_BYTES = 256 * 1024**2
BATCH_SIZE = 16  # clips per batch (train and evaluate --batch-size)


class SequenceCache:
    """Parsed landmark sequences kept up to `max_bytes`, shared by every loader of one training run
    (training and validation epochs, then the passes that evaluate the model and read its known clips),
    so a clip's CSV is parsed once per run instead of once per pass. Safe for loader threads."""

    def __init__(self, max_bytes: int = SEQUENCE_CACHE_BYTES) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.sequences: dict[str, LandmarkSequence] = {}  # by the CSV's path
        self.bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.sequences)

    def get(self, path: str) -> LandmarkSequence | None:
        return self.sequences.get(path)

    def keep(self, path: str, sequence: LandmarkSequence) -> None:
        """Hold `sequence` if it fits under the cap (the first clips read fill it; nothing is evicted)."""
        size = sequence.data.nbytes + sequence.frame.nbytes + sequence.timestamp_ms.nbytes
        with self._lock:
            if path not in self.sequences and self.bytes + size <= self.max_bytes:
                self.sequences[path] = sequence
                self.bytes += size


class ClipBatches:
    """Batches of model inputs read clip by clip (fed to Keras as a tf.data pipeline by `keras_batches`).

    Streaming: a batch reads only its own clips' thumbnail/embedding files, so memory holds a
    few batches (the loader's queue), not the dataset. Landmark sequences are kept in `cache`
    (None: parsed at every read). With `augment` (training batches), each clip is
    varied by training.augment with randomness drawn from (seed, epoch, clip), so a run is
    reproducible whatever the order in which loader threads ask for batches.
    """

    def __init__(self, layout: FeaturesLayout, clips: list[Clip], labels: list[str], config: FeatureConfig,
                 input_names: list[str], batch_size: int, *, shuffle: bool = False,
                 augment: AugmentConfig | None = None,
                 seed: int = 0, class_weights: dict[int, float] | None = None,
                 cache: SequenceCache | None = None) -> None:
        if batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {batch_size}")
        self.layout = layout
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
        self.cache = cache
        self.failure: InputError | None = None  # the first unreadable clip a loader met

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
        if self.augment is None:
            features = clip_features(self.layout, clip.key, self.config, sequence)
        else:
            rng = np.random.default_rng([self.seed, self.epoch, position])
            mirrored = clip_mirrored(rng, self.augment)  # one decision for the landmarks, thumbnails and motion
            features = clip_features(self.layout, clip.key, self.config, sequence,
                                     jitter=self.augment.temporal_jitter, rng=rng,
                                     augment=functools.partial(augment_points, config=self.augment, mirrored=mirrored))
            if THUMBNAILS_INPUT in features:
                features[THUMBNAILS_INPUT] = augment_thumbnails(features[THUMBNAILS_INPUT], rng, self.augment,
                                                                mirrored=mirrored)
            if "motion" in features and mirrored:  # a mirrored scene moves mirrored
                features["motion"] = mirror_motion(features["motion"])
        return {name: features[name] for name in self.input_names}

    def sequence(self, clip: Clip) -> LandmarkSequence:
        """A clip's landmarks: from the cache, else parsed (and kept while the cache has room)."""
        path = str(self.layout.landmarks(clip.key))
        cached = self.cache.get(path) if self.cache is not None else None
        if cached is not None:
            return cached
        if clip.fps is None or clip.width is None or clip.height is None:  # load_clips refuses such clips
            raise InputError(f"{self.layout.manifest}: clip {clip.key} has no fps or frame size; extract it again")
        sequence = load_clip_sequence(self.layout, clip.key, fps=clip.fps, width=clip.width, height=clip.height)
        if self.cache is not None:
            self.cache.keep(path, sequence)
        return sequence

    def batch(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(inputs, one-hot targets (B, classes), sample weights) of batch `index`.

        One-hot rather than class indices: label smoothing needs the whole target row.

        A clip that cannot be read raises InputError naming its file; the first is also kept in
        `failure`, because TensorFlow re-raises errors of loader threads wrapped in its own
        (see `loader_errors`).
        """
        try:
            return self._batch(index)
        except InputError as error:
            self.failure = self.failure or error
            raise

    def _batch(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        positions = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        per_clip = [self.clip_inputs(int(position)) for position in positions]
        inputs = {name: np.stack([clip[name] for clip in per_clip]) for name in self.input_names}
        classes = np.array([self.index_of[self.clips[int(p)].label] for p in positions], dtype=np.int64)
        targets = np.eye(len(self.index_of), dtype=np.float32)[classes]
        if self.class_weights:
            weights = np.array([self.class_weights[int(c)] for c in classes], dtype=np.float32)
        else:
            weights = np.ones(len(classes), dtype=np.float32)
        return inputs, targets, weights


@contextlib.contextmanager
def loader_errors(*batches: ClipBatches | None) -> Iterator[None]:
    """Around model.fit/predict: an unreadable clip ends it as the one-line InputError that names
    its file, not as TensorFlow's multi-line wrapper of it (raised from the loader thread)."""
    try:
        yield
    except Exception:
        failure = next((b.failure for b in batches if b is not None and b.failure is not None), None)
        if failure is not None:
            raise failure from None
        raise


def keras_batches(batches: ClipBatches, *, targets: bool, loader_threads: int = 1,
                  outputs: list[str] | None = None,
                  endless: bool = False) -> Any:
    """A tf.data pipeline over ClipBatches: batches are made in the background while the model trains.

    One pass over the dataset is one epoch: its order and augmentation come from
    (seed, epoch, clip), and the epoch counter moves when a pass ends. `loader_threads` > 1
    makes that many batches at once in threads (numpy releases the GIL). A tf.data generator with
    prefetch feeds a step about twice as fast as a keras PyDataset (measured by
    scripts/bench_train.py), which matters once the model itself is fast.

    `outputs`: the output names of a model with several heads; each gets the same targets and weights.

    `endless`: pass after pass without end, for `fit(..., steps_per_epoch=len(batches))`. Keras
    then keeps one iterator for the whole run, so an epoch does not start by building a new one
    and waiting for its first batch (0.1-0.5 s an epoch, most of a small set's epoch): the next
    epoch's first batches are made while this one's last steps train.
    """
    import tensorflow as tf

    def item(index: int) -> tuple:
        inputs, classes, weights = batches.batch(index)
        if not targets:
            return (inputs,)
        if outputs:
            return inputs, {name: classes for name in outputs}, {name: weights for name in outputs}
        return inputs, classes, weights

    example = item(0)  # its shapes and types are the dataset's signature
    made = {0: example}  # ... and it is the first pass's first batch (same seed, epoch and clips)

    def made_or_item(index: int) -> tuple:
        return made.pop(index) if index in made else item(index)

    def passes() -> Iterator[tuple]:
        yield from one_pass()
        while endless:
            yield from one_pass()

    def one_pass() -> Iterator[tuple]:
        try:
            if loader_threads <= 1:
                for index in range(len(batches)):
                    yield made_or_item(index)
            else:
                with concurrent.futures.ThreadPoolExecutor(loader_threads) as pool:
                    pending: collections.deque = collections.deque()
                    for index in range(len(batches)):
                        pending.append(pool.submit(made_or_item, index))
                        if len(pending) > loader_threads:
                            yield pending.popleft().result()
                    while pending:
                        yield pending.popleft().result()
        finally:
            batches.on_epoch_end()

    def spec(value: np.ndarray) -> Any:
        return tf.TensorSpec((None, *value.shape[1:]), tf.as_dtype(value.dtype))

    signature = tf.nest.map_structure(spec, example)
    dataset = tf.data.Dataset.from_generator(passes, output_signature=signature)
    if endless:
        return dataset.prefetch(2)
    # a known length: keras then knows an epoch's steps (and does not warn that data "ran out")
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2)


# Up to this many batches a model is called on each batch directly: Keras traces a predict function
# for every model object (0.3-1 s on CPU), more than a few direct calls cost; past it, predict's
# pipeline (the next batches read while the model runs) is faster. The answers are the same.
DIRECT_CALL_BATCHES = 4


def predict_batches(model: Any, batches: ClipBatches, *, loader_threads: int = 1) -> Any:
    """The model's outputs over every clip of `batches`, in their order: an array, or the structure of
    arrays of a model with several outputs (a list or a name -> array dict), as `model.predict` gives."""
    if len(batches) > DIRECT_CALL_BATCHES:
        return model.predict(keras_batches(batches, targets=False, loader_threads=loader_threads), verbose=0)
    import keras

    outputs = [keras.tree.map_structure(np.asarray, model(batches.batch(index)[0], training=False))
               for index in range(len(batches))]
    return keras.tree.map_structure(lambda *parts: np.concatenate(parts), *outputs)


def _check_motion(layout: FeaturesLayout, key: str, config: FeatureConfig) -> None:
    """A clip's motion file is there, whole, and holds vectors of the size this pose_action makes."""
    path = layout.motion(key)
    if not path.is_file():
        raise InputError(f"{path}: missing motion file (run `pose-action extract VIDEO_ROOT --out {layout.root} "
                         "--motion` with the folder's other options: it adds only the motion files)")
    index_shape, shape, _ = stored_shapes(path, "embeddings")  # the same arrays: vectors, frame_index
    if len(shape) != 2 or shape[1] != config.motion_dim or not shape[0] or index_shape != (shape[0],):
        raise InputError(f"{path}: motion vectors of shape {shape} for {index_shape} frame numbers; "
                         f"expected (N, {config.motion_dim})")


def _check_people(layout: FeaturesLayout, key: str) -> None:
    """The clip's people file names only frames its landmark CSV processed (it is this clip's)."""
    import pandas as pd

    landmarks = layout.landmarks(key)
    try:
        frames = pd.read_csv(landmarks, usecols=["frame"])["frame"].to_numpy()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        raise InputError(f"{landmarks}: not a readable landmark CSV ({error})") from None
    check_people_frames(layout.people(key), people_frames(layout.people(key)), frames, landmarks)


def check_features(layout: FeaturesLayout, clips: list[Clip], config: FeatureConfig) -> int | None:
    """Check every clip's landmark CSV and appearance file up front (headers and file ends only, no pixels).

    A truncated thumbnail .npz, a torn CSV or thumbnails of another size would otherwise stop
    training with a traceback mid-run; here they stop it before a model is built, with one line
    naming the first bad file (and how many more there are). Returns the stored embeddings'
    size (None without embeddings): the model's input needs it.
    """
    problems: list[str] = []
    dims: set[int] = set()
    for clip in clips:
        try:
            check_complete(layout.landmarks(clip.key))
            if config.second_person and layout.people(clip.key).is_file():
                _check_people(layout, clip.key)
            if config.motion:
                _check_motion(layout, clip.key, config)
            path = layout.appearance(clip.key, config.appearance, config.backbone)
            if path is None:
                continue
            if not path.is_file():
                how = f"--embed {config.backbone}" if config.appearance == "embeddings" else "the same options"
                raise InputError(f"{path}: missing {config.appearance} file (extract with {how})")
            index_shape, shape, dtype = stored_shapes(path, config.appearance)
            if config.appearance == "thumbs" and (len(shape) != 4 or shape[1:] != (config.thumb_size,) * 2 + (3,)
                                                  or dtype != np.uint8):
                raise InputError(f"{path}: thumbnails are {'x'.join(map(str, shape[1:]))} {dtype} but the model "
                                 f"expects {config.thumb_size}x{config.thumb_size}x3 uint8")
            if config.appearance == "embeddings":
                if len(shape) != 2:
                    raise InputError(f"{path}: embeddings must be (frames, size), got shape {shape}")
                dims.add(int(shape[1]))
            if not shape[0] or index_shape != (shape[0],):
                raise InputError(f"{path}: holds {shape[0]} {config.appearance} for {index_shape} frame numbers")
        except InputError as error:
            problems.append(str(error))
    if problems:
        more = f" (and {len(problems) - 1} more clips with bad feature files)" if len(problems) > 1 else ""
        raise InputError(problems[0] + more)
    if len(dims) > 1:
        raise InputError(f"{layout.root}: embeddings of different sizes {sorted(dims)} (extracted with "
                         "different backbones?)")
    return dims.pop() if dims else None
