"""The run directory: a trained model with everything needed to rebuild its input.

    RUN/
      model.keras                 the Keras model (custom layers from pose_action.training.models)
      labels.json                 ["ClassA", "ClassB", ...]: output index -> class name
      split.json                  train/val/test keys and groups (splits.Split)
      history.csv                 loss/accuracy per epoch (train and val)
      metrics.json                accuracy, macro_f1, per_class, split, n_train, n_test, test_groups, ...
      classification_report.csv   per-class precision/recall/F1/support
      confusion_matrix.png, curves.png
      config.json                 written LAST: its presence marks a complete run

A run is trained in a hidden sibling folder and renamed into place only when complete, so an
interrupted training leaves no half-valid run. A cross-validation run (`train --cv`) is a
folder with `cv.json` and one complete run per fold in `fold-K/`.

`read_config` and `read_labels` need no TensorFlow (the LiteRT runtime uses them);
`load_run` imports Keras and the custom layers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pose_action import __version__
from pose_action.errors import InputError
from pose_action.files import atomic_path, write_text_atomic
from pose_action.features import FeatureConfig

RUN_FORMAT = "pose_action.run/1"
CONFIG_NAME = "config.json"
MODEL_NAME = "model.keras"
LABELS_NAME = "labels.json"
SPLIT_NAME = "split.json"
CV_NAME = "cv.json"


def write_json(path: str | os.PathLike, values: Any) -> None:
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None


def _not_a_run(path: Path) -> InputError:
    if (path / CV_NAME).is_file():
        folds = sorted(p.name for p in path.glob("fold-*") if (p / CONFIG_NAME).is_file())
        hint = f" (e.g. {path / folds[0]})" if folds else ""
        return InputError(f"{path}: a cross-validation summary, not one model; use one of its fold runs{hint}")
    if not path.exists():
        return InputError(f"{path}: no such run directory")
    return InputError(f"{path}: not a complete run (no {CONFIG_NAME}; was training interrupted?)")


def read_config(path: str | os.PathLike) -> dict:
    """A run's config.json, checked: complete run, known format, all keys inference needs."""
    path = Path(path)
    if not (path / CONFIG_NAME).is_file():
        raise _not_a_run(path)
    config = read_json(path / CONFIG_NAME)
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise InputError(f"{path / CONFIG_NAME}: run format {found!r}, this pose_action "
                         f"({__version__}) reads {RUN_FORMAT!r}")
    for key in ("model", "features", "labels"):
        if key not in config:
            raise InputError(f"{path / CONFIG_NAME}: missing {key!r}")
    return config


def feature_config(config: dict) -> FeatureConfig:
    """The FeatureConfig a run was trained with (inference rebuilds inputs from it, never from flags)."""
    return FeatureConfig.from_dict(config["features"])


def read_labels(path: str | os.PathLike) -> list[str]:
    labels = read_json(Path(path) / LABELS_NAME)
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise InputError(f"{Path(path) / LABELS_NAME}: expected a JSON list of class names")
    return labels


@dataclass
class Run:
    """A loaded run: where it is, its config, its labels and its Keras model."""

    path: Path
    config: dict
    labels: list[str]
    model: Any  # keras.Model

    @property
    def feature_config(self) -> FeatureConfig:
        return feature_config(self.config)

    @property
    def model_name(self) -> str:
        return str(self.config["model"]["name"])

    @property
    def input_names(self) -> list[str]:
        return list(self.config["model"]["inputs"])


def load_run(path: str | os.PathLike, *, compile: bool = False) -> Run:
    """Load a complete run; InputError for a missing, interrupted or incompatible one."""
    path = Path(path)
    config = read_config(path)
    labels = read_labels(path)
    if labels != list(config["labels"]):
        raise InputError(f"{path}: labels.json and config.json disagree on the classes")
    model_path = path / MODEL_NAME
    if not model_path.is_file():
        raise InputError(f"{model_path}: missing model file")
    import keras

    import pose_action.training.models  # noqa: F401  (registers the custom layers for deserialization)

    try:
        model = keras.saving.load_model(model_path, compile=compile)
    except (ValueError, OSError, TypeError, KeyError) as error:
        raise InputError(f"{model_path}: cannot load the model ({str(error).splitlines()[0][:200]})") from None
    outputs = int(model.output_shape[-1])
    if outputs != len(labels):
        raise InputError(f"{model_path}: model has {outputs} outputs but the run has {len(labels)} labels")
    return Run(path=path, config=config, labels=labels, model=model)


def save_model(model: Any, path: str | os.PathLike) -> None:
    """model.save through a temp file, so a crash never leaves a truncated model.keras."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def check_new_output(out: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Refuse to replace an existing non-empty folder unless asked (checked before training starts)."""
    out = Path(out)
    if out.exists() and not overwrite and (any(out.iterdir()) if out.is_dir() else True):
        raise InputError(f"{out}: already exists (choose another --out, or pass --overwrite)")


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
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a run folder is an ordinary folder
    try:
        yield staging
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, trash / out.name)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
