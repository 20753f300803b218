"""A run trained with a background class reads an empty room as "no action", apart from actions and "unknown"."""

from __future__ import annotations

import json

import pytest

from pose_action.calibration import BACKGROUND
from pose_action.cli import main
from pose_action.files import read_json
from pose_action.synth.motions import BACKGROUND_VARIANTS, background_variant


@pytest.fixture(scope="module")
def background_run(tmp_path_factory):
    """Wave, Squat and synth's background class (every actor: idle, empty and passing), extracted and trained."""
    from pose_action.extraction.run import extract
    from pose_action.extraction.settings import make_settings
    from pose_action.synth.dataset import write_dataset
    from pose_action.training.train import TrainOptions, train_run

    base = tmp_path_factory.mktemp("background")
    write_dataset(base / "videos", classes=("Wave", "Squat", BACKGROUND), actors=3, clips=len(BACKGROUND_VARIANTS),
                  seconds=1.0, fps=10.0, progress=False)
    extract(base / "videos", base / "features", make_settings("lite", thumb_size=16, thumb_frames=12), workers=1,
            progress=False)
    # fusion_gate confidence: the learned mix (the default) fits its shares on inner folds of the
    # training actors, here one actor each at 8 epochs, whose answers are at chance, so its shares
    # would be noise; the background class is what these tests are about
    train_run(base / "features", base / "run", TrainOptions(model="fusion", epochs=15, frames=8, batch_size=8,
                                                            params={"lstm_units": 16, "pose_units": 16,
                                                                    "appearance_units": 8, "cnn_filters": [4, 8],
                                                                    "fusion_gate": "confidence"}),
              quiet=True)
    return base


def test_metrics_report_the_actions_apart_from_the_background(background_run):
    metrics = read_json(background_run / "run" / "metrics.json")
    background = metrics["background"]
    assert background["action_clips"] + background["background_clips"] == metrics["n_test"]
    assert background["background_clips"] == len(BACKGROUND_VARIANTS)  # the test actor's idle, empty, passing
    # the rates are the test clips' own: background clips called an action, action clips called right
    actions = [item for item in metrics["predictions"] if item["label"] != BACKGROUND]
    idle = [item for item in metrics["predictions"] if item["label"] == BACKGROUND]
    assert background["false_alarm_rate"] == sum(item["predicted"] != BACKGROUND for item in idle) / len(idle)
    assert background["action_accuracy"] == sum(item["predicted"] == item["label"] for item in actions) / len(actions)


def test_an_empty_room_reads_no_action(background_run, capsys):
    from pose_action.synth.dataset import write_clip

    actor, clip = 7, 0
    while background_variant(actor, clip) != "empty":
        clip += 1
    empty_room = background_run / "empty_room.mp4"
    write_clip(empty_room, BACKGROUND, actor=actor, clip=clip, seed=3, seconds=3.0, fps=25.0)
    assert main(["predict", str(background_run / "run"), str(empty_room), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["label"], answer["kind"]) == ("no action", "no_action")
    assert {item["kind"] for item in answer["timeline"]} == {"no_action"}
    assert main(["predict", str(background_run / "run"), str(empty_room)]) == 0
    assert "no action" in capsys.readouterr().out
