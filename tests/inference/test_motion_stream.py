"""The motion stream end to end by the real flow: extract --motion -> train fusion --motion (exported) and
motion; inference builds the same motion arrays as extraction's files, and the TFLite runtime answers
like Keras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pose_action.cli import main
from pose_action.extraction.motion import MOTION_DIM
from pose_action.features import clip_features, load_clip_sequence
from pose_action.inference.recognizer import Recognizer
from pose_action.inference.windows import window_features
from pose_action.layout import FeaturesLayout

TINY = ["--epochs", "2", "--frames", "8", "--param", "lstm_units=8", "--param", "pose_units=8",
        "--param", "appearance_units=8", "--param", "motion_units=8", "--param", "cnn_filters=[4,8]",
        "--param", "mix_folds=0"]  # the fusion serves its three heads in equal shares: no inner models


@pytest.fixture(scope="module")
def motion_runs(tiny, tmp_path_factory) -> dict[str, Path]:
    """A copy of tiny's videos and features to which `extract --motion` (with the demo's thumbnail settings,
    so the copy resumes) adds only the motion files, then a fusion with the motion stream and a motion-only model."""
    import shutil

    from pose_action.demo import QUICK

    base = tmp_path_factory.mktemp("motion")
    videos, features = base / "videos", base / "features"
    shutil.copytree(tiny.videos, videos)
    shutil.copytree(tiny.features, features)
    assert main(["extract", str(videos), "--out", str(features), "--motion", "--thumb-size", str(QUICK.thumb_size),
                 "--thumb-frames", str(QUICK.thumb_frames), "--workers", "1", "--quiet"]) == 0
    runs = {"videos": videos, "features": features}
    for name, extra in (("fusion", ["--motion"]), ("motion", [])):
        runs[name] = base / f"run-{name}"
        assert main(["train", str(features), "--out", str(runs[name]), "--model", name, *extra, *TINY,
                     "--quiet"]) == 0
    assert main(["export", str(runs["fusion"]), "--format", "tflite"]) == 0  # all three streams (the motion
    return runs  # model's layers are the fusion's motion branch and head: test_models rebuilds it statically)


def test_runs_record_the_motion_stream(motion_runs):
    fusion = json.loads((motion_runs["fusion"] / "config.json").read_text())
    assert fusion["features"]["motion"] is True
    assert fusion["model"]["inputs"] == ["pose", "mask", "frames", "motion"]
    motion = json.loads((motion_runs["motion"] / "config.json").read_text())
    assert motion["model"]["inputs"] == ["motion", "mask"] and motion["features"]["appearance"] == "none"


@pytest.mark.parametrize("name", ["fusion", "motion"])
def test_inference_builds_the_motion_arrays_of_extraction(motion_runs, name):
    clip = sorted((motion_runs["videos"] / "Wave").glob("*.mp4"))[0]
    with Recognizer.load(motion_runs[name], "keras") as recognizer:
        records, info = recognizer.extract_video(clip)
        live = window_features(records, recognizer.config, fps=info.fps, width=info.width, height=info.height)
        layout, key = FeaturesLayout(motion_runs["features"]), f"Wave/{clip.stem}"
        extracted = clip_features(layout, key, recognizer.features,
                                  load_clip_sequence(layout, key, fps=info.fps, width=info.width, height=info.height))
    assert "motion" in live and sorted(live) == sorted(extracted)
    for array in extracted:
        np.testing.assert_array_equal(live[array], extracted[array], err_msg=array)
    assert live["motion"].shape == (8, MOTION_DIM) and np.abs(live["motion"]).max() > 0.1  # a waving figure moves


def test_tflite_runtime_answers_like_keras(motion_runs, name="fusion"):
    clip = sorted((motion_runs["videos"] / "JumpingJack").glob("*.mp4"))[0]
    answers = {}
    for backend in ("keras", "tflite"):
        with Recognizer.load(motion_runs[name], backend) as recognizer:
            answers[backend] = recognizer.predict_video(clip, step=3)
    keras_raw = np.array([p.raw for p in answers["keras"].timeline])
    lite_raw = np.array([p.raw for p in answers["tflite"].timeline])
    assert keras_raw.shape == lite_raw.shape and len(keras_raw) >= 1
    np.testing.assert_allclose(lite_raw, keras_raw, atol=1e-4)


def test_motion_needs_motion_files(motion_runs, tmp_path, capsys):
    """A folder without motion files: one line saying how to add them, exit 2."""
    import shutil

    features = tmp_path / "features"
    shutil.copytree(motion_runs["features"], features)
    shutil.rmtree(features / "motion")
    assert main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "motion", *TINY]) == 2
    assert "missing motion file" in capsys.readouterr().err
    assert main(["train", str(features), "--out", str(tmp_path / "run"), "--model", "pose", "--motion"]) == 2
    assert "no motion stream" in capsys.readouterr().err
