"""`train --second-person` by the real flow: synth --crowd -> extract --max-people 2 -> train pose and fusion;
the run records it, exports to TFLite and predicts with two people tracked; a folder without people files,
or a model without a pose stream, is one line and exit 2."""

from __future__ import annotations

import json
import shutil

import pytest

from pose_action.cli import main
from pose_action.features import SPEED_CHANNELS, FeatureConfig
from pose_action.layout import FeaturesLayout
from pose_action.people import read_people

TINY = ["--epochs", "2", "--frames", "8", "--param", "lstm_units=8", "--param", "pose_units=8",
        "--param", "appearance_units=8", "--param", "cnn_filters=[4,8]",
        "--param", "mix_folds=0", "--quiet"]  # equal head shares: the learned mix has its own test


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    base = tmp_path_factory.mktemp("second")
    videos, features = base / "videos", base / "features"
    assert main(["synth", str(videos), "--classes", "Wave", "Squat", "--actors", "2", "--clips", "1",
                 "--seconds", "1", "--fps", "15", "--crowd", "1", "--occlusion", "0", "--quiet"]) == 0
    assert main(["extract", str(videos), "--out", str(features), "--max-people", "2", "--thumb-size", "16",
                 "--thumb-frames", "4", "--workers", "1", "--quiet"]) == 0
    return base, features


def test_train_second_person_records_it_and_exports(crowd):
    base, features = crowd
    layout = FeaturesLayout(features)
    people_dir = layout.people("Wave/x").parent.parent
    tracks = [read_people(path)["track"].nunique() for path in people_dir.rglob("*.csv")]
    assert max(tracks) >= 2  # a crowd scene: somebody besides the actor was tracked
    for model in ("pose", "fusion"):
        run = base / f"run-{model}"
        assert main(["train", str(features), "--out", str(run), "--model", model, "--second-person", *TINY]) == 0
        config = json.loads((run / "config.json").read_text())
        assert config["features"]["second_person"] is True and config["training"]["second_person"] is True
        one = 104 + len(SPEED_CHANNELS)  # both carry the window's speed by default
        assert FeatureConfig.from_dict(config["features"]).pose_dim == 2 * one + 6
    assert main(["export", str(base / "run-pose")]) == 0  # one wider pose input: converts and agrees with Keras
    assert (base / "run-pose" / "model.tflite").is_file()


def test_predict_tracks_two_people_for_a_second_person_run(crowd, capsys):
    base, _ = crowd
    run = base / "run-pose"
    if not (run / "config.json").is_file():
        pytest.skip("the run of the test above is not there")
    video = next((base / "videos" / "Wave").glob("*.mp4"))
    capsys.readouterr()
    assert main(["predict", str(run), str(video), "--json"]) == 0  # asked for one person, it tracks two
    result = json.loads(capsys.readouterr().out)
    assert result["max_people"] == 2 and result["label"]


def test_second_person_needs_people_files_and_a_pose_model(crowd, tmp_path, capsys):
    _, features = crowd
    single = tmp_path / "single"  # as extracted with --max-people 1: no people files, no "people" entry
    shutil.copytree(features, single)
    shutil.rmtree(FeaturesLayout(single).people("Wave/x").parent.parent)
    config = json.loads((single / "extract_config.json").read_text())
    config.pop("people")
    (single / "extract_config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["train", str(single), "--out", str(tmp_path / "run"), "--model", "pose", "--second-person",
                 *TINY]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(single) in error and "--max-people 2" in error
    assert main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "rgb", "--second-person",
                 *TINY]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--second-person" in error and "pose or fusion" in error
    assert not (tmp_path / "run").exists()
