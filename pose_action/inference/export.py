"""Export a trained run to TFLite (model.tflite beside model.keras) for the TensorFlow-free runtime.

Keras LSTMs convert only with fully static shapes, so the model is rebuilt with batch size 1
(`models.static_copy`) and its weights copied. The exported file is checked against the
Keras model on sample windows, through the runtime's own LiteBackend, before it replaces
anything: max abs difference of the class probabilities <= 1e-4 unquantized, <= 1e-2 quantized.
The run's calibration temperature is built into the exported model (its output is then
`calibrated_probabilities`), so the .tflite answers the calibrated probabilities on its own,
outside pose_action too. Its second output, `head_input`, is what the head layer reads: the
vector a window's novelty is measured on (pose_action.novelty), checked against Keras too.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose_action.calibration import FLOOR
from pose_action.catalog import THUMBNAILS_INPUT
from pose_action.errors import InputError
from pose_action.files import atomic_path, check_writable
from pose_action.inference.backends import CALIBRATED_OUTPUT, HEAD_INPUT_OUTPUT, KerasBackend, LiteBackend, load_backend
from pose_action.runs import Run, load_run

log = logging.getLogger(__name__)

FORMATS = ("tflite",)
QUANTIZATIONS = ("none", "float16", "dynamic")
TOLERANCE = {"none": 1e-4, "float16": 1e-2, "dynamic": 1e-2}
CHECK_WINDOWS = 4  # sample windows the exported model is compared on


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    quantize: str
    max_abs_diff: float  # exported vs Keras probabilities on the check windows


def sample_windows(shapes: dict[str, tuple[int, ...]], count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Plausible model inputs for the agreement check: pose-like values, partly masked windows."""
    rng = np.random.default_rng(seed)
    batch: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        if name == "mask":
            frames = shape[0]
            real = rng.integers(frames // 2, frames + 1, size=count)
            batch[name] = (np.arange(frames)[None, :] < real[:, None]).astype(np.float32)
        elif name == THUMBNAILS_INPUT:
            batch[name] = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
        else:
            batch[name] = rng.normal(0.0, 1.0, size=(count, *shape)).astype(np.float32)
    return batch


def _static_model(keras_backend: KerasBackend, run: Run):
    """The run's model rebuilt with batch size 1 and the trained weights."""
    from pose_action.training.models import static_copy

    model = run.config.model
    try:
        return static_copy(keras_backend.model, model.name, run.feature_config, len(run.labels), model.params or None,
                           embedding_dim=model.embedding_dim)
    except ValueError as error:
        raise InputError(f"{run.path}: the model does not match its config.json "
                         f"(model {model.name!r}): {error}") from None


def convert(model: Any, quantize: str, workdir: str | os.PathLike | None = None, temperature: float = 1.0) -> bytes:
    """TFLite flatbuffer of a static-shape Keras model (builtin ops only: runs on LiteRT).

    Its output `calibrated_probabilities` is softmax(log p / temperature) of the model's
    probabilities p (pose_action.calibration.apply_temperature, in the graph); `head_input`, when
    the model has a head layer, what that layer reads.

    The intermediate SavedModel goes to a hidden temp folder in `workdir` (the run), so an
    export writes nothing outside its run folder.
    """
    import keras
    import tensorflow as tf

    tf_log = logging.getLogger("tensorflow")  # "Assets written to <temp dir>" is INFO; keep a quieter setting
    tf_log.setLevel(max(tf_log.getEffectiveLevel(), logging.WARNING))
    signature = {tensor.name: tf.TensorSpec(tuple(tensor.shape), tensor.dtype, name=tensor.name)
                 for tensor in model.inputs}
    from pose_action.training.models import with_head_input

    answering = with_head_input(model)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=workdir) as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        if answering is not None:
            archive.track(answering)

        def serve(inputs: dict) -> dict:
            if answering is None:
                probabilities, head_input = model(inputs, training=False), None
            else:
                probabilities, head_input = answering(inputs, training=False)
            logits = keras.ops.log(keras.ops.maximum(probabilities, FLOOR)) / float(temperature)
            outputs = {CALIBRATED_OUTPUT: keras.ops.softmax(logits, axis=-1)}
            return outputs if head_input is None else outputs | {HEAD_INPUT_OUTPUT: head_input}

        archive.add_endpoint("serve", serve, input_signature=[signature])
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if quantize in ("float16", "dynamic"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def export_run(run_dir: str | os.PathLike, *, quantize: str = "none", format: str = "tflite") -> ExportResult:
    """Write RUN/model.tflite; nothing is replaced unless it agrees with the Keras model."""
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise InputError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    run = load_run(run_dir)
    check_writable(run.path)
    keras_backend = load_backend(run, "keras")
    static = _static_model(keras_backend, run)
    try:
        data = convert(static, quantize, workdir=run.path, temperature=run.config.calibration.temperature)
    except (InputError, KeyboardInterrupt):
        raise
    except Exception as error:  # TensorFlow's own error kinds: a full disk while saving, a converter failure
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"{run.path}: TFLite conversion failed ({type(error).__name__}: {reason})") from None
    shapes = {name: run.config.input_shapes().get(name, shape) for name, shape in keras_backend.input_shapes.items()}
    batch = sample_windows(shapes, CHECK_WINDOWS)
    expected, expected_heads = keras_backend.answer(batch)
    destination = run.tflite_path
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
        # checked by the runtime's own backend: what passes here is what predict and live will run
        probabilities, heads = LiteBackend(tmp).answer(batch)
        difference = float(np.abs(probabilities - expected).max())
        if expected_heads is not None:  # relative to the head inputs' size: novelty is a cosine distance
            scale = max(float(np.abs(expected_heads).max()), 1.0)
            heads_off = np.inf if heads is None else float(np.abs(heads - expected_heads).max()) / scale
            difference = max(difference, heads_off)
        if not difference <= TOLERANCE[quantize]:
            raise InputError(f"{destination}: exported model disagrees with {run.model_path} "
                             f"(max abs difference {difference:.2e} > {TOLERANCE[quantize]:g}); not written")
    log.info("wrote %s (%.1f KB, quantize=%s, max abs difference to Keras %.1e)",
             destination, len(data) / 1024, quantize, difference)
    return ExportResult(path=destination, size_bytes=len(data), quantize=quantize, max_abs_diff=difference)
