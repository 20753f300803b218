"""The run directory: a trained model with everything needed to rebuild its input.

    RUN/
      model.keras                 the Keras model (custom layers from pose_action.training.models)
      model.tflite                after `pose-action export`: the same model for the LiteRT runtime
      labels.json                 ["ClassA", "ClassB", ...]: output index -> class name
      split.json                  train/val/test keys and groups (training.splits.Split)
      history.csv                 loss/accuracy per epoch (train and val)
      known_clips.npy             the training clips' head inputs, unit length (pose_action.novelty)
      metrics.json                accuracy, macro_f1, per_class, split, n_train, n_test, test_groups, ...
      classification_report.csv   per-class precision/recall/F1/support
      confusion_matrix.png, curves.png
      config.json                 written LAST: its presence marks a complete run (RunConfig)

A run is trained in a hidden sibling folder and renamed into place only when complete, so an
interrupted training leaves no half-valid run. A cross-validation run (`train --cv`) is a
folder with `cv.json` and one complete run per fold in `fold-K/`.

`load_run` is the one loader of a run folder (evaluate, predict, live and export): it checks
config.json and labels.json and needs no TensorFlow. The model itself is opened by
`inference.backends.load_backend`, which checks it against this config.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import types
import typing
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from pose_action import __version__
from pose_action.calibration import Calibration
from pose_action.catalog import MODEL_NAMES, THUMBNAILS_INPUT
from pose_action.errors import InputError, describe_os_error
from pose_action.features import FeatureConfig
from pose_action.files import atomic_path, check_apart, check_writable, current_umask, read_json
from pose_action.novelty import Novelty

RUN_FORMAT = "pose_action.run/1"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
LABELS_FILE = "labels.json"
SPLIT_FILE = "split.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
REPORT_FILE = "classification_report.csv"
CONFUSION_FILE = "confusion_matrix.png"
CURVES_FILE = "curves.png"
RELIABILITY_FILE = "reliability.png"  # reliability diagram of the evaluation (confidence vs accuracy)
CV_FILE = "cv.json"
KNOWN_CLIPS_FILE = "known_clips.npy"  # the training clips' head inputs: a window's novelty is measured to them
EVALUATIONS_DIR = "evaluations"  # evaluate on other features: RUN/evaluations/<features folder>/


class PoseOptions(TypedDict, total=False):
    """The PoseEstimator keywords a run records (each only when extraction wrote it down)."""

    min_detection_confidence: float
    min_tracking_confidence: float


@dataclass(frozen=True)
class ModelConfig:
    """Which model a run holds: its name, resolved params, the inputs it reads, its outputs."""

    name: str
    params: dict
    inputs: tuple[str, ...]
    num_classes: int
    embedding_dim: int | None = None


@dataclass(frozen=True)
class RunConfig:
    """config.json: everything inference needs to rebuild a model's input, and where the model came from.

    `window` is the median training clip ({"frames", "seconds", "fps"}): live inference uses
    windows of the same duration. `extraction` is the extract_config.json the training
    features were made with (pose model and its SHA-256, sampling, thumbnails).
    """

    model: ModelConfig
    features: FeatureConfig
    labels: tuple[str, ...]
    window: dict
    extraction: dict = field(default_factory=dict)
    split: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    augmentation: dict | None = None  # training.augment.AugmentConfig, None when not augmented
    seed: int | None = None
    distribution: dict | None = None
    features_root: str = ""
    created: str = ""
    pose_action_version: str = __version__
    # temperature and `unknown` threshold from held-out predictions (runs made before it: T = 1)
    calibration: Calibration = field(default_factory=Calibration.none)
    # the `unknown` threshold on a window's novelty, from held-out clips (runs made before it: none)
    novelty: Novelty = field(default_factory=Novelty.none)

    def to_dict(self) -> dict:
        model = asdict(self.model)
        model["inputs"] = list(self.model.inputs)
        return {
            "format": RUN_FORMAT, "pose_action_version": self.pose_action_version, "created": self.created,
            "model": model, "features": self.features.to_dict(), "labels": list(self.labels),
            "extraction": self.extraction, "window": self.window, "split": self.split, "seed": self.seed,
            "training": self.training, "augmentation": self.augmentation, "distribution": self.distribution,
            "features_root": self.features_root, "calibration": self.calibration.to_dict(),
            "novelty": self.novelty.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: Any, where: str | os.PathLike = CONFIG_FILE) -> RunConfig:
        """A checked config; InputError names `where` and the first problem."""
        if not isinstance(values, dict) or values.get("format") != RUN_FORMAT:
            found = values.get("format") if isinstance(values, dict) else None
            raise InputError(f"{where}: run format {found!r}, this pose_action ({__version__}) reads {RUN_FORMAT!r}")
        for key in ("model", "features", "labels", "window"):
            if key not in values:
                raise InputError(f"{where}: missing {key!r}")
        values = migrate_config(values)
        config = cls(model=_model_config(values["model"], where), features=_feature_config(values["features"], where),
                     labels=_labels(values["labels"], where), window=_dict(values, "window", where),
                     extraction=_dict(values, "extraction", where), split=_dict(values, "split", where),
                     training=_dict(values, "training", where), augmentation=values.get("augmentation"),
                     seed=values.get("seed"), distribution=values.get("distribution"),
                     features_root=str(values.get("features_root") or ""), created=str(values.get("created") or ""),
                     pose_action_version=str(values.get("pose_action_version") or ""),
                     calibration=Calibration.from_dict(values.get("calibration"), where),
                     novelty=Novelty.from_dict(values.get("novelty"), where))
        if config.seed is not None and _type_problem(config.seed, int):
            raise InputError(f"{where}: 'seed' must be a whole number or null, got {config.seed!r}")
        if _window_seconds(config.window) is None:  # checked here, not when the first window is cut
            raise InputError(f"{where}: missing or bad 'window' (the training clips' duration in seconds)")
        _check_extraction(config.extraction, where)
        return config

    @property
    def window_seconds(self) -> float:
        """The sliding window of live inference: the median duration of the training clips."""
        seconds = _window_seconds(self.window)
        if seconds is None:
            raise InputError("config.json: missing or bad 'window' (the training clips' duration in seconds)")
        return seconds

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-example shapes of the build_features arrays this config gives (what the model must read)."""
        features = self.features
        shapes = {"pose": (features.frames, features.pose_dim), "mask": (features.frames,)}
        if features.appearance == "thumbs":
            shapes[THUMBNAILS_INPUT] = (features.scene_steps, features.thumb_size, features.thumb_size, 3)
        elif features.appearance == "embeddings" and self.model.embedding_dim:
            shapes["embeddings"] = (features.scene_steps, int(self.model.embedding_dim))
        if features.motion:
            shapes["motion"] = (features.frames, features.motion_dim)
        return shapes

    # -- what extraction did (inference repeats it)

    @property
    def pose_model(self) -> str:
        """lite | full | heavy | a .task path, as extraction used it."""
        return str((self.extraction.get("pose_model") or {}).get("name") or "lite")

    @property
    def pose_model_sha256(self) -> str | None:
        return (self.extraction.get("pose_model") or {}).get("sha256") or None

    @property
    def pose_options(self) -> PoseOptions:
        """PoseEstimator options extraction used (confidence thresholds)."""
        pose = self.extraction.get("pose") or {}
        options: PoseOptions = {}
        if pose.get("min_detection_confidence") is not None:
            options["min_detection_confidence"] = float(pose["min_detection_confidence"])
        if pose.get("min_tracking_confidence") is not None:
            options["min_tracking_confidence"] = float(pose["min_tracking_confidence"])
        return options

    @property
    def zoom(self) -> bool:
        """Whether extraction looked again in a crop where it found nobody (absent: --no-zoom, or made before it)."""
        return bool((self.extraction.get("pose") or {}).get("zoom"))

    @property
    def exposure(self) -> bool:
        """Whether extraction stretched underexposed frames for the landmarker (absent: --no-exposure, or before it)."""
        return bool((self.extraction.get("pose") or {}).get("exposure"))

    @property
    def max_people(self) -> int:
        """Poses per frame extraction asked for (`extract --max-people`; 1 when it tracked nobody else)."""
        try:
            return max(1, int((self.extraction.get("people") or {}).get("max_people") or 1))
        except (TypeError, ValueError, AttributeError):
            return 1

    def stride(self, fps: float) -> int:
        """Every how many frames extraction processed one, at this frame rate."""
        from pose_action.video import stride_for

        sampling = self.extraction.get("sampling") or {}
        return stride_for(fps, sampling.get("fps"), sampling.get("stride"))

    @property
    def appearance_frames(self) -> int | None:
        """Thumbnails/embeddings extraction kept per clip (uniform over it), or None: every frame."""
        frames = (self.extraction.get("thumbnails") or {}).get("frames")
        return int(frames) if frames else None

    @property
    def embedding_weights(self) -> str:
        """The weights extraction's embedder used (imagenet, none or a file)."""
        return str((self.extraction.get("embeddings") or {}).get("weights", "imagenet"))


