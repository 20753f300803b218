"""The two model backends of a run: the Keras model, and the exported TFLite file on LiteRT (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose_action.errors import InputError

KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"


class KerasBackend:
    """The trained model.keras (needs TensorFlow/Keras)."""

    name = "keras"

    def __init__(self, run_dir: Path) -> None:
        path = run_dir / KERAS_FILE
        if not path.is_file():
            raise InputError(f"{path}: missing (not a complete run directory)")
        try:
            import keras

            import pose_action.training.models  # noqa: F401  registers the custom layers for loading
        except ImportError:
            raise InputError(f"{path}: the keras backend needs TensorFlow/Keras (pip install "
                             f"'pose-action[train]'); without them, export the run once and use the "
                             f"tflite backend") from None

        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as error:  # a broken or foreign file: Keras raises many kinds
            raise InputError(f"{path}: cannot be loaded as a Keras model ({error})") from None
        inputs = self.model.input if isinstance(self.model.input, dict) else {
            tensor.name: tensor for tensor in self.model.inputs}
        self.input_shapes = {name: tuple(tensor.shape[1:]) for name, tensor in inputs.items()}
        self.num_classes = int(self.model.outputs[0].shape[-1])

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(N, C) probabilities for a batch of N windows."""
        inputs = {name: batch[name] for name in self.input_shapes}
        # predict_on_batch runs a compiled graph: ~20x cheaper than an eager model(...) call
        return np.asarray(self.model.predict_on_batch(inputs), dtype=np.float32)


def lite_interpreter_class():
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
    """The exported model.tflite on the LiteRT interpreter (batch size 1, static shapes)."""

    name = "tflite"

    def __init__(self, run_dir: Path, num_threads: int | None = None) -> None:
        path = run_dir / TFLITE_FILE
        if not path.is_file():
            raise InputError(f"{path}: missing; run `pose-action export {run_dir}` first")
        interpreter_class = lite_interpreter_class()
        try:
            self.interpreter = interpreter_class(model_path=str(path), num_threads=num_threads)
            self.interpreter.allocate_tensors()  # once: a signature runner would do it on every call
            runner = self.interpreter.get_signature_runner()  # only for the input and output names
        except (ValueError, RuntimeError) as error:
            raise InputError(f"{path}: not a usable TFLite model ({error})") from None
        details = runner.get_input_details()
        self.input_shapes = {name: tuple(int(x) for x in detail["shape"][1:]) for name, detail in details.items()}
        self.input_dtypes = {name: detail["dtype"] for name, detail in details.items()}
        self.input_index = {name: detail["index"] for name, detail in details.items()}
        outputs = runner.get_output_details()
        if len(outputs) != 1:
            raise InputError(f"{path}: expected one output (the class probabilities), found {len(outputs)}")
        output = next(iter(outputs.values()))
        self.output_index = output["index"]
        self.num_classes = int(output["shape"][-1])

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(N, C) probabilities; the exported model takes one window at a time."""
        count = len(batch["mask"])
        rows = np.empty((count, self.num_classes), dtype=np.float32)
        for row in range(count):
            for name, index in self.input_index.items():
                self.interpreter.set_tensor(index, batch[name][row:row + 1].astype(self.input_dtypes[name], copy=False))
            self.interpreter.invoke()
            rows[row] = self.interpreter.get_tensor(self.output_index)[0]
        return rows


