"""train + evaluate end to end on a tiny features folder; the run directory and its guarantees."""

from __future__ import annotations

import collections
import json
import logging
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from pose_action import cli, landmarks, runs
from pose_action.calibration import apply_temperature
from pose_action.catalog import input_names
from pose_action.errors import InputError
from pose_action.features import FeatureConfig
from pose_action.files import read_json
from pose_action.inference.backends import load_backend
from pose_action.layout import FeaturesLayout
from pose_action.training import models
from pose_action.training.augment import AugmentConfig
from pose_action.training.batches import ClipBatches, SequenceCache
from pose_action.training.evaluate import evaluate_run, predict_clips
from pose_action.training.splits import read_clips
from pose_action.training.train import (
    TrainOptions,
    balanced_class_weights,
    build_trainee,
    fit,
    load_training_data,
    set_seeds,
    train_cv,
    train_run,
    training_batches,
)

from features_fixture import TINY_PARAMS, make_features
from features_fixture import small_features as features  # noqa: F401  (a fixture, used by the tests' arguments)

TINY = ["--frames", "6", "--epochs", "2", "--batch-size", "8", "--param", "lstm_units=8",
        "--param", "pose_units=8", "--param", "appearance_units=8", "--param", "cnn_filters=[4,8]",
        "--param", "mix_folds=0"]  # equal head shares: the learned mix has its own test