def _window_seconds(window: dict) -> float | None:
    """Seconds of the window ({"seconds"} or {"frames", "fps"}); None when missing or not positive."""
    try:
        seconds = window.get("seconds")
        if seconds is None and window.get("frames") and window.get("fps"):
            seconds = float(window["frames"]) / float(window["fps"])
        if seconds is None:
            return None
        seconds = float(seconds)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _check_extraction(extraction: dict, where: str | os.PathLike, prefix: str = "extraction.") -> None:
    """The parts of an extraction config that training and inference read, each of its type and range.

    The one validator of extract_config.json: as a run's `extraction` (prefix "extraction.") and as
    a features folder's own file (`check_extraction_config`, prefix ""). InputError names the key
    and what it must be, never a Python internal.
    """
    def section(name: str) -> dict:
        value = extraction.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise InputError(f"{where}: '{prefix}{name}' must be a JSON object (or null), got {value!r}")
        return value

    def number(value: Any, low: float, high: float, integer: bool = False) -> bool:
        kind = int if integer else (int, float)
        return isinstance(value, kind) and not isinstance(value, bool) and low <= value <= high

    sampling, thumbnails, pose = section("sampling"), section("thumbnails"), section("pose")
    pose_model, people, embeddings = section("pose_model"), section("people"), section("embeddings")
    if sampling.get("fps") is not None and not number(sampling["fps"], 1e-6, 1e6):
        raise InputError(f"{where}: '{prefix}sampling.fps' must be a positive number (or null), "
                         f"got {sampling['fps']!r}")
    if sampling.get("stride") is not None and not number(sampling["stride"], 1, 1e9, integer=True):
        raise InputError(f"{where}: '{prefix}sampling.stride' must be a whole number >= 1 (or null), "
                         f"got {sampling['stride']!r}")
    for name in ("frames", "size"):
        if thumbnails.get(name) is not None and not number(thumbnails[name], 1, 1e9, integer=True):
            raise InputError(f"{where}: '{prefix}thumbnails.{name}' must be a whole number >= 1, "
                             f"got {thumbnails[name]!r}")
    for name in ("min_detection_confidence", "min_tracking_confidence"):
        if pose.get(name) is not None and not number(pose[name], 0.0, 1.0):
            raise InputError(f"{where}: '{prefix}pose.{name}' must be between 0 and 1, got {pose[name]!r}")
    for name in ("name", "sha256"):
        if pose_model.get(name) is not None and not isinstance(pose_model[name], str):
            raise InputError(f"{where}: '{prefix}pose_model.{name}' must be a string, got {pose_model[name]!r}")
    if people.get("max_people") is not None and not number(people["max_people"], 1, 1000, integer=True):
        raise InputError(f"{where}: '{prefix}people.max_people' must be a whole number >= 1, "
                         f"got {people['max_people']!r}")
    if embeddings.get("weights") is not None and not isinstance(embeddings["weights"], str):
        raise InputError(f"{where}: '{prefix}embeddings.weights' must be a string, got {embeddings['weights']!r}")


