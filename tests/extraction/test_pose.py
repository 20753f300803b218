"""The real PoseLandmarker: model lookup, offline errors, detection on real video, no TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pose_action.errors import InputError
from pose_action.extraction import pose
from pose_action.video import read_frames


def test_lite_model_is_vendored():
    path = pose.resolve_model("lite")
    assert path.is_file() and path.stat().st_size > 5_000_000


def test_full_model_from_model_dir(monkeypatch, shared_models):
    monkeypatch.setenv(pose.MODEL_DIR_ENV, str(shared_models))
    assert pose.resolve_model("full") == shared_models / "pose_landmarker_full.task"


def test_offline_download_says_where_to_put_the_file(monkeypatch, tmp_path):
    monkeypatch.delenv(pose.MODEL_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # A closed port on loopback: the real download code path, failing as it does offline.
    monkeypatch.setattr(pose, "MODEL_URL", "http://127.0.0.1:9/{name}.task")
    with pytest.raises(InputError, match="put pose_landmarker_heavy.task in") as error:
        pose.resolve_model("heavy")
    assert str(tmp_path) in str(error.value)
    assert not list(tmp_path.rglob("*.part"))


def test_missing_model_path_is_input_error(tmp_path):
    with pytest.raises(InputError, match="pose model not found"):
        pose.resolve_model(str(tmp_path / "nope.task"))


def test_detects_the_person_in_a_real_video(shared_videos):
    video = shared_videos / "ud810_ps7" / "A1" / "PS7A1P1T1.avi"
    found = 0
    with pose.PoseEstimator(pose.resolve_model("lite")) as estimator:
        for _, timestamp, frame in read_frames(video, stride=10):
            points = estimator.detect(frame, timestamp)
            if points is not None:
                found += 1
                assert points.shape == (33, 8)
                assert 0.0 < points[0, 0] < 1.0 and 0.0 < points[0, 1] < 1.0  # nose inside image
    assert found >= 10


def test_mediapipe_import_does_not_load_tensorflow():
    code = ("import sys; from pose_action.extraction.pose import vision; vision(); "
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
