"""Novelty: a window unlike every training clip reads "unknown"; the run's threshold is the one used;
training stores it; the exported model gives Keras' head inputs."""

from __future__ import annotations

import functools
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from pose_action.cli import main
from pose_action.files import read_json
from pose_action.inference.recognizer import Recognizer
from pose_action.novelty import novelty, novelty_across_groups, novelty_threshold, unit
from pose_action.runs import KNOWN_CLIPS_FILE, load_run
from pose_action.training.evaluate import predict_answers


@functools.cache
def head_inputs_of(run_dir) -> np.ndarray:
    """A run's training clips' unit head inputs (computed once: a Keras model load and a pass)."""
    from pose_action.inference.backends import load_backend
    from pose_action.layout import FeaturesLayout
    from pose_action.training.splits import read_clips

    run = load_run(run_dir)
    layout = FeaturesLayout(run.config.features_root)
    clips = {clip.key: clip for clip in read_clips(layout).clips}
    train = [clips[key] for key in read_json(run.path / "split.json")["train"]]
    _, head_inputs = predict_answers(load_backend(run, "keras").model, layout, train, run.labels, run.feature_config,
                                     run.input_names)
    assert head_inputs is not None
    return unit(head_inputs)


def training_head_inputs(tiny) -> np.ndarray:
    """The tiny run's training clips' unit head inputs, as training stores them."""
    return head_inputs_of(tiny.run)


def with_novelty(tiny, tmp_path, known: np.ndarray, threshold: float):
    """A copy of the tiny run that knows these clips and rejects windows further than `threshold` from them."""
    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    (run / "model.tflite").unlink()
    np.save(run / KNOWN_CLIPS_FILE, known.astype(np.float16))
    config = read_json(run / "config.json")
    config["novelty"] = {"threshold": threshold, "fitted_on": "validation", "clips": 20, "rule": "set by the test",
                         "known_clips": len(known)}
    config["calibration"]["threshold"] = 0.999  # would call every window unknown, were the confidence to decide
    (run / "config.json").write_text(json.dumps(config))
    return run


def predict_json(capsys, *argv: str) -> dict:
    assert main(["predict", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_window_like_a_training_clip_is_known_and_one_unlike_all_is_unknown(tiny, tmp_path, capsys):
    known = training_head_inputs(tiny)
    clip = str(tiny.clip())
    near = with_novelty(tiny, tmp_path / "near", known, threshold=0.5)
    # a run that measures novelty decides on it alone: its calibrated confidence threshold is not applied
    answer = predict_json(capsys, str(near), clip, "--backend", "keras")
    assert answer["kind"] == "action" and answer["novelty"] < 0.5 and answer["confidence"] < 0.999
    assert all(item["kind"] == "action" and 0 <= item["novelty"] < 0.5 for item in answer["timeline"])
    # the same model, its training clips pointing the other way: every window is far from all of them
    far = with_novelty(tiny, tmp_path / "far", -known, threshold=0.5)
    answer = predict_json(capsys, str(far), clip, "--backend", "keras")
    assert answer["label"] == "unknown" and answer["novelty"] > 1.5
    assert {item["kind"] for item in answer["timeline"]} == {"unknown"}
    # --novelty-threshold decides when given (known clips in random directions: novelty well inside 0..2);
    # 2 turns the novelty off, and the confidence threshold decides
    elsewhere = with_novelty(tiny, tmp_path / "elsewhere", unit(np.random.default_rng(0).normal(size=known.shape)),
                             threshold=0.05)
    answer = predict_json(capsys, str(elsewhere), clip, "--backend", "keras")
    assert answer["kind"] == "unknown" and 0.1 < answer["novelty"] < 1.9
    answer = predict_json(capsys, str(elsewhere), clip, "--backend", "keras", "--novelty-threshold", "1.95")
    assert answer["kind"] == "action"
    answer = predict_json(capsys, str(elsewhere), clip, "--backend", "keras", "--novelty-threshold", "2")
    assert answer["kind"] == "unknown" and "novelty" not in answer  # the copy's confidence threshold: 0.999
    # a confidence --threshold given beside the novelty applies too
    answer = predict_json(capsys, str(near), clip, "--backend", "keras", "--threshold", "0.999")
    assert answer["kind"] == "unknown"
    with Recognizer.load(far, "keras") as recognizer:
        assert recognizer.rule.novelty == pytest.approx(0.5)


def test_the_exported_model_measures_the_novelty_keras_does(tiny, tmp_path, capsys):
    # known clips in random directions: a novelty that moves with every value of the head input
    random = unit(np.random.default_rng(0).normal(size=training_head_inputs(tiny).shape))
    run = with_novelty(tiny, tmp_path, random, threshold=2.0)
    assert main(["export", str(run)]) == 0
    capsys.readouterr()
    clip = str(tiny.clip())
    keras = predict_json(capsys, str(run), clip, "--backend", "keras")
    lite = predict_json(capsys, str(run), clip, "--backend", "tflite")
    assert 0.1 < keras["novelty"] < 1.9 and lite["novelty"] == pytest.approx(keras["novelty"], abs=1e-4)
    assert [item["novelty"] for item in lite["timeline"]] == pytest.approx(
        [item["novelty"] for item in keras["timeline"]], abs=1e-4)


def test_a_run_without_its_known_clips_file_says_which_file(tiny, tmp_path, capsys):
    run = with_novelty(tiny, tmp_path, training_head_inputs(tiny), threshold=0.5)
    (run / KNOWN_CLIPS_FILE).unlink()
    assert main(["predict", str(run), str(tiny.clip())]) == 2
    assert f"{KNOWN_CLIPS_FILE}: missing" in capsys.readouterr().err


def test_the_threshold_rejects_at_most_5_percent_of_right_answers_and_needs_20():
    rng = np.random.default_rng(0)
    distances = rng.uniform(0, 1, 200)
    correct = rng.uniform(size=200) < 0.8
    threshold, _ = novelty_threshold(distances, correct)
    rejected = (distances[correct] > threshold).mean()
    assert 0.04 <= rejected <= 0.05  # as many as allowed, no more
    few = np.zeros(200, dtype=bool)
    few[:19] = True
    assert novelty_threshold(distances, few)[0] is None  # 19 right answers cannot place the 5% point


def test_novelty_across_groups_ignores_the_clips_own_group():
    """A clip's nearest neighbour from its own person would make every known action look familiar."""
    known = unit(np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]]))
    across = novelty_across_groups(known, ["a", "a", "b"])
    assert across[0] == pytest.approx(1.0, abs=1e-3)  # its twin is in its own group: the other group is orthogonal
    assert novelty(known[:1], known)[0] == pytest.approx(0.0, abs=1e-6)
    assert np.isinf(novelty_across_groups(known, ["a", "a", "a"])).all()  # no other group: no answer


