"""`train --tensorboard DIR`: the logs a Keras user opens in TensorBoard."""

from __future__ import annotations

import pytest

from pose_action import cli

from features_fixture import make_features

TINY = ["--model", "pose", "--epochs", "1", "--frames", "6", "--batch-size", "8", "--param", "lstm_units=8",
        "--param", "pose_units=8", "--quiet"]


def _tags(folder) -> set[str]:
    """The summary tags of every event file in `folder`."""
    import tensorflow as tf

    return {value.tag for path in folder.glob("events.out.tfevents.*")
            for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tensorboard_logs_epochs_and_the_validation_confusion_matrix(tmp_path, capsys):
    features = make_features(tmp_path / "features", groups=5, clips=2, frames=16, thumb_size=16)
    logs = tmp_path / "logs"
    assert cli.main(["train", str(features), "--out", str(tmp_path / "run"), "--val-fraction", "0.3",
                     "--tensorboard", str(logs), *TINY]) == 0
    assert "epoch_loss" in _tags(logs / "train")
    assert {"epoch_loss", "confusion_matrix"} <= _tags(logs / "validation")

    # without a validation set: the epochs still, no confusion matrix (as --help says)
    alone = tmp_path / "alone"
    assert cli.main(["train", str(features), "--out", str(tmp_path / "run2"), "--tensorboard", str(alone), *TINY]) == 0
    assert "epoch_loss" in _tags(alone / "train")
    assert not (alone / "validation").exists()


def test_tensorboard_inside_the_features_is_refused(tmp_path, capsys):
    features = make_features(tmp_path / "features", groups=2, clips=1, frames=10, thumb_size=16)
    code = cli.main(["train", str(features), "--out", str(tmp_path / "run"), "--tensorboard",
                     str(features / "logs"), *TINY])
    assert code == 2 and "--tensorboard" in capsys.readouterr().err
    assert not (features / "logs").exists() and not (tmp_path / "run").exists()
