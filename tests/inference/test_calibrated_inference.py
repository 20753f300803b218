"""predict, live and the exported model read calibrated probabilities and the run's own threshold."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pose_action.calibration import apply_temperature
from pose_action.cli import main
from pose_action.files import read_json
from pose_action.inference.backends import load_backend
from pose_action.inference.export import sample_windows
from pose_action.inference.predictions import UNKNOWN
from pose_action.inference.recognizer import Recognizer
from pose_action.runs import load_run


def with_calibration(tiny, tmp_path, **calibration):
    """A copy of the tiny run whose config.json carries this calibration (no export yet)."""
    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    (run / "model.tflite").unlink()
    config = read_json(run / "config.json")
    config["calibration"] = {**config["calibration"], **calibration}
    (run / "config.json").write_text(json.dumps(config))
    return run


def ece_by_hand(predictions: list[dict]) -> float:
    """ECE over 10 equal bins of each clip's top raw (uncalibrated) probability."""
    top = np.array([max(item["raw"]) for item in predictions])
    right = np.array([item["label"] == item["predicted"] for item in predictions])  # predicted: the raw top class
    which = np.clip(np.ceil(top * 10).astype(int) - 1, 0, 9)
    return sum(abs(right[which == b].mean() - top[which == b].mean()) * (which == b).sum()
               for b in range(10) if (which == b).any()) / len(top)


def test_training_stores_a_calibration_and_reports_ece_with_a_reliability_diagram(tiny):
    calibration = read_json(tiny.run / "config.json")["calibration"]
    assert calibration["fitted_on"] == "test" and calibration["clips"] > 0  # demo --quick holds out no validation
    assert calibration["temperature"] > 0 and 0 < calibration["threshold"] <= 1
    metrics = read_json(tiny.run / "metrics.json")
    assert sum(row["clips"] for row in metrics["reliability"]) == metrics["n_test"]
    # ECE is the clip-weighted gap between confidence and accuracy of the reliability diagram's bins
    gaps = [row["clips"] * abs(row["accuracy"] - row["confidence"]) for row in metrics["reliability"] if row["clips"]]
    assert metrics["ece"] == pytest.approx(sum(gaps) / metrics["n_test"], abs=1e-9)
    assert metrics["ece_raw"] == pytest.approx(ece_by_hand(metrics["predictions"]), abs=1e-6)
    assert (tiny.run / "reliability.png").stat().st_size > 1000


def test_tflite_gives_the_calibrated_probabilities_of_keras(tiny, tmp_path):
    run = with_calibration(tiny, tmp_path, temperature=2.5)
    assert main(["export", str(run)]) == 0
    loaded = load_run(run)
    keras, lite = load_backend(loaded, "keras"), load_backend(loaded, "tflite")
    batch = sample_windows(keras.input_shapes, 6)
    raw = np.asarray(keras.model.predict_on_batch(batch))
    calibrated = keras.predict(batch)
    np.testing.assert_allclose(calibrated, apply_temperature(raw, 2.5), atol=1e-6)
    assert calibrated.max(axis=1).mean() < raw.max(axis=1).mean()  # T > 1: less sure
    assert np.abs(lite.predict(batch) - calibrated).max() <= 1e-4


def test_the_stored_threshold_is_the_one_predict_and_live_use(tiny, tmp_path, capsys):
    run = with_calibration(tiny, tmp_path, threshold=0.999)
    with Recognizer.load(run, "keras") as recognizer:
        assert recognizer.threshold == pytest.approx(0.999)
    assert main(["predict", str(run), str(tiny.clip()), "--json", "--backend", "keras"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["label"] == UNKNOWN and answer["kind"] == "unknown"
    assert {item["kind"] for item in answer["timeline"]} == {"unknown"}
    # --threshold still decides when given
    assert main(["predict", str(run), str(tiny.clip()), "--json", "--backend", "keras", "--threshold", "0"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["label"] in {"JumpingJack", "Squat", "Wave"} and answer["kind"] == "action"


def test_false_alarm_script_counts_windows_read_as_an_action(tiny, tmp_path, capsys):
    import importlib.util

    import pandas as pd

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("false_alarms", REPO / "scripts" / "false_alarms.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "alarms.csv"
    assert script.main([str(tiny.run), "--videos", str(tiny.long_video), "--threshold", "0", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row["windows"] > 3 and row["action"] == 1.0  # no background class, nothing rejected: every window alarms
    assert script.main([str(tiny.run), "--videos", str(tiny.long_video), "--threshold", "1"]) == 0
    assert "1.000" in capsys.readouterr().out  # every window unknown
    assert script.main([str(tiny.run), "--videos", str(tmp_path / "nothing")]) == 2
