"""Broken feature files and failing runs: one line naming the file, exit 2, before training starts, and the
process always ends (issue 12: a truncated .npz crashed training mid-run, inf made every loss NaN, and an
evaluation that failed inside Keras left the process hanging on its loader threads)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose_action import cli
from pose_action.training.train import TrainOptions, train_run

from features_fixture import TINY_PARAMS, make_features
from features_fixture import small_features as features  # noqa: F401  (a fixture, used by the tests' arguments)

TINY = ["--frames", "6", "--batch-size", "4", "--param", "lstm_units=8", "--param", "pose_units=8",
        "--param", "appearance_units=8", "--param", "cnn_filters=[4,8]"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fusion_run(features, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "fusion"
    train_run(features, out, TrainOptions(model="fusion", frames=6, epochs=1, batch_size=4, params=TINY_PARAMS),
              quiet=True)
    return out


def _copy(features: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "features"
    shutil.copytree(features, copy)
    return copy


def _test_keys(run: Path) -> list[str]:
    return json.loads((run / "split.json").read_text())["test"]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _thumbs_of_size(path: Path, size: int) -> None:
    with np.load(path) as stored:
        frame_index, count = stored["frame_index"], len(stored["thumbs"])
    np.savez(path, thumbs=np.zeros((count, size, size, 3), np.uint8), frame_index=frame_index)


def _set_cell(path: Path, column: str, value: float) -> None:
    table = pd.read_csv(path)
    table.loc[3, column] = value
    table.to_csv(path, index=False)


BREAKAGES = {
    "truncated thumbnails": (lambda f, key: _truncate(f / "frames" / f"{key}.npz"),
                             "frames/{key}.npz: unreadable thumbs file"),
    "thumbnails of another size": (lambda f, key: _thumbs_of_size(f / "frames" / f"{key}.npz", 32),
                                   "frames/{key}.npz: thumbnails are 32x32x3 uint8 "
                                   "but the model expects 16x16x3 uint8"),
    "cut-off landmark CSV": (lambda f, key: _truncate(f / "landmarks" / f"{key}.csv"),
                             "landmarks/{key}.csv: the last row is cut off"),
    "missing landmark CSV": (lambda f, key: (f / "landmarks" / f"{key}.csv").unlink(),
                             "landmarks/{key}.csv: missing landmark CSV"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_feature_file_is_named_before_training_starts(features, tmp_path, breakage, caplog, capsys):
    broken = _copy(features, tmp_path)
    key = "Wave/v_Wave_g02_c02"  # not the first clip: every clip is checked, not only one
    damage, message = BREAKAGES[breakage]
    damage(broken, key)
    with caplog.at_level(logging.INFO):
        code = cli.main(["train", str(broken), "--out", str(tmp_path / "run"), "--model", "fusion", "--epochs", "2",
                         *TINY])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.splitlines() == [error], error
    assert message.format(key=key) in error and "Traceback" not in error
    assert "epoch 1/" not in caplog.text  # stopped before the first epoch
    assert not (tmp_path / "run").exists()


def test_a_rerun_of_extract_redoes_a_damaged_clip_instead_of_skipping_it(tmp_path):
    """The hint in the error above must be true: extract takes a truncated file as not done."""
    from pose_action.extraction.discovery import VideoItem
    from pose_action.extraction.run import _is_done
    from pose_action.extraction.settings import ExtractSettings
    from pose_action.layout import FeaturesLayout

    features = make_features(tmp_path / "features", groups=1, clips=1, frames=10, no_pose_clip=False)
    layout, key = FeaturesLayout(features), "Wave/v_Wave_g01_c01"
    settings = ExtractSettings(model_path=Path("lite.task"))
    row = {"config_id": settings.config_id, "status": "ok"}
    item = VideoItem(path=tmp_path / "v.mp4", label="Wave", group="01", key=key)
    assert _is_done(row, item, layout, settings)
    _truncate(layout.thumbnails(key))
    assert not _is_done(row, item, layout, settings)


def test_inf_in_a_landmark_csv_stops_training_with_one_line(features, tmp_path, capsys):
    broken = _copy(features, tmp_path)
    csv = broken / "landmarks" / "Wave" / "v_Wave_g01_c02.csv"
    _set_cell(csv, "left_wrist_x", float("inf"))
    code = cli.main(["train", str(broken), "--out", str(tmp_path / "run"), "--model", "pose", "--epochs", "3",
                     "--quiet", *TINY])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.splitlines() == [error], error
    assert f"{csv}: non-finite value inf in column 'left_wrist_x' (row 4)" in error
    assert not (tmp_path / "run").exists()


def test_training_stops_at_the_first_nan_loss(features, tmp_path, caplog, capsys):
    with caplog.at_level(logging.INFO):
        code = cli.main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "pose", "--epochs", "30",
                         "--param", "learning_rate=NaN", *TINY])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.splitlines() == [error], error
    assert "training stopped in epoch" in error and "the loss is nan" in error
    assert "epoch 3/30" not in caplog.text  # at once, not after every remaining epoch
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("breakage", ["inf in a test clip's CSV", "thumbnails of another size in a test clip"])
def test_a_failing_evaluation_ends_the_process(fusion_run, features, tmp_path, breakage):
    """The process must end (no loader thread left waiting) with one line and exit 2, whatever failed."""
    broken = _copy(features, tmp_path)
    key = _test_keys(fusion_run)[2]  # the third batch: Keras has read the first two for their shapes, and
    # the loaders have later batches queued when it fails (the case that hung)
    if breakage.startswith("inf"):
        _set_cell(broken / "landmarks" / f"{key}.csv", "nose_y", float("inf"))
    else:
        _thumbs_of_size(broken / "frames" / f"{key}.npz", 32)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [sys.executable, "-m", "pose_action", "evaluate", str(fusion_run), "--features", str(broken),
         "--batch-size", "1"], capture_output=True, text=True, timeout=90, env=env)
    assert completed.returncode == 2, completed.stderr[-3000:]
    lines = completed.stderr.strip().splitlines()
    assert "Traceback" not in completed.stderr and lines[-1].startswith("pose-action evaluate: error: ")
    assert key in lines[-1]
