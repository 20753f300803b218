"""Export a trained run to TFLite (model.tflite beside model.keras) for the TensorFlow-free runtime.

Keras LSTMs convert only with fully static shapes, so the model is rebuilt with batch size 1
(`models.static_copy`) and its weights copied. The exported file is checked against the
Keras model on sample windows before it replaces anything: max abs difference of the class
probabilities <= 1e-4 unquantized, <= 1e-2 quantized.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose_action.errors import InputError
from pose_action.files import atomic_path
from pose_action.inference.backends import TFLITE_FILE, KerasBackend, lite_interpreter_class
from pose_action.inference.recognizer import check_model_matches, expected_input_shapes, read_run_info

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
        elif name == "frames":
            batch[name] = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
        else:
            batch[name] = rng.normal(0.0, 1.0, size=(count, *shape)).astype(np.float32)
    return batch


def _static_model(keras_backend: KerasBackend, info, params: dict | None):
    """The run's model rebuilt with batch size 1 and the trained weights."""
    from pose_action.training.models import static_copy

    try:
        return static_copy(keras_backend.model, info.model_name, info.features, len(info.labels), params,
                           embedding_dim=info.embedding_dim)
    except ValueError as error:
        raise InputError(f"{info.path}: the model does not match its config.json "
                         f"(model {info.model_name!r}): {error}") from None


def convert(model, quantize: str) -> bytes:
    """TFLite flatbuffer of a static-shape Keras model (builtin ops only: runs on LiteRT)."""
    import keras
    import tensorflow as tf

    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # "Assets written to <temp dir>"
    signature = {tensor.name: tf.TensorSpec(tuple(tensor.shape), tensor.dtype, name=tensor.name)
                 for tensor in model.inputs}
    with tempfile.TemporaryDirectory(prefix="pose_action_export_") as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", lambda inputs: {"probabilities": model(inputs, training=False)},
                             input_signature=[signature])
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if quantize in ("float16", "dynamic"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def lite_probabilities(path: Path, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Run a .tflite file window by window, as the runtime does."""
    runner = lite_interpreter_class()(model_path=str(path)).get_signature_runner()
    dtypes = {name: detail["dtype"] for name, detail in runner.get_input_details().items()}
    output = next(iter(runner.get_output_details()))
    rows = [runner(**{name: batch[name][i:i + 1].astype(dtypes[name]) for name in dtypes})[output][0]
            for i in range(len(batch["mask"]))]
    return np.asarray(rows, dtype=np.float32)


def export_run(run_dir: str | os.PathLike, *, quantize: str = "none", format: str = "tflite") -> ExportResult:
    """Write RUN/model.tflite; nothing is replaced unless it agrees with the Keras model."""
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise InputError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    info = read_run_info(run_dir)
    keras_backend = KerasBackend(info.path)
    check_model_matches(info, keras_backend)
    static = _static_model(keras_backend, info, info.model_params)
    data = convert(static, quantize)
    shapes = {name: expected_input_shapes(info).get(name, shape)
              for name, shape in keras_backend.input_shapes.items()}
    batch = sample_windows(shapes, CHECK_WINDOWS)
    expected = keras_backend.predict(batch)
    destination = info.path / TFLITE_FILE
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
        difference = float(np.abs(lite_probabilities(tmp, batch) - expected).max())
        if not difference <= TOLERANCE[quantize]:
            raise InputError(f"{destination}: exported model disagrees with {info.path / 'model.keras'} "
                             f"(max abs difference {difference:.2e} > {TOLERANCE[quantize]:g}); not written")
    log.info("wrote %s (%.1f KB, quantize=%s, max abs difference to Keras %.1e)",
             destination, len(data) / 1024, quantize, difference)
    return ExportResult(path=destination, size_bytes=len(data), quantize=quantize, max_abs_diff=difference)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run directory (from `pose-action train`)")
    parser.add_argument("--format", default="tflite", choices=FORMATS, help="export format (default: tflite)")
    parser.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                        help="none: float32; float16: half-size weights; dynamic: int8 weights "
                             "(default: none)")


def run(args: argparse.Namespace) -> int:
    result = export_run(args.run, quantize=args.quantize, format=args.format)
    print(f"{result.path}  {result.size_bytes / 1024:.1f} KB  quantize={result.quantize}  "
          f"max |tflite - keras| = {result.max_abs_diff:.1e}")
    return 0
