"""The real PoseLandmarker: model lookup, offline errors, detection on real video, no TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
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


def _far_away(frame: np.ndarray, scale: float = 0.14) -> np.ndarray:
    """The frame shrunk into the lower left of a grey one of the same size: the person small and far."""
    height, width = frame.shape[:2]
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = np.full_like(frame, 90)
    out[height - small.shape[0] - 20:height - 20, 40:40 + small.shape[1]] = small
    return out


def test_zoom_finds_a_small_far_person_the_plain_landmarker_misses(shared_videos):
    video = shared_videos / "ud810_ps7" / "A1" / "PS7A1P1T1.avi"
    found = {}
    for zoom in (False, True):
        noses = []
        with pose.PoseEstimator(pose.resolve_model("lite"), zoom=zoom) as estimator:
            for _, timestamp, frame in read_frames(video, stride=4):
                points = estimator.detect(_far_away(frame), timestamp)
                if points is not None:
                    noses.append(points[0, :2] * (frame.shape[1], frame.shape[0]))
        found[zoom] = noses
    assert not found[False]  # at 14% of its size MediaPipe's detector loses the person
    assert len(found[True]) >= 15
    # ... and the zoomed poses are in whole-frame coordinates, on the shrunk person (x 40-130 px, y 373-460 px)
    x, y = np.median(found[True], axis=0)
    assert 40 < x < 130 and 373 < y < 460


def test_exposure_finds_a_person_in_a_dim_noisy_room(shared_videos):
    from pose_action.synth.conditions import Darkness, darken

    video = shared_videos / "ud810_ps7" / "A1" / "PS7A1P1T1.avi"
    room = Darkness(brightness=0.25, contrast=0.5, noise=6.0, tint=(0.75, 0.95, 1.1), noise_seed=1)
    rng = np.random.default_rng(0)
    dim = [(timestamp, darken(frame, room, rng)) for _, timestamp, frame in read_frames(video, stride=3)]
    found = {}
    for exposure in (False, True):
        with pose.PoseEstimator(pose.resolve_model("lite"), exposure=exposure) as estimator:
            found[exposure] = sum(estimator.detect(frame, timestamp) is not None for timestamp, frame in dim)
    assert found[True] >= found[False] + 3, found
    # a frame that is not underexposed is given to the landmarker as it is
    frame = next(read_frames(video))[2]
    assert pose.exposed(frame, pose.small_grey(frame)) is frame