def check_extraction_config(values: Any, where: str | os.PathLike) -> dict:
    """A features folder's extract_config.json, checked as a run will later read it (before any training)."""
    if not isinstance(values, dict):
        raise InputError(f"{where}: not an extraction config (expected a JSON object)")
    _check_extraction(values, where, prefix="")
    return values


def _dict(values: dict, key: str, where: str | os.PathLike) -> dict:
    value = values.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: {key!r} must be a JSON object")
    return value


# ----------------------------------------------------------------------------- older runs


def migrate_config(values: dict) -> dict:
    """A config.json saved by an older pose_action, upgraded to what this one writes (a copy; idempotent).

    Every upgrade of a run config is here, tied to the run format: a config of RUN_FORMAT
    "pose_action.run/1" may predate keys added later, and a missing key takes the value that held
    before it existed (not today's default). A new run format adds its step from the one before.
    - features.pose_features: "normalized" (before body features); features.scene_frames: None
      (every frame's appearance); features.locomotion: "none"; features.second_person, features.motion: false;
      features.locomotion was true or false before it named what it carries: "full" or "none"
    - model.params.cnn: "conv" (thumbnail CNNs before the 4x4 stem); model.params.fusion_gate: "none"
      (fusion runs before the confidence gate: one early-fusion head); model.params.pose_head:
      "shared" (fusion runs before the pose-only head had its own projection); model.params.novelty_reads:
      "mix" (fusion runs before novelty read the head the mix trusts most)
    - training.loader_threads: was "workers"; training.second_person: false; training.locomotion: null
      (the recipe's, "none" then), true or false before: "full" or None
    """
    values = dict(values)
    if isinstance(values.get("features"), dict):
        values["features"] = {**_FEATURES_BEFORE, **values["features"]}
        if isinstance(values["features"]["locomotion"], bool):
            values["features"]["locomotion"] = "full" if values["features"]["locomotion"] else "none"
    if isinstance(values.get("model"), dict) and isinstance(values["model"].get("params"), dict):
        values["model"] = {**values["model"], "params": _migrate_params(values["model"]["params"])}
    if isinstance(values.get("training"), dict):
        training = {**_TRAINING_BEFORE, **values["training"]}
        if "workers" in training:
            training.setdefault("loader_threads", training["workers"])
            del training["workers"]
        if isinstance(training["locomotion"], bool):
            training["locomotion"] = "full" if training["locomotion"] else None
        values["training"] = training
    return values