@pytest.fixture(scope="module")
def fusion_training(features, tmp_path_factory) -> tuple[Path, collections.Counter]:
    """(the run, how many times each landmark CSV was parsed while it trained and evaluated)."""
    out = tmp_path_factory.mktemp("runs") / "fusion"
    parsed: collections.Counter = collections.Counter()
    read_csv = landmarks.read_csv

    def counted(path):
        parsed[Path(path).name] += 1
        return read_csv(path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(landmarks, "read_csv", counted)
        code = cli.main(["train", str(features), "--out", str(out), "--model", "fusion", "--quiet", *TINY])
    assert code == 0
    return out, parsed


@pytest.fixture(scope="module")
def fusion_run(fusion_training) -> Path:
    return fusion_training[0]


def test_a_run_parses_each_landmark_csv_once(fusion_training, features):
    """Training epochs, validation, evaluation and the known clips share the run's parsed landmarks."""
    _, parsed = fusion_training
    split = read_json(fusion_training[0] / "split.json")
    used = split["train"] + split["val"] + split["test"]
    assert len(used) > 10 and sorted(parsed) == sorted(f"{Path(key).name}.csv" for key in used)
    assert set(parsed.values()) == {1}


def test_train_cli_writes_a_complete_run(fusion_run, features, capsys):
    names = {path.name for path in fusion_run.iterdir()}
    assert {"model.keras", "labels.json", "config.json", "split.json", "history.csv", "metrics.json",
            "classification_report.csv", "confusion_matrix.png", "curves.png"} <= names
    assert not list(fusion_run.parent.glob(".*partial*")), "no staging folder left behind"
    config = json.loads((fusion_run / "config.json").read_text())
    assert config["model"]["name"] == "fusion" and config["model"]["inputs"] == ["pose", "mask", "frames"]
    assert config["features"]["frames"] == 6 and config["features"]["thumb_size"] == 16
    assert config["extraction"]["pose_model"]["file"] == "pose_landmarker_lite.task"
    assert config["window"]["frames"] > 0 and config["window"]["seconds"] > 0
    assert config["training"]["distribute"] == "none" and config["distribution"]["strategy"] == "default"
    assert config["augmentation"] == AugmentConfig().to_dict()  # every augmentation setting, as applied
    metrics = json.loads((fusion_run / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "per_class", "split", "n_train", "n_test", "test_groups"):
        assert key in metrics
    assert metrics["excluded"] == {}  # the clip without a person trains or is tested like any other
    split = json.loads((fusion_run / "split.json").read_text())
    groups = {clip.key: clip.group for clip in read_clips(FeaturesLayout(features)).clips}
    assert not {groups[k] for k in split["train"] + split["val"]} & {groups[k] for k in split["test"]}
    assert len(pd.read_csv(fusion_run / "history.csv")) == 2
    report = pd.read_csv(fusion_run / "classification_report.csv")
    assert set(report["class"]) >= {"Wave", "TennisSwing", "macro avg", "accuracy"}

    # evaluate reproduces the training-time metrics from the saved run
    assert cli.main(["evaluate", str(fusion_run)]) == 0
    printed = capsys.readouterr().out
    assert f"accuracy {metrics['accuracy']:.3f}" in printed
    assert json.loads((fusion_run / "metrics.json").read_text())["predictions"] == metrics["predictions"]


def test_saved_run_reloads_and_reproduces_predictions(fusion_run, features):
    run = runs.load_run(fusion_run)
    assert run.labels == ["ArmRaise", "BaseballSwing", "TennisSwing", "Wave"]
    assert run.feature_config.frames == 6
    clips = [clip for clip in read_clips(FeaturesLayout(features)).clips if clip.key in set(json.loads(
        (fusion_run / "split.json").read_text())["test"])]
    model = load_backend(run, "keras").model
    probabilities = predict_clips(model, FeaturesLayout(features), clips, run.labels, run.feature_config,
                                  run.input_names)
    saved = json.loads((fusion_run / "metrics.json").read_text())["predictions"]
    assert [p["predicted"] for p in saved] == [run.labels[i] for i in probabilities.argmax(axis=1)]
    # the model's own probabilities; `confidence` is calibrated (the run's temperature, as predict shows it)
    np.testing.assert_allclose([p["confidence_raw"] for p in saved], probabilities.max(axis=1), atol=1e-5)
    calibrated = apply_temperature(probabilities, run.config.calibration.temperature)
    np.testing.assert_allclose([p["confidence"] for p in saved], calibrated.max(axis=1), atol=1e-5)


def test_few_clips_are_answered_as_keras_predict_answers_many(fusion_run, features):
    """A few batches go through direct model calls, more through Keras predict: the same answers either way."""
    from pose_action.training.batches import DIRECT_CALL_BATCHES, predict_batches

    run = runs.load_run(fusion_run)
    clips = read_clips(FeaturesLayout(features)).clips
    model = load_backend(run, "keras").model

    def answers(batch_size: int) -> tuple[int, np.ndarray]:
        batches = ClipBatches(FeaturesLayout(features), clips, run.labels, run.feature_config, run.input_names,
                              batch_size)
        return len(batches), predict_batches(model, batches)

    (few, direct), (many, predicted) = answers(len(clips)), answers(2)
    assert few <= DIRECT_CALL_BATCHES < many
    assert direct.shape == predicted.shape == (len(clips), len(run.labels))
    np.testing.assert_allclose(direct, predicted, atol=1e-6)


def test_existing_run_is_not_overwritten_by_accident(fusion_run, features, capsys):
    code = cli.main(["train", str(features), "--out", str(fusion_run), "--model", "pose", "--quiet", *TINY])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert runs.load_run(fusion_run).model_name == "fusion"


def test_interrupted_training_leaves_no_run(features, tmp_path, monkeypatch):
    import pose_action.training.train as train_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "plot_curves", crash)  # dies while writing the run folder
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(features, out, TrainOptions(model="pose", frames=6, epochs=1, params=TINY_PARAMS), quiet=True)
    assert not out.exists()
    assert not list(tmp_path.iterdir())
    with pytest.raises(InputError, match="no such run"):
        runs.load_run(out)


def test_load_run_explains_bad_runs(fusion_run, tmp_path):
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "model.keras").write_bytes(b"")
    with pytest.raises(InputError, match="not a complete run"):
        runs.load_run(incomplete)
    newer = tmp_path / "newer"
    newer.mkdir()
    config = json.loads((fusion_run / "config.json").read_text())
    (newer / "config.json").write_text(json.dumps({**config, "format": "pose_action.run/99"}))
    with pytest.raises(InputError, match="run format"):
        runs.load_run(newer)