@pytest.fixture(scope="module")
def novelty_features(tmp_path_factory):
    from features_fixture import make_features

    return make_features(tmp_path_factory.mktemp("novelty") / "features", groups=4, clips=6, frames=24, thumb_size=16)


def test_training_stores_the_novelty_its_held_out_clips_give(novelty_features, tmp_path):
    """pose: each training clip against the other groups' (the default fusion's learned head mix uses
    the clips its inner models answered without having seen their groups:
    tests/training/test_train.py::test_learned_fusion_serves_the_mix_learned_out_of_fold)."""
    from pose_action.training.train import TrainOptions, train_run

    options = TrainOptions(model="pose", frames=6, epochs=6, batch_size=8, split="logo", fold=0,
                           params={"lstm_units": 8, "pose_units": 8})
    train_run(novelty_features, tmp_path / "run", options, quiet=True)
    run = load_run(tmp_path / "run")
    stored = run.config.novelty
    assert stored.used and stored.fitted_on == "training groups" and stored.known_clips == len(
        read_json(tmp_path / "run" / "split.json")["train"])
    known = run.known_clips()
    assert known is not None and np.linalg.norm(known, axis=1) == pytest.approx(1.0, abs=2e-3)
    # its test clips are reported with their novelty, and how many of them it would reject
    metrics = read_json(tmp_path / "run" / "metrics.json")
    values = [item["novelty"] for item in metrics["predictions"]]
    assert len(values) == metrics["n_test"] and all(0 <= value <= 2 for value in values)
    assert metrics["novelty"]["rejected"] == sum(value > stored.threshold for value in values)


def test_training_fits_the_novelty_on_validation_groups_of_their_own(tmp_path):
    """Validation groups apart from training's: the threshold is the one the validation clips' novelty
    against the stored known clips gives, with the saved model's answers (training passes its
    calibration answers on rather than predicting the clips twice)."""
    from pose_action.inference.backends import load_backend
    from pose_action.layout import FeaturesLayout
    from pose_action.novelty import fit_novelty
    from pose_action.training.splits import read_clips
    from pose_action.training.train import TrainOptions, train_run

    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=6, clips=6, frames=24, thumb_size=16)
    options = TrainOptions(model="pose", frames=6, epochs=8, batch_size=8, val_fraction=0.34,
                           params={"lstm_units": 8, "pose_units": 8})
    metrics = train_run(features, tmp_path / "run", options, quiet=True)
    run = load_run(tmp_path / "run")
    stored = run.config.novelty
    assert stored.used and stored.fitted_on == run.config.calibration.fitted_on == "validation"
    assert stored.clips == metrics["n_val"] > 0 and not set(metrics["val_groups"]) & set(metrics["train_groups"])
    layout = FeaturesLayout(features)
    by_key = {clip.key: clip for clip in read_clips(layout).clips}
    val = [by_key[key] for key in read_json(run.path / "split.json")["val"]]
    probabilities, head_inputs = predict_answers(load_backend(run, "keras").model, layout, val, run.labels,
                                                 run.feature_config, run.input_names)
    right = probabilities.argmax(axis=1) == np.array([run.labels.index(clip.label) for clip in val])
    expected = fit_novelty(novelty(head_inputs, run.known_clips()), right, "validation", stored.known_clips)
    assert stored.threshold == pytest.approx(expected.threshold, rel=1e-5) and stored.rule == expected.rule


def test_an_unknown_window_shows_its_novelty_not_a_confidence():
    """"unknown 92%" would read as sure of nothing; the novelty says why it is unknown."""
    from pose_action.inference.annotate import caption_text
    from pose_action.inference.predictions import Prediction

    probabilities = np.array([0.92, 0.08], dtype=np.float32)
    unknown = Prediction(frame=9, timestamp_ms=360, window_start=0, label="unknown", confidence=0.92,
                         probabilities=probabilities, raw=probabilities, novelty=0.4242)
    assert caption_text(unknown) == "unknown  novelty 0.42"
    assert caption_text(replace(unknown, label="Wave")) == "Wave  92%"
    assert caption_text(replace(unknown, novelty=None)) == "unknown  92%"  # a run without novelty