# Keys added to format 1 after its first release -> the value every run made before them had.
_FEATURES_BEFORE = {"pose_features": "normalized", "scene_frames": None, "locomotion": "none",
                    "second_person": False, "motion": False}
_TRAINING_BEFORE = {"second_person": False, "locomotion": None}


def _migrate_params(params: dict) -> dict:
    """The model params step of migrate_config."""
    if "cnn_filters" in params and "cnn" not in params:
        params = {**params, "cnn": "conv"}  # runs saved before the 4x4 stem opened with a 3x3 stride-2 conv
    if "cnn_filters" in params and "fusion_gate" not in params:
        params = {**params, "fusion_gate": "none"}  # fusion runs saved before the gate were one early-fusion head
    if "fusion_gate" in params and "pose_head" not in params:
        params = {**params, "pose_head": "shared"}  # fusion runs saved before the pose-only head had its own projection
    if "fusion_gate" in params and "novelty_reads" not in params:
        params = {**params, "novelty_reads": "mix"}  # fusion runs saved before novelty read the mix's top head
    if "fusion_gate" in params and "fused_locomotion" not in params:
        params = {**params, "fused_locomotion": True}  # fusion runs saved before the option: every head read it
    return params


def _model_config(values: Any, where: str | os.PathLike) -> ModelConfig:
    if not isinstance(values, dict) or not values.get("name"):
        raise InputError(f"{where}: 'model' must name the model")
    if values["name"] not in MODEL_NAMES:
        raise InputError(f"{where}: model {values['name']!r} is not one this pose_action builds "
                         f"({', '.join(MODEL_NAMES)})")
    inputs, params, dim = values.get("inputs"), values.get("params") or {}, values.get("embedding_dim")
    if not isinstance(inputs, list) or not all(isinstance(name, str) for name in inputs):
        raise InputError(f"{where}: 'model.inputs' must list the model's input names")
    if not isinstance(params, dict) or (dim is not None and not isinstance(dim, int)):
        raise InputError(f"{where}: bad 'model' (params must be an object, embedding_dim a number)")
    try:
        num_classes = int(values.get("num_classes") or 0)
    except (TypeError, ValueError):
        raise InputError(f"{where}: 'model.num_classes' must be a number") from None
    params = _migrate_params(params)  # a model section read on its own is upgraded the same (migrate_config)
    return ModelConfig(name=str(values["name"]), params=params, inputs=tuple(inputs), num_classes=num_classes,
                       embedding_dim=dim)


_TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def _type_problem(value: Any, hint: Any) -> str | None:
    """What `value` should be for the type hint `hint` (int, float, bool, str, X | None), or None if it is that."""
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in kinds:
        return None
    for kind in kinds:
        if kind is bool and isinstance(value, bool):
            return None
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return None
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        if kind is str and isinstance(value, str):
            return None
        if kind not in _TYPE_NAMES and kind is not type(None):
            return None  # a type this check does not know: FeatureConfig's own check decides
    names = [_TYPE_NAMES[kind] for kind in kinds if kind in _TYPE_NAMES]
    return " or ".join(names) + (" or null" if type(None) in kinds else "")


def _feature_config(values: Any, where: str | os.PathLike) -> FeatureConfig:
    if not isinstance(values, dict):
        raise InputError(f"{where}: 'features' must be a JSON object")
    hints = typing.get_type_hints(FeatureConfig)
    for key, value in values.items():
        expected = _type_problem(value, hints[key]) if key in hints else None
        if expected:
            raise InputError(f"{where}: 'features.{key}' must be {expected}, got {value!r}")
    try:
        return FeatureConfig.from_dict(values)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: bad 'features' ({error})") from None


def _labels(values: Any, where: str | os.PathLike) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(label, str) for label in values):
        raise InputError(f"{where}: 'labels' must be a JSON list of class names")
    return tuple(values)


@dataclass(frozen=True)
class Run:
    """A complete run folder: where it is and its checked config (the model is opened by a backend)."""

    path: Path
    config: RunConfig

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    @property
    def feature_config(self) -> FeatureConfig:
        return self.config.features

    @property
    def model_name(self) -> str:
        return self.config.model.name

    @property
    def input_names(self) -> list[str]:
        return list(self.config.model.inputs)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def tflite_path(self) -> Path:
        return self.path / TFLITE_FILE

    def known_clips(self) -> np.ndarray | None:
        """(clips, D) the training clips' unit head inputs; None for a run without novelty."""
        if not self.config.novelty.used:
            return None
        path = self.path / KNOWN_CLIPS_FILE
        try:
            known = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise InputError(f"{path}: missing (config.json sets a novelty threshold; restore the file or "
                             "train the run again)") from None
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: not a readable array ({error})") from None
        expected = self.config.novelty.known_clips
        if known.ndim != 2 or len(known) != expected or not known.shape[1]:
            raise InputError(f"{path}: expected {expected} rows of head inputs, found shape {known.shape}")
        return known.astype(np.float32)