def test_evaluate_checks_the_model_against_its_config_first(fusion_run, tmp_path, capsys):
    """The one run loader checks model inputs against config.json: one line and exit 2, no Keras traceback."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(fusion_run, run)
    config = json.loads((run / "config.json").read_text())
    config["features"]["frames"] = 9
    (run / "config.json").write_text(json.dumps(config))
    assert cli.main(["evaluate", str(run)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error] and "model input 'pose' has shape" in error


CV_OPTIONS = TrainOptions(model="pose", split="logo", frames=6, epochs=1, params=TINY_PARAMS)


@pytest.fixture(scope="module")
def pose_cv(features, tmp_path_factory):
    """(cv folder, summary): a leave-one-group-out pose cross-validation, trained once for the tests below."""
    out = tmp_path_factory.mktemp("cv") / "cv"
    return out, train_cv(features, out, CV_OPTIONS, quiet=True)


def test_cv_trains_every_group_as_test_and_resumes(features, pose_cv, caplog):
    out, summary = pose_cv
    options = CV_OPTIONS
    assert [fold["test_groups"] for fold in summary["folds"]] == [["01"], ["02"], ["03"]]
    fold_accuracy = [read_json(out / fold["run"] / "metrics.json")["accuracy"] for fold in summary["folds"]]
    assert summary["accuracy_mean"] == pytest.approx(sum(fold_accuracy) / len(fold_accuracy))
    assert read_json(out / "cv.json") == summary
    assert keras.saving.load_model(out / summary["folds"][0]["run"] / "model.keras").optimizer is not None
    with pytest.raises(InputError, match="cross-validation summary"):
        runs.load_run(out)
    # a rerun after an interruption keeps the finished folds
    (out / "cv.json").unlink()
    with caplog.at_level(logging.INFO):
        again = train_cv(features, out, options, quiet=True)
    assert caplog.text.count("already trained") == 3 and again == summary
    # other options would replace the finished folds: refused
    with pytest.raises(InputError, match="fold 0 was trained with other options"):
        train_cv(features, out, replace(options, seed=1), quiet=True)


def test_cv_leads_with_the_accuracy_pooled_over_every_clip(features, pose_cv, capsys):
    """cv.json, train --cv and evaluate lead with accuracy over every decoded clip (the no_pose one predicted too)."""
    out, summary = pose_cv
    predictions = [p for fold in summary["folds"] for p in read_json(out / fold["run"] / "metrics.json")["predictions"]]
    right = sum(p["label"] == p["predicted"] for p in predictions)
    assert list(summary)[2:6] == ["accuracy_all", "macro_f1_all", "clips_all", "clips_predicted"]
    assert (summary["clips_all"], summary["clips_predicted"]) == (4 * 3 * 2 + 1,) * 2  # + the no_pose clip
    assert summary["accuracy_all"] == pytest.approx(right / 25)
    assert summary["train_seconds"] == pytest.approx(sum(fold["train_seconds"] for fold in summary["folds"]),
                                                     abs=0.05)
    # the same command again only re-summarizes the finished folds, and prints the pooled figure first
    assert cli.main(["train", str(features), "--out", str(out), "--model", "pose", "--split", "logo", "--cv",
                     "--frames", "6", "--epochs", "1", *TINY[6:]]) == 0
    printed = capsys.readouterr().out
    assert f"3 folds: accuracy {summary['accuracy_all']:.3f}" in printed
    assert "over all 25 clips (25 predicted); fold mean accuracy" in printed
    assert read_json(out / "cv.json") == summary
    assert cli.main(["evaluate", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"3 folds: accuracy {summary['accuracy_all']:.3f}")


# stratified group folds train every group as a test once: test_calibration's cross-validation runs them


def test_class_weights_balance_rare_classes():
    weights = balanced_class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights == pytest.approx({0: 4 / (2 * 3), 1: 4 / (2 * 1), 2: 0.0})  # n / (present classes * n_c)
    assert weights[1] == 3 * weights[0] and weights[2] == 0.0
    assert weights[0] * 3 + weights[1] * 1 == pytest.approx(4.0)


def test_models_needing_thumbnails_reject_embeddings(features, tmp_path, capsys):
    code = cli.main(["train", str(features), "--out", str(tmp_path / "r"), "--model", "lrcn",
                     "--appearance", "embeddings", "--backbone", "mobilenet_v3_small", *TINY])
    assert code == 2 and "thumbnails" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_evaluate_on_another_features_folder_writes_beside_the_run(fusion_run, tmp_path, capsys):
    other = make_features(tmp_path / "other", groups=2, clips=1, frames=20, thumb_size=16, seed=5,
                          no_pose_clip=False)
    assert cli.main(["evaluate", str(fusion_run), "--features", str(other), "--clips", "all"]) == 0
    assert "on 8 test clips" in capsys.readouterr().out
    written = json.loads((fusion_run / "evaluations" / "other" / "metrics.json").read_text())
    assert written["n_test"] == 8 and written["clips"] == "all"
    assert json.loads((fusion_run / "metrics.json").read_text())["clips"] == "test"  # untouched
    assert cli.main(["evaluate", str(fusion_run), "--features", str(other)]) == 2  # its test clips are not there


def test_fusion_trains_on_frozen_embeddings(tmp_path):
    features = make_features(tmp_path / "features", groups=3, clips=1, frames=16, embeddings_dim=12)
    options = TrainOptions(model="fusion", appearance="embeddings", backbone="mobilenet_v3_small", frames=6,
                           epochs=1, params=TINY_PARAMS)
    train_run(features, tmp_path / "run", options, quiet=True)
    run = runs.load_run(tmp_path / "run")
    assert run.input_names == ["pose", "mask", "embeddings"]
    assert run.config.model.embedding_dim == 12
    assert run.feature_config.backbone == "mobilenet_v3_small"
    missing = TrainOptions(model="rgb", appearance="embeddings", backbone="efficientnet_b0", frames=6, epochs=1)
    with pytest.raises(InputError, match="extract with --embed efficientnet_b0"):
        train_run(features, tmp_path / "other", missing, quiet=True)


def test_distribute_mirrored_falls_back_on_cpu_and_records_the_strategy(features, tmp_path, caplog, capsys):
    out = tmp_path / "mirrored"
    with caplog.at_level(logging.WARNING):
        code = cli.main(["train", str(features), "--out", str(out), "--model", "pose", "--distribute", "mirrored",
                         "--quiet", *TINY, "--epochs", "1"])
    assert code == 0
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    assert gpus >= 2 or f"--distribute mirrored: {gpus} GPU(s) visible" in caplog.text
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["distribute"] == "mirrored"
    assert config["distribution"] == {"requested": "mirrored", "strategy": "default", "replicas": 1,
                                      "devices": ["CPU"]}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distribution"]["strategy"] == "default" and metrics["epochs_trained"] == 1
    assert runs.load_run(out).model_name == "pose"
    assert "pose: accuracy" in capsys.readouterr().out


def test_bad_distribute_and_cache_options_are_usage_errors(features, tmp_path, capsys):
    with pytest.raises(InputError, match="--distribute 'horovod'"):
        train_run(features, tmp_path / "r", TrainOptions(model="pose", distribute="horovod"), quiet=True)
    assert cli.main(["train", str(features), "--out", str(tmp_path / "r"), "--model", "pose",
                     "--cache-mb", "-1"]) == 2
    assert "--cache-mb must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_landmark_cache_stops_at_its_cap_and_batches_stay_the_same(features):
    """Training memory must not grow with the dataset: the parsed-landmark cache has a fixed cap."""
    clips = read_clips(FeaturesLayout(features)).clips[::4]
    labels = sorted({clip.label for clip in read_clips(FeaturesLayout(features)).clips})
    config = FeatureConfig(frames=6, appearance="thumbs", thumb_size=16)

    def loader(**cache) -> ClipBatches:
        return ClipBatches(FeaturesLayout(features), clips, labels, config, ["pose", "mask", "frames"], 4, shuffle=True,
                           augment=AugmentConfig(), seed=3, **cache)

    def two_epochs(batches: ClipBatches) -> list:
        seen = []
        for _ in range(2):
            seen += [batches.batch(index) for index in range(len(batches))]
            batches.on_epoch_end()
        return seen

    one_clip = loader().sequence(clips[0])
    budget = 2 * (one_clip.data.nbytes + one_clip.frame.nbytes + one_clip.timestamp_ms.nbytes) + 100
    capped, unlimited, uncached = loader(cache=SequenceCache(budget)), loader(cache=SequenceCache()), loader()
    results = [two_epochs(batches) for batches in (capped, unlimited, uncached)]
    assert 0 < len(capped.cache) < len(clips) and capped.cache.bytes <= budget
    assert len(unlimited.cache) == len(clips) and uncached.cache is None
    for other in results[1:]:  # what a model sees does not depend on what was cached
        for (inputs, targets, _), (other_inputs, other_targets, _) in zip(results[0], other):
            np.testing.assert_array_equal(targets, other_targets)
            for name in inputs:
                np.testing.assert_array_equal(inputs[name], other_inputs[name])


def test_a_clip_without_a_person_is_predicted_and_counted(fusion_run, features, tmp_path):
    """Evaluation scores every decoded clip: the no-pose one gets a prediction and its own count."""
    metrics = evaluate_run(fusion_run, out=tmp_path / "all", which="all")
    keys = [prediction["key"] for prediction in metrics["predictions"]]
    assert any(key.endswith("_g01_c99") for key in keys) and len(keys) == metrics["n_test"] == len(read_clips(
        FeaturesLayout(features)).clips)
    no_pose = [item for item in metrics["predictions"] if item["key"].endswith("c99")]
    assert metrics["no_pose"]["clips"] == 1
    assert metrics["no_pose"]["correct"] == int(no_pose[0]["predicted"] == no_pose[0]["label"])
    assert [p["status"] for p in metrics["predictions"] if p["key"].endswith("c99")] == ["no_pose"]


def test_the_saved_weights_are_the_mean_of_the_last_epochs(features):
    """The default recipe keeps the mean of the last `average_last` epochs' weights, not the last epoch's."""
    options = TrainOptions(model="pose", frames=6, epochs=4, average_last=3, batch_size=4, params=TINY_PARAMS)
    data = load_training_data(features, options)
    set_seeds(0)
    model = build_trainee(options, data, models.resolve_params(options.params))
    epochs: list[list[np.ndarray]] = []

    class Weights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            epochs.append([weights.copy() for weights in self.model.get_weights()])

    history, _ = fit(model, training_batches(data, options, input_names("pose", "none")), None, options,
                     data.recipe, quiet=True, callbacks=[Weights()])
    assert len(history) == len(epochs) == 4
    mean = [np.mean([epoch[index] for epoch in epochs[-3:]], axis=0) for index in range(len(epochs[0]))]
    assert all(np.allclose(saved, expected, atol=1e-6) for saved, expected in zip(model.get_weights(), mean))
    assert not all(np.allclose(saved, last) for saved, last in zip(model.get_weights(), epochs[-1]))


def test_fit_mix_gives_the_shares_to_the_heads_that_held_on_unseen_groups():
    from pose_action.training.train import fit_mix

    truth = np.array([0, 1, 2, 0, 1, 2])
    right = np.eye(3)[truth] * 0.7 + 0.1
    wrong = np.eye(3)[(truth + 1) % 3] * 0.7 + 0.1
    assert fit_mix({"pose_only": right, "appearance_only": wrong, "fused": wrong}, truth) == [1.0, 0.0, 0.0]
    assert fit_mix({"pose_only": right, "fused": right}, truth) == [0.5, 0.5]  # a tie keeps both
    # each head right on different clips: a mix beats either alone
    half = np.where(np.arange(6)[:, None] < 3, right, wrong)
    other = np.where(np.arange(6)[:, None] >= 3, right, wrong)
    shares = fit_mix({"pose_only": half, "fused": other}, truth)
    assert 0 < shares[0] < 1 and sum(shares) == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_learned_fusion_serves_the_mix_learned_out_of_fold(tmp_path):
    """fusion_gate learned (the default): inner group folds give every training clip out-of-fold answers,
    the shares are stored, and the saved model answers exactly that mix of its heads on the test clips.
    The same out-of-fold clips set the run's novelty threshold (enough of them to learn on: at least
    20 right answers)."""
    features = make_features(tmp_path / "features", groups=4, clips=6, frames=24, thumb_size=16)
    options = TrainOptions(model="fusion", split="logo", fold=0, frames=6, epochs=6, batch_size=8,
                           params={**TINY_PARAMS, "fusion_gate": "learned", "mix_folds": 2, "mix_epochs": 1.0})
    metrics = train_run(features, tmp_path / "run", options, quiet=True)
    novelty = runs.load_run(tmp_path / "run").config.novelty
    assert novelty.used and novelty.fitted_on == "out-of-fold" and novelty.known_clips == metrics["n_train"]
    mix = metrics["head_mix"]
    assert mix["heads"] == ["pose_only", "appearance_only", "fused"] and mix["folds"] == 2
    assert mix["oof_clips"] == metrics["n_train"] and sum(mix["weights"]) == pytest.approx(1.0)
    heads = {name: np.array(values) for name, values in metrics["heads"]["probabilities"].items()}
    served = sum(share * heads[name] for share, name in zip(mix["weights"], mix["heads"]))
    labels = read_json(tmp_path / "run" / "labels.json")
    # (confidences are temperature-calibrated, which keeps the order of the classes)
    assert [labels[int(row.argmax())] for row in served] == [item["predicted"] for item in metrics["predictions"]]
    # the shares are saved, and the model loads with Keras' default load_model (compile=True): the inner
    # models' reused trainee, whose schedule length is a variable, is never what is saved
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    np.testing.assert_allclose(model.get_layer("head_mix").get_weights()[0], mix["weights"], atol=1e-6)
