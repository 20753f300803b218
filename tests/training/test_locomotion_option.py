"""Speed and place of the body in the pose vectors (FeatureConfig.locomotion) are asked for with
`train --locomotion` on the models with body pose vectors; the default run goes without them
(docs/benchmarks.md, "Speed and place"), and asking for them on another model is one line, exit 2."""

from __future__ import annotations

import json

import pytest

from pose_action.cli import main
from pose_action.layout import FeaturesLayout
from pose_action.training.train import TrainOptions, feature_config_for, resolve_recipe


def test_the_default_run_goes_without_speed_and_place(tiny):
    config = json.loads((tiny.run / "config.json").read_text())
    assert config["features"]["locomotion"] is False  # demo --quick trains fusion with the defaults


@pytest.mark.parametrize(("model", "asked", "expected"), [
    ("pose", False, False), ("pose", True, True), ("fusion", True, True), ("fusion", False, False)])
def test_locomotion_reaches_the_feature_config(tiny, model, asked, expected):
    options = TrainOptions(model=model, locomotion=asked)
    config = feature_config_for(options, resolve_recipe(options), FeaturesLayout(tiny.features))
    assert config.locomotion is expected


@pytest.mark.parametrize("model", ["rgb", "keypoints"])
def test_locomotion_on_a_model_without_body_vectors_is_one_line(tiny, tmp_path, capsys, model):
    capsys.readouterr()
    assert main(["train", str(tiny.features), "--out", str(tmp_path / "run"), "--model", model, "--locomotion",
                 "--epochs", "1", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--locomotion" in error and model in error
    assert not (tmp_path / "run").exists()