def _not_a_run(path: Path) -> InputError:
    if (path / CV_FILE).is_file():
        folds = sorted(p.name for p in path.glob("fold-*") if (p / CONFIG_FILE).is_file())
        hint = f" (e.g. {path / folds[0]})" if folds else ""
        return InputError(f"{path}: a cross-validation summary, not one model; use one of its fold runs{hint}")
    if not path.exists():
        return InputError(f"{path}: no such run directory")
    return InputError(f"{path}: not a complete run (no {CONFIG_FILE}; was training interrupted?)")


def load_run(path: str | os.PathLike) -> Run:
    """The one loader of a run folder: a complete run whose config.json and labels.json are sound and agree."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise _not_a_run(path)
    config = RunConfig.from_dict(read_json(path / CONFIG_FILE), path / CONFIG_FILE)
    labels = read_json(path / LABELS_FILE)
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise InputError(f"{path / LABELS_FILE}: expected a JSON list of class names")
    if tuple(labels) != config.labels:
        raise InputError(f"{path}: {LABELS_FILE} and {CONFIG_FILE} disagree on the classes")
    if len(labels) < 2:
        raise InputError(f"{path / LABELS_FILE}: a classifier needs at least 2 classes, got {len(labels)}")
    return Run(path=path, config=config)


# What a run folder may hold besides its own files: anything else (a video, a class folder, a features
# folder's landmarks/) means it is not only a run, and --overwrite must not delete it.
RUN_ENTRIES = frozenset({CONFIG_FILE, MODEL_FILE, TFLITE_FILE, LABELS_FILE, SPLIT_FILE, METRICS_FILE, HISTORY_FILE,
                         REPORT_FILE, CONFUSION_FILE, CURVES_FILE, KNOWN_CLIPS_FILE, EVALUATIONS_DIR})
RUN_FILE_SUFFIXES = frozenset({".json", ".csv", ".png", ".keras", ".tflite", ".npy"})  # what runs write
FOLD_NAME = re.compile(r"^fold-\d+$")


def _strays(path: Path, allowed: Any) -> list[str]:
    """Visible entries of `path` a run would not have written (its hidden staging leftovers do not count)."""
    strays = []
    for child in path.iterdir():
        if child.name.startswith(".") or allowed(child):
            continue
        strays.append(child.name)
    return sorted(strays)


def _run_entry(child: Path) -> bool:
    if child.name in RUN_ENTRIES:
        return child.is_dir() == (child.name == EVALUATIONS_DIR) and not child.is_symlink()
    return child.is_file() and not child.is_symlink() and child.suffix.lower() in RUN_FILE_SUFFIXES


def run_proof_problem(path: str | os.PathLike) -> str | None:
    """Why `path` is not provably a run this package wrote (None: it is one, --overwrite may replace it).

    A single run proves itself by config.json of the run format beside its labels.json and
    model.keras, and nothing a run does not hold; a cross-validation by a cv.json of the CV summary's
    shape and/or fold-K/ folders that are each such a run, and nothing else. In doubt: not a run.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return "not a folder"
    if (path / CONFIG_FILE).exists():
        try:
            values = read_json(path / CONFIG_FILE)
        except InputError:
            return f"{CONFIG_FILE} is not readable JSON"
        if not isinstance(values, dict) or values.get("format") != RUN_FORMAT:
            return f"{CONFIG_FILE} is not a run's (no \"format\": \"{RUN_FORMAT}\")"
        missing = [name for name in (LABELS_FILE, MODEL_FILE) if not (path / name).is_file()]
        if missing:
            return f"no {missing[0]} beside its {CONFIG_FILE}"
        strays = _strays(path, _run_entry)
        return f"it also holds {strays[0]!r}, which no run holds" if strays else None
    folds = [child for child in path.iterdir() if FOLD_NAME.match(child.name)]
    if not folds and not (path / CV_FILE).exists():
        return f"no {CONFIG_FILE} or {CV_FILE}"
    if (path / CV_FILE).exists():
        try:
            summary = read_json(path / CV_FILE)
        except InputError:
            return f"{CV_FILE} is not readable JSON"
        if not isinstance(summary, dict) or not isinstance(summary.get("folds"), list) or "split" not in summary:
            return f"{CV_FILE} is not a cross-validation summary"
    for fold in folds:
        problem = run_proof_problem(fold)
        if problem:
            return f"{fold.name}: {problem}"
    strays = _strays(path, lambda child: child.name in (CV_FILE, RELIABILITY_FILE)  # the pooled reliability diagram
                     or (FOLD_NAME.match(child.name) and child.is_dir()))
    return f"it also holds {strays[0]!r}, which no cross-validation holds" if strays else None


