"""TFLite export: the exported model gives the Keras model's probabilities on real video windows."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from pose_action.cli import main
from pose_action.inference.backends import LiteBackend, load_backend
from pose_action.inference.recognizer import Recognizer
from pose_action.inference.windows import window_features
from pose_action.runs import load_run


@pytest.fixture(scope="module")
def video_windows(tiny):
    """Model inputs of every sliding window of a real 3 s video (as predict builds them)."""
    with Recognizer.load(tiny.run, "keras") as recognizer:
        records, info = recognizer.extract_video(tiny.long_video)
        window = recognizer.window_frames(info.fps)
        windows = [window_features(records[end - window:end], recognizer.config, fps=info.fps, width=info.width,
                                   height=info.height) for end in range(window, len(records) + 1, 3)]
    return {name: np.stack([w[name] for w in windows]) for name in windows[0]}


def weight_elements(path) -> dict[str, int]:
    """Elements of the model's constant tensors (its weights), by dtype, read with the LiteRT interpreter."""
    from pose_action.inference.backends import lite_interpreter_class

    interpreter = lite_interpreter_class()(model_path=str(path))
    counts: dict[str, int] = {}
    for detail in interpreter.get_tensor_details():
        try:
            interpreter.get_tensor(detail["index"])  # only tensors with data before allocation: the weights
        except ValueError:
            continue
        dtype = np.dtype(detail["dtype"]).name
        counts[dtype] = counts.get(dtype, 0) + int(np.prod(detail["shape"]))
    return counts


# quantize -> (the dtype most weights must have, the largest size as a share of the float32 export)
QUANTIZED = {"none": ("float32", 1.0), "float16": ("float16", 0.6), "dynamic": ("int8", 0.45)}


@pytest.mark.parametrize("quantize, tolerance", [("none", 1e-4), ("float16", 1e-2), ("dynamic", 1e-2)])
def test_exported_probabilities_agree_with_keras(tiny, video_windows, tmp_path, capsys, quantize, tolerance):
    if quantize == "none":  # the demo's own export (export_run's default) is what is checked
        run = tiny.run
    else:
        run = tmp_path / "run"
        shutil.copytree(tiny.run, run)
        (run / "model.tflite").unlink()
        assert main(["export", str(run), "--format", "tflite", "--quantize", quantize]) == 0
        assert f"quantize={quantize}" in capsys.readouterr().out
        # TensorFlow's Python warnings (tf.function retracing...) stay as quiet as the command set them
        assert logging.getLogger("tensorflow").level == logging.ERROR
    # the weights really are stored as the option says (the demo's export, tiny.run's, is float32)
    dtype, share = QUANTIZED[quantize]
    weights, float_weights = weight_elements(run / "model.tflite"), weight_elements(tiny.run / "model.tflite")
    assert float_weights["float32"] >= 0.9 * sum(float_weights.values()), float_weights
    assert weights.get(dtype, 0) >= 0.9 * float_weights["float32"], weights
    assert (run / "model.tflite").stat().st_size <= share * (tiny.run / "model.tflite").stat().st_size
    assert (run / "model.tflite").is_file() and (run / "model.keras").is_file()
    lite = load_backend(load_run(run), "tflite").predict(video_windows)
    keras = load_backend(load_run(run), "keras").predict(video_windows)  # both calibrated (the run's temperature)
    assert lite.shape == keras.shape == (len(video_windows["mask"]), 3)
    assert np.abs(lite - keras).max() <= tolerance
    np.testing.assert_allclose(lite.sum(axis=1), 1.0, atol=1e-3)


def test_export_refuses_a_model_that_does_not_match_its_config(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    (run / "model.tflite").unlink()
    config = json.loads((run / "config.json").read_text())
    config["features"]["thumb_size"] = 24
    (run / "config.json").write_text(json.dumps(config))
    assert main(["export", str(run)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error] and "model input 'frames' has shape" in error
    assert not (run / "model.tflite").exists()


def test_export_refuses_a_model_its_quantization_breaks_and_keeps_the_old_file(tiny, tmp_path, capsys):
    """A model with outlier weights: int8's one scale per tensor rounds its other weights away, so the
    exported probabilities drift from Keras's (8e-2 measured, tolerance 1e-2). Export says so in one
    line, exits 2, and the model.tflite already there is left as it was."""
    import keras

    import pose_action.training.models  # noqa: F401  registers the custom layers for loading

    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    model = keras.models.load_model(run / "model.keras", compile=False)
    for weight in model.weights:
        if len(weight.shape) >= 2 and np.prod(weight.shape) >= 1024:  # the tensors dynamic quantization turns int8
            values = weight.numpy()
            values[0] = 40 * np.abs(values).max()
            weight.assign(values)
    model.save(run / "model.keras")
    before = (run / "model.tflite").read_bytes()
    assert main(["export", str(run), "--quantize", "dynamic"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error]
    assert f"{run / 'model.tflite'}: exported model disagrees with {run / 'model.keras'}" in error
    assert "> 0.01); not written" in error
    assert (run / "model.tflite").read_bytes() == before
    assert sorted(path.name for path in run.iterdir()) == sorted(path.name for path in tiny.run.iterdir())


def test_tflite_backend_needs_an_export_first(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    (run / "model.tflite").unlink()
    assert main(["predict", str(run), str(tiny.clip()), "--backend", "tflite"]) == 2
    assert "run `pose-action export" in capsys.readouterr().err


HEAD_CASES = [("pose", "lstm"), ("pose", "attention"), ("pose", "tcn"), ("keypoints", "lstm"),
              ("fusion", "attention")]


@pytest.mark.parametrize("name, head", HEAD_CASES)
def test_every_temporal_head_converts_with_builtin_ops_and_matches_keras(name, head, tmp_path):
    """Each head (and the tutorial baseline) becomes a TFLite file the TF-free runtime runs, within 1e-4."""
    from pose_action.features import FeatureConfig
    from pose_action.inference.export import convert, sample_windows
    from pose_action.training.models import build_model, static_copy

    config = FeatureConfig(frames=10, pose_features="raw" if name == "keypoints" else "body",
                           appearance="thumbs" if name == "fusion" else "none", thumb_size=16,
                           scene_frames=4 if name == "fusion" else None)  # fusion: CNN on 4 of the 10 frames
    params = {"head": head, "lstm_units": 8, "pose_units": 8, "appearance_units": 8, "cnn_filters": [4, 8]}
    if name == "keypoints":
        params = {}
    model = build_model(name, config, 4, params)
    static = static_copy(model, name, config, 4, params)
    path = tmp_path / "model.tflite"
    path.write_bytes(convert(static, "none"))  # builtin ops only: the LiteRT interpreter has no Flex delegate
    lite = LiteBackend(path)
    batch = sample_windows(lite.input_shapes, 5)
    expected = np.asarray(model.predict(batch, verbose=0))
    assert np.abs(lite.predict(batch) - expected).max() <= 1e-4
