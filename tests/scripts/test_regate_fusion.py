"""scripts/regate_fusion.py re-scores a fusion cross-validation with other gates, without retraining."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("keras")

from conftest import REPO  # noqa: E402
from features_fixture import TINY_PARAMS, make_features  # noqa: E402


def test_the_trained_gate_power_reproduces_the_folds_own_scores(tmp_path, capsys):
    from pose_action.training.train import TrainOptions, train_cv

    features = make_features(tmp_path / "features", groups=3, clips=1, frames=20, thumb_size=16)
    runs = tmp_path / "cv"
    options = TrainOptions(model="fusion", split="logo", frames=6, epochs=1, batch_size=8,
                           params={**TINY_PARAMS, "gate_power": 2.0})
    train_cv(features, runs, options, quiet=True)
    served = [json.loads((runs / f"fold-{k}" / "metrics.json").read_text()) for k in range(3)]
    right = sum(p["predicted"] == p["label"] for metrics in served for p in metrics["predictions"])
    clips = sum(metrics["n_test"] for metrics in served)

    spec = importlib.util.spec_from_file_location("regate_fusion", REPO / "scripts" / "regate_fusion.py")
    regate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regate)
    assert regate.main([str(runs), str(features), "--powers", "2,0.5"]) == 0
    lines = dict(line.strip().rsplit(None, 1) for line in capsys.readouterr().out.splitlines()[1:])
    assert set(lines) == {"pose-only head", "fused head", "mean of the two", "gate power 2", "gate power 0.5"}
    assert float(lines["gate power 2"]) == pytest.approx(right / clips, abs=1e-3)  # what the saved models answered