def _is_run_folder(path: Path) -> bool:
    """A complete run or cross-validation (finished or resumable) that proves it is one."""
    return run_proof_problem(path) is None


def save_model(model: Any, path: str | os.PathLike) -> None:
    """model.save through a temp file, so a crash never leaves a truncated model.keras."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def save_known_clips(known: np.ndarray, path: str | os.PathLike) -> None:
    """known_clips.npy as float16 (half the size; a distance moves by about 1e-3) through a temp file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(known, dtype=np.float16), allow_pickle=False)


def check_new_output(out: str | os.PathLike, *, overwrite: bool = False,
                     inputs: tuple[str | os.PathLike | None, ...] = ()) -> None:
    """Refuse to replace an existing non-empty folder unless asked, and then anything but a run that proves
    it is one; an --out that is, holds or lies inside an input; a location that cannot be written
    (checked before training starts)."""
    out = Path(out)
    check_apart(out, inputs)
    if out.exists() and not overwrite and (any(out.iterdir()) if out.is_dir() else True):
        raise InputError(f"{out}: already exists (choose another --out, or pass --overwrite)")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    _check_replaceable(out)
    check_writable(out.parent)  # a read-only or missing location fails now, not after training


def check_cv_output(out: str | os.PathLike, inputs: tuple[str | os.PathLike | None, ...] = ()) -> None:
    """`train --cv` adds fold runs and cv.json to `out`: apart from its inputs, and only ever to nothing or to a
    cross-validation that proves it is one (a rerun resumes it)."""
    out = Path(out)
    check_apart(out, inputs)
    if out.is_dir() and any(out.iterdir()):
        problem = run_proof_problem(out)
        if problem:
            raise InputError(f"{out}: not a cross-validation run ({problem}); choose another --out")


def _check_replaceable(out: Path) -> None:
    """--overwrite deletes what is at `out`: only ever a run (a features or video folder is not)."""
    if out.is_symlink():
        raise InputError(f"{out}: is a symbolic link; --overwrite replaces only runs: choose another --out")
    if out.is_dir() and any(out.iterdir()):
        problem = run_proof_problem(out)
        if problem:
            raise InputError(f"{out}: not a run ({problem}); --overwrite replaces only runs: choose another --out")


@contextlib.contextmanager
def staged_directory(out: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a hidden folder beside `out`; move it onto `out` only when the block succeeds.

    An existing complete run (or CV summary) at `out` is an error unless `overwrite`; then it is
    replaced only after the new one is complete. An interrupted block removes its staging folder.
    """
    out = Path(out)
    check_new_output(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it private; a run folder is an ordinary folder
    try:
        yield staging
        if out.exists():
            _check_replaceable(out)  # again: hours may have passed since the check before training
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, trash / out.name)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except InputError as error:  # a failed write names --out, not the hidden staging folder the user never chose
        raise InputError(str(error).replace(str(staging), str(out))) from None
    except OSError as error:
        raise InputError(describe_os_error(error, out)) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
