"""A run's model on one of two backends: the Keras model, or the exported TFLite file on LiteRT (no TensorFlow).

`load_backend` opens the run's model file and checks it against the run's config.json (the
inputs build_features gives, the number of classes), so every command that uses a model
(evaluate, predict, live, export) stops with one line naming the file when they disagree.

Both backends answer calibrated probabilities (the run's `calibration.temperature`,
pose_action.calibration): Keras applies the temperature after the model; an exported model
has it built in (its output is named CALIBRATED_OUTPUT), and one exported before calibration
existed gets it applied here as Keras does. `KerasBackend.model` stays the raw model.

`answer` gives the head input beside the probabilities (HEAD_INPUT_OUTPUT of an exported model;
None for a model without a head layer, or exported before novelty existed): predict and live
measure a window's novelty on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, overload

import numpy as np

from pose_action import native_stderr_quieted
from pose_action.calibration import apply_temperature
from pose_action.errors import InputError
from pose_action.runs import MODEL_FILE, TFLITE_FILE, Run

BACKENDS = ("keras", "tflite")
RAW_OUTPUT = "probabilities"  # the output of a TFLite model exported without the temperature
CALIBRATED_OUTPUT = "calibrated_probabilities"  # ... and with it (pose_action.inference.export)
HEAD_INPUT_OUTPUT = "head_input"  # what the model's head layer reads (pose_action.novelty); exported beside them


def choose_backend(run_path: str | os.PathLike, backend: str) -> str:
    """"auto": the exported TFLite model when it is at least as new as model.keras, else Keras."""
    if backend != "auto":
        return backend
    run_path = Path(run_path)
    lite, keras_file = run_path / TFLITE_FILE, run_path / MODEL_FILE
    if lite.is_file() and (not keras_file.is_file() or lite.stat().st_mtime >= keras_file.stat().st_mtime):
        return "tflite"
    return "keras"


@overload
def load_backend(run: Run, backend: Literal["keras"], *, num_threads: int | None = None) -> KerasBackend: ...
@overload
def load_backend(run: Run, backend: Literal["tflite"], *, num_threads: int | None = None) -> LiteBackend: ...
@overload
def load_backend(run: Run, backend: str, *, num_threads: int | None = None) -> KerasBackend | LiteBackend: ...
def load_backend(run: Run, backend: str, *, num_threads: int | None = None) -> KerasBackend | LiteBackend:
    """The run's model on `backend` ("keras" or "tflite"), checked against config.json."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    temperature = run.config.calibration.temperature
    if backend == "tflite":
        if not run.tflite_path.is_file():
            raise InputError(f"{run.tflite_path}: missing; run `pose-action export {run.path}` first")
        model: KerasBackend | LiteBackend = LiteBackend(run.tflite_path, num_threads, temperature=temperature)
    else:
        if not run.model_path.is_file():
            raise InputError(f"{run.model_path}: missing (not a complete run directory)")
        model = KerasBackend(run.model_path, temperature=temperature)
    check_model(run, model, run.tflite_path if backend == "tflite" else run.model_path)
    return model


def check_model(run: Run, backend: KerasBackend | LiteBackend, where: Path) -> None:
    """The model must read what build_features gives under config.json and name as many classes as labels.json."""
    if backend.num_classes != len(run.labels):
        raise InputError(f"{where}: the model predicts {backend.num_classes} classes but labels.json "
                         f"names {len(run.labels)}")
    expected = run.config.input_shapes()
    appearance = run.feature_config.appearance
    for name, shape in backend.input_shapes.items():
        if name == "embeddings" and "embeddings" not in expected and appearance == "embeddings":
            continue  # embedding size not recorded: the embedder's own size is checked when used
        if name not in expected:
            raise InputError(f"{where}: the model reads input {name!r}, which config.json's features "
                             f"({appearance}) do not provide")
        if tuple(shape) != expected[name]:
            raise InputError(f"{where}: model input {name!r} has shape {tuple(shape)} but config.json's "
                             f"features give {expected[name]}")


