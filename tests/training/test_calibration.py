"""Calibrated confidence: temperature scaling lowers the calibration error of an overconfident model,
the stored threshold is the one predict uses, and train/evaluate report ECE and a reliability diagram."""

from __future__ import annotations

import numpy as np
import pytest

from pose_action.calibration import (
    Calibration,
    apply_temperature,
    expected_calibration_error,
    fit_calibration,
    rejection_threshold,
)
from pose_action.errors import InputError
from pose_action.runs import RunConfig


def overconfident(count: int, seed: int, sharpen: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a model `sharpen` times too sure of itself, and the true classes.

    The true class is drawn from softmax(logits) (what a calibrated model would say); the model
    answers softmax(sharpen x logits): same top class, far more confident than it is right."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (count, 5))
    logits[:, 0] += 1.0
    calibrated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    true = np.array([rng.choice(5, p=row) for row in calibrated])
    sharp = np.exp(sharpen * logits)
    return sharp / sharp.sum(axis=1, keepdims=True), true


def test_temperature_scaling_lowers_the_error_of_an_overconfident_model_on_other_clips():
    held_out, held_true = overconfident(1500, seed=1)
    test, test_true = overconfident(1500, seed=2)
    calibration = fit_calibration(held_out, held_true, "validation")
    assert 3.0 < calibration.temperature < 5.0  # it finds the sharpening it has to undo
    before = expected_calibration_error(test, test_true)
    after = expected_calibration_error(apply_temperature(test, calibration.temperature), test_true)
    assert before > 0.2 and after < 0.05
    # the top class never changes: accuracy is the same
    assert np.array_equal(apply_temperature(test, calibration.temperature).argmax(1), test.argmax(1))


def test_threshold_rejects_at_most_5_percent_of_the_right_answers():
    probabilities, true = overconfident(1000, seed=3, sharpen=1.0)
    threshold = rejection_threshold(probabilities, true)
    correct = probabilities.argmax(1) == true
    rejected = probabilities.max(1)[correct] < threshold
    assert 0.04 <= rejected.mean() <= 0.05
    assert rejection_threshold(np.array([[0.9, 0.1]]), np.array([1])) is None  # nothing right: no threshold


def test_runs_without_calibration_load_uncalibrated_and_bad_values_are_one_line():
    assert Calibration.from_dict(None) == Calibration(temperature=1.0, threshold=0.5, fitted_on="none")
    with pytest.raises(InputError, match="config.json: 'calibration.temperature' must be a positive number"):
        Calibration.from_dict({"temperature": 0})
    with pytest.raises(InputError, match="'calibration.threshold' must be between 0 and 1"):
        Calibration.from_dict({"temperature": 1.2, "threshold": 3})
    assert RunConfig.__dataclass_fields__["calibration"].default_factory() == Calibration.none()


def test_cross_validation_pools_calibration_and_background_over_every_predicted_clip():
    from pose_action.training.pooled import pooled_background, pooled_calibration

    def item(label: str, predicted: str, confidence: float, raw: float) -> dict:
        return {"label": label, "predicted": predicted, "confidence": confidence, "confidence_raw": raw}

    folds = [{"predictions": [item("Wave", "Wave", 0.9, 0.99), item("background", "Wave", 0.6, 0.9)]},
             {"predictions": [item("Squat", "Wave", 0.55, 0.95), item("background", "background", 0.8, 0.97)]}]
    calibration = pooled_calibration(folds)
    # calibrated: |1-0.9|/4 + |0-0.6|/4 + |0-0.55|/4 + |1-0.8|/4 (each clip in its own bin); raw is far worse
    assert calibration["ece_all"] == pytest.approx((0.1 + 0.6 + 0.55 + 0.2) / 4)
    assert calibration["ece_raw_all"] > calibration["ece_all"]
    assert sum(row["clips"] for row in calibration["reliability"]) == 4
    assert pooled_background(folds) == {"action_accuracy_all": 0.5, "background_false_alarm_all": 0.5}
    assert pooled_background([{"predictions": [item("Wave", "Wave", 0.9, 0.9)]}]) == {}


def test_a_few_held_out_clips_all_right_do_not_make_the_run_certain_or_strict():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.95, 0.05], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9]])
    calibration = fit_calibration(probabilities, np.array([0, 0, 0, 1, 1, 1]), "test")
    # without the prior on log T the fit runs to the bound (T -> 0.05: every answer ~100% sure)
    assert 0.3 < calibration.temperature < 1.0
    # 6 right answers cannot place the 5% point: never stricter than the fallback
    assert calibration.threshold <= 0.5 and "lowest of 6" in calibration.threshold_rule


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cross_validation_folds_are_calibrated_on_the_other_folds(tmp_path, capsys):
    """(on stratified group folds, which also shows that split trains every group as a test once)"""
    from pose_action import cli
    from pose_action.files import read_json

    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=3, clips=2, frames=24, thumb_size=16)
    out = tmp_path / "cv"
    command = ["train", str(features), "--out", str(out), "--model", "pose", "--cv",
               "--split", "stratifiedgroupkfold:3", "--quiet", "--frames", "6", "--epochs", "2",
               "--batch-size", "8", "--param", "lstm_units=8", "--param", "pose_units=8"]
    assert cli.main(command) == 0
    printed = capsys.readouterr().out
    summary = read_json(out / "cv.json")
    assert sorted(group for fold in summary["folds"] for group in fold["test_groups"]) == ["01", "02", "03"]
    assert f"ECE {summary['ece_all']:.3f}" in printed
    # the pooled raw ECE is that of every fold's out-of-fold predictions together (10 equal bins)
    pooled = [item for fold in summary["folds"]
              for item in read_json(out / fold["run"] / "metrics.json")["predictions"]]
    top = np.array([item["confidence_raw"] for item in pooled])
    right = np.array([item["predicted"] == item["label"] for item in pooled])
    which = np.clip(np.ceil(top * 10).astype(int) - 1, 0, 9)
    by_hand = sum(abs(right[which == b].mean() - top[which == b].mean()) * (which == b).sum()
                  for b in range(10) if (which == b).any()) / len(top)
    assert summary["ece_raw_all"] == pytest.approx(by_hand, abs=1e-6)
    assert (out / "reliability.png").is_file()
    sizes = {fold["run"]: fold["n_test"] for fold in summary["folds"]}
    for fold in summary["folds"]:
        calibration = read_json(out / fold["run"] / "config.json")["calibration"]
        # fitted on every other fold's test clips, never on its own
        assert calibration["fitted_on"] == "out-of-fold"
        assert calibration["clips"] == sum(sizes.values()) - fold["n_test"]
        metrics = read_json(out / fold["run"] / "metrics.json")
        assert metrics["calibration"] == calibration and (out / fold["run"] / "reliability.png").is_file()
    # the pooled diagram beside cv.json belongs to the cross-validation: a rerun resumes it
    assert cli.main(command) == 0
