"""Speed and place of the body in the pose vectors (FeatureConfig.locomotion) come from the model's
recipe on the models with body pose vectors, and `train --locomotion none|speed|full` chooses;
asking for them on another model is one line, exit 2 (docs/benchmarks.md, "Speed and place")."""

from __future__ import annotations

import argparse
import json

import pytest

from pose_action.cli import main
from pose_action.commands.train import add_arguments
from pose_action.layout import FeaturesLayout
from pose_action.training.train import TrainOptions, feature_config_for, resolve_recipe

# what each model carries unless told: the benchmarks' choice (docs/benchmarks.md, "Speed and place")
DEFAULT = {"pose": "speed", "fusion": "speed"}


def test_the_default_fusion_run_gives_the_speed_to_its_pose_head_alone(tiny):
    config = json.loads((tiny.run / "config.json").read_text())
    assert config["model"]["name"] == "fusion" and config["features"]["locomotion"] == DEFAULT["fusion"]
    assert config["model"]["params"]["fused_locomotion"] is False


@pytest.mark.parametrize(("model", "asked", "expected"), [
    ("pose", None, DEFAULT["pose"]), ("fusion", None, DEFAULT["fusion"]), ("pose", "full", "full"),
    ("fusion", "none", "none"), ("fusion", "full", "full"), ("pose", "none", "none"), ("keypoints", None, "none"),
    ("rgb", None, "none"), ("rgb", "none", "none")])
def test_locomotion_reaches_the_feature_config(tiny, model, asked, expected):
    options = TrainOptions(model=model, locomotion=asked)
    config = feature_config_for(options, resolve_recipe(options), FeaturesLayout(tiny.features))
    assert config.locomotion == expected


@pytest.mark.parametrize(("argv", "expected"), [
    ([], None), (["--locomotion"], "full"), (["--locomotion", "speed"], "speed"), (["--locomotion", "none"], "none")])
def test_the_bare_option_keeps_its_old_meaning(argv, expected):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["FEATURES", "--out", "RUN", *argv]).locomotion == expected


@pytest.mark.parametrize("model", ["rgb", "keypoints"])
def test_locomotion_on_a_model_without_body_vectors_is_one_line(tiny, tmp_path, capsys, model):
    capsys.readouterr()
    assert main(["train", str(tiny.features), "--out", str(tmp_path / "run"), "--model", model, "--locomotion",
                 "--epochs", "1", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--locomotion" in error and model in error
    assert not (tmp_path / "run").exists()
