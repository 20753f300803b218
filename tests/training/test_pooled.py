"""The pooled cross-validation score against values worked out by hand: unequal folds, a clip nobody predicted."""

from __future__ import annotations

import pandas as pd
import pytest

from pose_action.layout import FeaturesLayout
from pose_action.training.pooled import cv_scores, decoded_clips, fold_spread, pool_predictions

from features_fixture import make_features

# Six clips of the set. n1 (say a no_pose clip) is in no fold's predictions.
TRUTH = {"A/a1": "A", "A/a2": "A", "A/n1": "A", "B/b1": "B", "B/b2": "B", "B/b3": "B"}


def _prediction(key: str, predicted: str) -> dict:
    return {"key": key, "label": TRUTH[key], "predicted": predicted}


# fold 0 holds one clip (right: 1/1); fold 1 holds four (one right: 1/4).
FOLD_0 = {"accuracy": 1.0, "macro_f1": 1.0, "predictions": [_prediction("A/a1", "A")]}
FOLD_1 = {"accuracy": 0.25, "macro_f1": 0.25,
          "predictions": [_prediction("A/a2", "B"), _prediction("B/b1", "B"), _prediction("B/b2", "A"),
                          _prediction("B/b3", "A")]}


def test_pooled_accuracy_counts_every_clip_and_differs_from_the_fold_mean():
    score = pool_predictions(TRUTH, FOLD_0["predictions"] + FOLD_1["predictions"])
    assert (score.clips_all, score.clips_predicted) == (6, 5)
    assert score.accuracy == pytest.approx(2 / 6)  # a1 and b1 right; n1 not predicted: wrong
    # A: true a1, a2, n1; predicted A: a1, b2, b3 -> precision 1/3, recall 1/3, F1 1/3
    # B: true b1, b2, b3; predicted B: a2, b1 -> precision 1/2, recall 1/3, F1 2/5
    assert score.macro_f1 == pytest.approx((1 / 3 + 2 / 5) / 2)
    assert fold_spread([FOLD_0, FOLD_1])["accuracy_mean"] == pytest.approx(0.625)  # what pooling replaces
    # without the unpredicted clip: 2 of 5
    assert pool_predictions({k: v for k, v in TRUTH.items() if k != "A/n1"},
                            FOLD_0["predictions"] + FOLD_1["predictions"]).accuracy == pytest.approx(2 / 5)


def test_an_unpredicted_clip_counts_wrong_and_a_predicted_one_counts_once():
    score = pool_predictions({"A/a1": "A", "B/b1": "B"}, [{"key": "A/a1", "label": "A", "predicted": "A"}])
    assert (score.accuracy, score.clips_all, score.clips_predicted) == (0.5, 2, 1)
    assert score.macro_f1 == pytest.approx((1.0 + 0.0) / 2)  # B's only clip was missed: recall 0
    with pytest.raises(ValueError, match="more than once"):
        pool_predictions(TRUTH, FOLD_0["predictions"] * 2)


def test_decoded_clips_keep_no_pose_and_leave_out_failed(tmp_path):
    features = make_features(tmp_path, groups=2, clips=1, frames=10, no_pose_clip=True)
    manifest = pd.read_csv(features / "manifest.csv")
    failed = {**manifest.iloc[0].to_dict(), "key": "Wave/broken", "video": "videos/Wave/broken.mp4",
              "status": "failed", "error": "cannot decode"}
    pd.concat([manifest, pd.DataFrame([failed])]).to_csv(features / "manifest.csv", index=False)
    decoded = decoded_clips(FeaturesLayout(features))
    assert len(decoded) == 4 * 2 + 1 and decoded["ArmRaise/v_ArmRaise_g01_c99"] == "ArmRaise"  # 8 ok + no_pose
    assert "Wave/broken" not in decoded
    # every fold predicted right, but the no_pose clip was not predicted
    predictions = [{"key": key, "label": label, "predicted": label} for key, label in decoded.items()
                   if not key.endswith("_c99")]
    scores = cv_scores(features, [{"accuracy": 1.0, "macro_f1": 1.0, "predictions": predictions}])
    assert list(scores)[:4] == ["accuracy_all", "macro_f1_all", "clips_all", "clips_predicted"]
    assert (scores["accuracy_all"], scores["clips_all"], scores["clips_predicted"]) == (8 / 9, 9, 8)
    assert scores["accuracy_mean"] == 1.0
