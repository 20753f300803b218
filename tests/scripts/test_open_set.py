"""scripts/benchmark_open_set.py: the scores and figures, and a leave-one-class-out run on a tiny features folder."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from pose_action.novelty import novelty, unit

from conftest import REPO
from features_fixture import make_features

TINY_TRAIN = ["--", "--frames", "6", "--batch-size", "8", "--param", "lstm_units=8", "--param", "pose_units=8"]


@pytest.fixture(scope="module")
def open_set():
    spec = importlib.util.spec_from_file_location("benchmark_open_set", REPO / "scripts" / "benchmark_open_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figures_count_what_a_user_sees(open_set):
    known = np.array([0.9, 0.8, 0.3, 0.7])
    correct = np.array([True, True, False, False])
    unknown = np.array([0.2, 0.6, 0.4])
    figures = open_set.open_set_figures(known, unknown, correct, threshold=0.5)
    assert figures["auroc"] == pytest.approx(10 / 12)  # 10 of the 12 (known, unknown) pairs ordered right
    assert figures["unknown_rejected"] == pytest.approx(2 / 3) and figures["known_rejected"] == pytest.approx(1 / 4)
    assert figures["open_set_accuracy"] == pytest.approx((2 + 2) / 7)  # 2 known right and kept, 2 unknown rejected
    assert open_set.auroc(known, np.array([])) is None


def test_logit_and_class_mean_scores_rank_an_outlier_last(open_set):
    logits = np.array([[4.0, 0.0], [0.1, 0.0]])
    scores = open_set.logit_scores(logits)
    assert scores["energy"][0] > scores["energy"][1] and scores["max_logit"].tolist() == [4.0, 0.1]
    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    near, far = open_set.class_mean_scores(np.array([[1.0, 0.05], [-1.0, -1.0]]), train, np.array([0, 0, 1, 1]))
    assert near > far


def test_nearest_clip_score_knows_a_class_with_two_modes(open_set):
    """A class done two ways (left- and right-handed) has its mean between them: a clip like either
    is known to the nearest training clip, while the mean scores it no better than an outsider."""
    train = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = np.array([0, 0, 1])
    like_one_mode, outsider = np.array([[1.0, 0.0, 0.0]]), np.array([[0.7, 0.7, 0.0]])
    known = unit(train)
    assert novelty(like_one_mode, known)[0] == pytest.approx(0.0)
    assert novelty(like_one_mode, known)[0] < novelty(outsider, known)[0]
    assert (open_set.class_mean_scores(like_one_mode, train, labels)[0]
            < open_set.class_mean_scores(outsider, train, labels)[0])


def test_whitened_scores_weigh_a_direction_by_how_much_known_clips_vary_along_it(open_set):
    """Known clips vary widely along the first axis and hardly along the second: a clip a little off
    the second axis is more unlike them than one a little beyond them along the first, although it
    lies nearer to them in plain distance."""
    rng = np.random.default_rng(0)
    known = np.c_[rng.uniform(-3.0, 3.0, 40), rng.normal(0.0, 0.05, 40)]
    labels = (known[:, 0] > 0).astype(int)  # two classes side by side along the wide axis
    along, across = np.array([[3.6, 0.0]]), np.array([[0.0, 0.5]])
    plain = -open_set.nearest_distance(np.r_[along, across], known)
    assert plain[0] < plain[1]  # the plain nearest clip calls the clip along the wide axis the stranger
    whitened = open_set.whitened_clip_scores(known, np.r_[along, across])
    assert whitened[0] > whitened[1]
    mahalanobis = open_set.mahalanobis_scores(known, labels, np.r_[along, across, known[:1]])
    assert mahalanobis[1] < min(mahalanobis[0], mahalanobis[2])


def test_pose_input_score_ranks_an_unseen_movement_last_and_ignores_frames_without_a_pose(open_set):
    rng = np.random.default_rng(0)
    train = rng.normal(0.0, 0.1, size=(8, 12, 4))
    train[:, :, 0] += np.sin(np.linspace(0, 6, 12))  # every training clip swings its first value
    still = np.zeros((1, 12, 4))  # nothing moves
    like = train[:1] + rng.normal(0.0, 0.05, size=(1, 12, 4))
    full = np.ones((8, 12))
    known = open_set.pose_description(train, full)
    scores = open_set.pose_input_score(known, open_set.pose_description(np.r_[like, still], np.ones((2, 12))))
    assert scores[0] > scores[1]
    # a frame without a pose (its vector zeros, masked) does not move a clip's description but the share seen
    gap, mask = like.copy(), np.ones((1, 12))
    gap[0, 5], mask[0, 5] = 0.0, 0.0
    with_gap = open_set.pose_description(gap, mask)[0]
    without_frame = open_set.pose_description(np.delete(like, 5, axis=1), np.ones((1, 11)))[0]
    np.testing.assert_allclose(with_gap[:8], without_frame[:8], atol=1e-9)
    assert with_gap[-1] == pytest.approx(11 / 12)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_leave_one_class_out_on_tiny_features(open_set, tmp_path, capsys):
    features = make_features(tmp_path / "features", groups=3, clips=2, frames=24, thumb_size=16)
    # Wave filmed in places of its own, as each workouts source holds one exercise: its groups
    # leave the view with it, and its clips must still be scored (once each)
    manifest = pd.read_csv(features / "manifest.csv", dtype=str, keep_default_na=False)
    manifest.loc[manifest["label"] == "Wave", "group"] = "wave-" + manifest["group"]
    manifest.to_csv(features / "manifest.csv", index=False)
    out = tmp_path / "open"
    assert open_set.main(["--features", str(features), "--out", str(out), "--classes", "Wave,TennisSwing",
                          "--epochs", "2", "--max-folds", "1", *TINY_TRAIN]) == 0
    printed = capsys.readouterr().out
    assert "| msp_calibrated |" in printed and "| energy |" in printed
    clips = pd.read_csv(out / "open_set_clips.csv")
    assert set(clips["held_out"]) == {"Wave", "TennisSwing"}
    unknown = clips[~clips["known"]]
    # a held-out class's clips are scored by the folds whose test groups hold them, and by no model that saw them
    assert set(unknown["label"]) == {"Wave", "TennisSwing"} and len(unknown) > 0
    waves = unknown[unknown["label"] == "Wave"]["key"]
    assert len(waves) == (manifest["label"] == "Wave").sum() and waves.is_unique
    # with --max-folds the groups the trained folds leave untested are in their training: not scored as unknown
    tennis = unknown[unknown["label"] == "TennisSwing"]["key"]
    assert len(tennis) and tennis.str.contains("_g01_").all()
    assert not (clips[clips["known"]]["label"] == clips[clips["known"]]["held_out"]).any()
    results = pd.read_csv(out / "open_set.csv")
    assert {"msp", "msp_calibrated", "energy", "max_logit", "class_mean", "nearest_clip", "pose_input", "served",
            "nearest_clip@training groups"} <= set(results["score"])
    scored = results[~results["score"].isin(["served", "either"])]  # rules of two scores: no AUROC of their own
    assert scored["auroc"].between(0, 1).all() and results.set_index("score")["auroc"].isna()["served"]
    assert open_set.main(["--features", str(features), "--out", str(out), "--classes", "Nope"]) == 2
    assert "Nope not in" in capsys.readouterr().err


def test_a_fusion_serving_a_head_mix_is_scored_by_its_fused_head(open_set):
    """The default fusion answers a mix of heads (no Dense output layer): its logit and embedding
    scores read the fused head, whose softmax of the logits is that head's own answer."""
    import keras

    from pose_action.features import FeatureConfig
    from pose_action.training import models

    config = FeatureConfig(frames=6, appearance="thumbs", thumb_size=16)
    model = models.build_model("fusion", config, 3, {"lstm_units": 8, "pose_units": 8, "appearance_units": 8,
                                                     "cnn_filters": [4, 8], "fusion_gate": "learned"})
    assert not isinstance(model.layers[-1], keras.layers.Dense)
    embed, weights, bias = open_set.head_parts(model)
    rng = np.random.default_rng(0)
    inputs = {"pose": rng.normal(size=(2, 6, config.pose_dim)).astype(np.float32), "mask": np.ones((2, 6), np.float32),
              "frames": rng.integers(0, 256, (2, 6, 16, 16, 3)).astype(np.uint8)}
    logits = np.asarray(embed.predict(inputs, verbose=0)) @ weights + bias
    fused = keras.Model(model.inputs, model.get_layer(models.HEAD_LAYER).output).predict(inputs, verbose=0)
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), fused, atol=1e-5)
