"""Locomotion classes with known truth: Walk, Jog and Run cross the frame at their speeds, and
pose features that keep speed and place (FeatureConfig.locomotion) tell them apart where the
body-invariant features cannot: at other frame rates and clip lengths, with the pose found in
few frames, as MediaPipe finds people walking through real footage."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd

from pose_action import cli
from pose_action.features import LOCOMOTION_CHANNELS, FeatureConfig, build_features, load_clip_sequence
from pose_action.landmarks import INDEX, X
from pose_action.layout import FeaturesLayout
from pose_action.synth import dataset as synth
from pose_action.synth.motions import ACTION_TABLE, ACTIONS, LOCOMOTION

from conftest import REPO

HIPS = [INDEX["left_hip"], INDEX["right_hip"]]


def _speed_in_heights(joints: np.ndarray, fps: float, size: tuple[int, int], action: str, actor: int,
                      clip: int) -> float:
    """Body heights per second the drawn hips move across the frame (while in it)."""
    width, height = size
    seen = np.flatnonzero(np.isfinite(joints[:, HIPS, X]).all(axis=1))
    hip_x = joints[seen][:, HIPS, X].mean(axis=1) * width
    plan = synth.plan_clip(action, actor=actor, clip=clip, seed=0, size=size)
    pixels_per_height = plan.view.scale * plan.actor.body.standing_height()
    slope = np.polyfit(seen / fps, hip_x, 1)[0]
    return abs(slope) / pixels_per_height


def test_locomotion_classes_cross_the_frame_at_their_speeds():
    size, fps = (160, 120), 12.5
    speeds: dict[str, list[float]] = {name: [] for name in LOCOMOTION}
    left_frame = 0
    for action in LOCOMOTION:
        for actor in range(4):
            frames, joints = synth.render_frames(action, actor=actor, clip=0, size=size, fps=fps, seconds=2.0)
            assert len(frames) == 25 and frames[0].shape == (120, 160, 3)
            shown = np.isfinite(joints[:, HIPS, X]).all(axis=1)
            assert shown.sum() >= 3  # in frame for a while
            left_frame += int(not shown.all())
            speeds[action].append(_speed_in_heights(joints, fps, size, action, actor, 0))
    # walk < jog < run for every performer: speed is the truth the classes carry
    assert max(speeds["Walk"]) < min(speeds["Jog"]) and max(speeds["Jog"]) < min(speeds["Run"])
    assert 0.5 < np.mean(speeds["Walk"]) < 1.1 and 2.0 < np.mean(speeds["Run"]) < 3.6
    assert left_frame >= 4  # runners and joggers enter or leave the frame within the clip
    assert all(ACTION_TABLE[name].travel == 0 for name in ACTIONS)  # every default class stays in place


def test_locomotion_classes_are_rendered_only_when_asked_for(tmp_path, capsys):
    assert not set(LOCOMOTION) & set(ACTIONS)  # `pose-action synth` and the demo draw what they did
    out = tmp_path / "synth"
    code = cli.main(["synth", str(out), "--classes", "Run", "Wave", "--actors", "1", "--clips", "1",
                     "--size", "96x72", "--seconds", "0.4", "--exit", "1", "--quiet"])
    assert code == 0
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == ["Run", "Wave"]
    conditions = pd.read_csv(out / "conditions.csv").set_index("clip")
    # a crossing enters and leaves by itself: no exit walk is added to it (and none recorded)
    assert conditions.loc["Run/v_Run_g01_c01", "exit"] == 0 and conditions.loc["Wave/v_Wave_g01_c01", "exit"] == 1


# ----------------------------------------------------------------------------- end to end

def _check_script():
    spec = importlib.util.spec_from_file_location("locomotion_check", REPO / "scripts" / "locomotion_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _group_cv_accuracy(vectors: np.ndarray, labels: pd.Series, groups: pd.Series) -> float:
    """Accuracy of a linear model of each clip's mean and peak pose vector, on actors it never saw."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pooled = np.concatenate([vectors.mean(axis=1), np.abs(vectors).max(axis=1)], axis=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=3000))
    predicted = cross_val_predict(model, pooled, labels, groups=groups, cv=GroupKFold(3))
    return float((predicted == labels.to_numpy()).mean())


def test_locomotion_features_tell_jog_from_run(tmp_path):
    """Walk, Jog and Run at 10-25 fps, 2-4 s, the pose in 30-60% of frames (scripts/locomotion_check.py's
    set). Jog and Run share their gait and differ in speed: the window's speed alone tells them apart
    on actors never seen, and the locomotion channels do it far better than the body-invariant ones.
    (The script trains the real `pose` model with and without `--locomotion`; too slow for a test.)"""
    features = _check_script().locomotion_features(tmp_path / "features", actors=6, clips=2)
    manifest = pd.read_csv(features / "manifest.csv")
    layout = FeaturesLayout(features)
    config = FeatureConfig(frames=16, appearance="none", locomotion="full")
    vectors = np.stack([build_features(load_clip_sequence(layout, row.key, fps=row.fps, width=row.width,
                                                          height=row.height), config)["pose"]
                        for row in manifest.itertuples()])
    body = FeatureConfig(frames=16, appearance="none").person_dim
    assert vectors.shape[2] == body + LOCOMOTION_CHANNELS
    gaits = (manifest["label"] != "Walk").to_numpy()
    labels, groups = manifest["label"][gaits], manifest["group"][gaits]
    speed = vectors[gaits][:, :, [body + 6]]  # the window's speed
    assert _group_cv_accuracy(speed, labels, groups) >= 0.9
    with_locomotion = _group_cv_accuracy(vectors[gaits][:, :, body:], labels, groups)
    without = _group_cv_accuracy(vectors[gaits][:, :, :body], labels, groups)
    assert with_locomotion >= without + 0.15, (with_locomotion, without)
