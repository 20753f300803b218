"""Synthetic actors: the real pose model finds them where they are drawn; the dataset is
UCF50-shaped, resumable and deterministic; scene pairs share their motion exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pose_action import cli
from pose_action.errors import InputError
from pose_action.extraction.discovery import discover
from pose_action.extraction.pose import PoseEstimator, resolve_model
from pose_action.landmarks import INDEX, LANDMARK_NAMES
from pose_action.synth import dataset as synth
from pose_action.synth.motions import ACTIONS, SCENE_PAIRS
from pose_action.video import probe, read_frames, timestamp_ms

SIZE = (320, 240)
BODY_JOINTS = [INDEX[f"{side}_{joint}"] for side in ("left", "right")
               for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


def test_real_pose_model_finds_every_class_where_it_is_drawn():
    """The issue's acceptance check: a pose in >= 95% of frames of every class, and detected
    shoulders, elbows, wrists, hips, knees and ankles within 5% of the frame height."""
    stride = 1
    width, height = SIZE
    report = {}
    with_model = resolve_model("lite")
    for number, action in enumerate(ACTIONS):
        # A different actor per class: more bodies, scenes and performances for the same time.
        frames, joints = synth.render_frames(action, actor=number, clip=0, seed=0, size=SIZE, seconds=1.5)
        found, errors = 0, []
        with PoseEstimator(with_model) as estimator:
            for index in range(0, len(frames), stride):
                detected = estimator.detect(frames[index], timestamp_ms(index, 25.0))
                if detected is None:
                    continue
                found += 1
                dx = (detected[BODY_JOINTS, 0] - joints[index, BODY_JOINTS, 0]) * width
                dy = (detected[BODY_JOINTS, 1] - joints[index, BODY_JOINTS, 1]) * height
                errors.append(np.hypot(dx, dy) / height)
        total = len(range(0, len(frames), stride))
        report[action] = (found / total, float(np.mean(errors)) if errors else np.inf)
    failures = {a: r for a, r in report.items() if r[0] < 0.95 or r[1] >= 0.05}
    assert not failures, f"(detected share, mean error / height) per failing class: {failures}"


def test_dataset_is_ucf50_shaped_with_ground_truth_and_resumes(tmp_path):
    out = tmp_path / "synthetic"
    classes = ["Wave", "Squat"]
    paths = synth.write_dataset(out, classes=classes, actors=2, clips=1, size=(160, 120), seconds=0.4,
                                progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in paths) == [
        "Squat/v_Squat_g01_c01.mp4", "Squat/v_Squat_g02_c01.mp4",
        "Wave/v_Wave_g01_c01.mp4", "Wave/v_Wave_g02_c01.mp4"]
    found = discover(out)  # the default UCF50 group pattern; the CSVs are not taken for videos
    assert [(item.label, item.group) for item in found.items] == [
        ("Squat", "01"), ("Squat", "02"), ("Wave", "01"), ("Wave", "02")]

    video = out / "Wave" / "v_Wave_g01_c01.mp4"
    info = probe(video)
    assert (info.width, info.height, info.fps) == (160, 120, 25.0)
    frame_count = sum(1 for _ in read_frames(video))
    table = pd.read_csv(out / "Wave" / "v_Wave_g01_c01.joints.csv")
    assert frame_count == len(table) == 10
    assert list(table.columns[:3]) == ["frame", "nose_x", "nose_y"]
    assert {f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"} <= set(table.columns)
    coordinates = table.drop(columns="frame").to_numpy()
    assert np.isfinite(coordinates).all() and (coordinates > 0).all() and (coordinates < 1).all()

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = synth.write_dataset(out, classes=classes, actors=2, clips=1, size=(160, 120), seconds=0.4,
                                progress=False)
    assert again == paths
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps  # nothing rewritten
    assert not [p for p in out.rglob(".*")]  # no temp files left behind


def test_joints_csv_is_the_rendered_ground_truth(tmp_path):
    path = synth.write_clip(tmp_path / "v_Clap_g01_c01.mp4", "Clap", actor=1, clip=2, seed=3,
                            size=(160, 120), seconds=0.5)
    _, joints = synth.render_frames("Clap", actor=1, clip=2, seed=3, size=(160, 120), seconds=0.5)
    np.testing.assert_allclose(synth.read_joints(path), joints, atol=2e-6)


def test_same_seed_same_frames_other_seed_other_frames():
    first, first_joints = synth.render_frames("JumpingJack", actor=1, clip=1, seed=7, size=(160, 120), seconds=0.3)
    second, second_joints = synth.render_frames("JumpingJack", actor=1, clip=1, seed=7, size=(160, 120), seconds=0.3)
    other, other_joints = synth.render_frames("JumpingJack", actor=1, clip=1, seed=8, size=(160, 120), seconds=0.3)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    np.testing.assert_array_equal(first_joints, second_joints)
    assert not np.array_equal(first[0], other[0])
    assert not np.allclose(first_joints, other_joints)


@pytest.mark.parametrize("pair", SCENE_PAIRS)
def test_scene_pair_shares_the_motion_but_not_the_scene(pair):
    first, second = pair
    for actor, clip in ((0, 0), (2, 1)):
        frames_a, joints_a = synth.render_frames(first, actor=actor, clip=clip, seed=5, seconds=0.8)
        frames_b, joints_b = synth.render_frames(second, actor=actor, clip=clip, seed=5, seconds=0.8)
        np.testing.assert_array_equal(joints_a, joints_b)
        # The scene differs across the whole frame, not just a few pixels.
        changed = np.mean(np.abs(frames_a[0].astype(int) - frames_b[0].astype(int)).sum(axis=2) > 60)
        assert changed > 0.3


def test_classes_move_differently():
    """Pose-only models must be able to separate the non-paired classes: their joint
    trajectories (centred on the hips) differ clearly for the same actor and clip."""
    hips = [INDEX["left_hip"], INDEX["right_hip"]]
    paired = {name for pair in SCENE_PAIRS for name in pair[1:]}
    tracks = {}
    for action in ACTIONS:
        if action in paired:
            continue
        _, joints = synth.render_frames(action, actor=0, clip=0, seed=0, seconds=2.0)
        centred = joints[:, BODY_JOINTS, :2] - joints[:, hips, :2].mean(axis=1, keepdims=True)
        tracks[action] = centred
    names = list(tracks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(tracks[a] - tracks[b]).mean() > 0.01, (a, b)


def test_mirrored_clip_is_performed_with_the_other_hand():
    plans = {clip: synth.make_performance(0, 0, clip, "wave").mirrored for clip in range(12)}
    assert set(plans.values()) == {True, False}, "some clips should be left-handed, some not"
    for clip, mirrored in plans.items():
        if clip > 5:
            break
        _, joints = synth.render_frames("Wave", actor=0, clip=clip, seed=0, size=(160, 120), seconds=0.6)
        nose_y = joints[:, INDEX["nose"], 1]
        left_up = (joints[:, INDEX["left_wrist"], 1] < nose_y).mean()
        right_up = (joints[:, INDEX["right_wrist"], 1] < nose_y).mean()
        assert (left_up, right_up) == ((1.0, 0.0) if mirrored else (0.0, 1.0))


def test_occlusion_hides_pixels_not_joints():
    clear, joints = synth.render_frames("March", actor=0, clip=0, seed=0, size=(160, 120), seconds=0.2)
    hidden, hidden_joints = synth.render_frames("March", actor=0, clip=0, seed=0, size=(160, 120),
                                                seconds=0.2, occlusion=True)
    np.testing.assert_array_equal(joints, hidden_joints)
    assert not np.array_equal(clear[0], hidden[0])


def test_figure_stays_in_frame_at_other_sizes():
    for size in ((640, 480), (240, 320)):
        for action in ("JumpingJack", "ArmsRaise", "BaseballSwing"):
            frames, joints = synth.render_frames(action, actor=3, clip=0, seed=0, size=size, seconds=2.0)
            assert frames[0].shape == (size[1], size[0], 3)
            assert (joints[..., :2] > 0).all() and (joints[..., :2] < 1).all(), (size, action)


def test_bad_requests_are_input_errors(tmp_path, capsys):
    with pytest.raises(InputError, match="unknown action 'Dance'"):
        synth.render_frames("Dance")
    with pytest.raises(InputError, match="too small"):
        synth.write_dataset(tmp_path, size=(32, 32))
    with pytest.raises(InputError, match="at least 1"):
        synth.write_dataset(tmp_path, actors=0)
    assert cli.main(["synth", str(tmp_path / "x"), "--seconds", "0"]) == 2
    assert "--seconds must be positive" in capsys.readouterr().err
    assert cli.main(["synth", str(tmp_path / "x"), "--size", "big"]) == 2  # the one --size parser, as inspect's
    assert capsys.readouterr().err.strip().splitlines() == [
        "pose-action synth: error: --size must look like 640x480, got 'big'"]


def test_cli_writes_a_small_dataset(tmp_path, capsys):
    out = tmp_path / "data"
    code = cli.main(["synth", str(out), "--classes", "Punch", "--actors", "1", "--clips", "2",
                     "--size", "160x120", "--seconds", "0.3", "--seed", "4", "--quiet"])
    assert code == 0
    assert sorted(p.name for p in (out / "Punch").iterdir()) == [
        "v_Punch_g01_c01.joints.csv", "v_Punch_g01_c01.mp4",
        "v_Punch_g01_c02.joints.csv", "v_Punch_g01_c02.mp4"]
    assert "2 clips of 1 classes" in capsys.readouterr().out


def test_extract_runs_on_synth_output_with_no_options(tmp_path):
    """`pose-action synth OUT` then `pose-action extract OUT --out FEATURES`: groups come from
    the UCF50 names and the drawn actor is found."""
    videos, features = tmp_path / "videos", tmp_path / "features"
    assert cli.main(["synth", str(videos), "--classes", "Wave", "ArmsRaise", "--actors", "2", "--clips", "1",
                     "--seconds", "0.6", "--quiet"]) == 0
    assert cli.main(["extract", str(videos), "--out", str(features), "--quiet"]) == 0
    manifest = pd.read_csv(features / "manifest.csv", dtype={"group": str})
    assert sorted(zip(manifest["label"], manifest["group"])) == [
        ("ArmsRaise", "01"), ("ArmsRaise", "02"), ("Wave", "01"), ("Wave", "02")]
    assert (manifest["status"] == "ok").all()
    assert (manifest["frames_with_pose"] >= 0.95 * manifest["frames_processed"]).all()