class KerasBackend:
    """A trained model.keras (needs TensorFlow/Keras)."""

    name = "keras"

    def __init__(self, path: Path, temperature: float = 1.0) -> None:
        self.temperature = float(temperature)
        try:
            import keras

            import pose_action.training.models  # noqa: F401  registers the custom layers for loading
        except ImportError:
            raise InputError(f"{path}: the keras backend needs TensorFlow/Keras (pip install "
                             f"'pose-action[train]'); without them, export the run once and use the "
                             f"tflite backend") from None

        import zipfile

        if not zipfile.is_zipfile(path):  # Keras would call a truncated file "File not found"
            raise InputError(f"{path}: not a Keras model file (truncated or damaged: a .keras file is a zip "
                             "archive); train the run again, or restore the file")
        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as error:  # a broken or foreign file: Keras raises many kinds
            raise InputError(f"{path}: cannot be loaded as a Keras model ({error})") from None
        inputs = self.model.input if isinstance(self.model.input, dict) else {
            tensor.name: tensor for tensor in self.model.inputs}
        self.input_shapes = {name: tuple(tensor.shape[1:]) for name, tensor in inputs.items()}
        self.num_classes = int(self.model.outputs[0].shape[-1])
        from pose_action.training.models import with_head_input

        self.answering = with_head_input(self.model)  # (probabilities, head input) in one call
        self.head_input_size = None if self.answering is None else int(self.answering.outputs[1].shape[-1])

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(N, C) calibrated probabilities for a batch of N windows."""
        inputs = {name: batch[name] for name in self.input_shapes}
        # predict_on_batch runs a compiled graph: ~20x cheaper than an eager model(...) call
        return apply_temperature(np.asarray(self.model.predict_on_batch(inputs), dtype=np.float32), self.temperature)

    def answer(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, C) calibrated probabilities and (N, D) head inputs (None: the model has no head layer)."""
        if self.answering is None:
            return self.predict(batch), None
        inputs = {name: batch[name] for name in self.input_shapes}
        probabilities, head_inputs = self.answering.predict_on_batch(inputs)
        return (apply_temperature(np.asarray(probabilities, dtype=np.float32), self.temperature),
                np.asarray(head_inputs, dtype=np.float32))


def lite_interpreter_class() -> type:
    """LiteRT's Interpreter; tensorflow.lite's where LiteRT has no wheel for this platform."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tensorflow.lite.python.interpreter import Interpreter
        except ImportError:
            raise InputError("the tflite backend needs the LiteRT runtime: pip install ai-edge-litert") from None
    return Interpreter


class LiteBackend:
    """An exported .tflite model on the LiteRT interpreter (batch size 1, static shapes)."""

    name = "tflite"

    def __init__(self, path: Path, num_threads: int | None = None, temperature: float = 1.0) -> None:
        interpreter_class = lite_interpreter_class()
        try:
            with native_stderr_quieted():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"
                self.interpreter = interpreter_class(model_path=str(path), num_threads=num_threads)
                self.interpreter.allocate_tensors()  # once: a signature runner would do it on every call
            runner = self.interpreter.get_signature_runner()  # only for the input and output names
        except (ValueError, RuntimeError) as error:
            raise InputError(f"{path}: not a usable TFLite model ({error})") from None
        details = runner.get_input_details()
        self.input_shapes = {name: tuple(int(x) for x in detail["shape"][1:]) for name, detail in details.items()}
        self.input_dtypes = {name: detail["dtype"] for name, detail in details.items()}
        self.input_index = {name: detail["index"] for name, detail in details.items()}
        outputs = dict(runner.get_output_details())
        head_input = outputs.pop(HEAD_INPUT_OUTPUT, None)
        if len(outputs) != 1:
            raise InputError(f"{path}: expected one output of class probabilities (beside {HEAD_INPUT_OUTPUT!r}), "
                             f"found {len(outputs)}")
        output_name, output = next(iter(outputs.items()))
        self.output_index = output["index"]
        self.head_input_index = None if head_input is None else head_input["index"]
        self.head_input_size = None if head_input is None else int(head_input["shape"][-1])
        # exported with the temperature built in, or (exported before calibration) applied here
        self.temperature = 1.0 if output_name == CALIBRATED_OUTPUT else float(temperature)
        self.num_classes = int(output["shape"][-1])

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(N, C) calibrated probabilities; the exported model takes one window at a time."""
        return self.answer(batch)[0]

    def answer(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, C) calibrated probabilities and (N, D) head inputs (None: exported without them)."""
        count = len(next(iter(batch.values())))
        rows = np.empty((count, self.num_classes), dtype=np.float32)
        heads = None if self.head_input_size is None else np.empty((count, self.head_input_size), dtype=np.float32)
        for row in range(count):
            for name, index in self.input_index.items():
                self.interpreter.set_tensor(index, batch[name][row:row + 1].astype(self.input_dtypes[name], copy=False))
            self.interpreter.invoke()
            rows[row] = self.interpreter.get_tensor(self.output_index)[0]
            if heads is not None:
                heads[row] = self.interpreter.get_tensor(self.head_input_index)[0]
        return apply_temperature(rows, self.temperature), heads


